"""Renders the Helm chart with the helm binary deploy/helm/tools.sh builds, and loads the
schemas every rendered object is checked against (no cluster needed)."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# libyaml when present: the national rendering is some 20,000 lines.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "doithoai"
TOOLS = Path(os.environ.get("DOITHOAI_VAR", ROOT / "var")) / "tools"
HELM = TOOLS / "bin" / "helm"
CRDS = TOOLS / "crds"
KUBE_VERSION = "1.33.0"
TEST_SECRETS = CHART / "ci" / "test-secrets.yaml"

# Every values file of the chart, each rendered with the stand-in secrets.
VALUES = {
    "default": [],
    "ninhbinh": [CHART / "values-ninhbinh.yaml"],
    "national": [CHART / "values-national.yaml"],
}


class HelmError(RuntimeError):
    pass


def helm(*args: str) -> str:
    if not HELM.exists():
        raise HelmError(f"{HELM} is missing: run deploy/helm/tools.sh (make test-deploy does)")
    done = subprocess.run([str(HELM), *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise HelmError(done.stderr.strip() or done.stdout.strip())
    return done.stdout


def template_text(files: list[Path] | tuple[Path, ...] = (), sets: tuple[str, ...] = (),
                  secrets: bool = True) -> str:
    args = ["template", "doithoai", str(CHART), "--kube-version", KUBE_VERSION]
    for f in ([TEST_SECRETS] if secrets else []) + list(files):
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    return helm(*args)


def template(files: list[Path] | tuple[Path, ...] = (), sets: tuple[str, ...] = (),
             secrets: bool = True) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(template_text(files, sets, secrets), Loader=LOADER) if d]


@functools.cache
def rendered_text(name: str) -> str:
    return template_text(VALUES[name])


@functools.cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.load_all(rendered_text(name), Loader=LOADER) if d)


def of_kind(objects, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload."""
    for o in objects:
        spec = o.get("spec", {})
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield o["metadata"]["name"], spec["template"]["spec"]
        elif o["kind"] == "CronJob":
            yield o["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from Strimzi's and the Prometheus Operator's CRDs."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    found[(f"{group}/{version['name']}", kind)] = \
                        version["schema"]["openAPIV3Schema"]
    return found
