"""docker-compose.yml cannot run here (no Docker engine); check that it is right."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "scheduling", "followup", "notify")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_parses_and_runs_web_and_worker_of_every_service():
    services = compose()["services"]
    for name in SERVICES:
        assert f"{name}-web" in services and f"{name}-worker" in services
        assert services[f"{name}-web"]["environment"]["SERVICE_NAME"] == name
        assert "healthcheck" in services[f"{name}-web"]
        assert "healthcheck" in services[f"{name}-worker"]


def test_every_module_named_in_a_command_exists():
    for name, service in compose()["services"].items():
        command = " ".join(service.get("command", []))
        for module in re.findall(r"services\.[a-z_.]+", command):
            module = module.split(":")[0]
            assert importlib.util.find_spec(module) is not None, f"{name}: {module} missing"
        for script in re.findall(r"deploy/[a-z_.]+\.py", command):
            assert (ROOT / script).exists(), f"{name}: {script} missing"


def test_kafka_image_matches_the_local_broker_version_and_mongo_is_a_replica_set():
    services = compose()["services"]
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert services["kafka"]["image"] == f"apache/kafka:{version}"
    # the broker of the compose file runs the local broker's template: SASL, ACLs, KRaft
    assert services["kafka"]["entrypoint"] == ["/opt/doithoai/compose-start.sh"]
    template = (ROOT / "deploy" / "kafka" / "server.properties.in").read_text()
    assert "process.roles=broker,controller" in template
    assert "allow.everyone.if.no.acl.found=false" in template
    assert "--add-scram" in (ROOT / "deploy" / "kafka" / "compose-start.sh").read_text()
    for name, service in services.items():
        if "SERVICE_NAME" in service.get("environment", {}):
            assert "kafka-setup" in service["depends_on"], name
    assert services["mongo"]["image"].startswith("mongo:8")
    assert "--replSet" in services["mongo"]["command"]


def test_published_ports_are_the_documented_ones_and_unique():
    services = compose()["services"]
    ports = {name: s["ports"][0].split(":")[0] for name, s in services.items() if "ports" in s}
    assert ports["intake-web"] == "8001" and ports["notify-web"] == "8004"
    flat = [p for s in services.values() for p in s.get("ports", [])]
    assert len(flat) == len(set(flat))


def test_dockerfile_installs_the_package_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and "USER app" in text
    assert "COPY services" in text
