"""The workloads as rendered: no container runs as root, every Secret reference resolves,
probes, PDBs, NetworkPolicies, the portal and external-MongoDB switches."""

from __future__ import annotations

import pytest

from tests.deploy.chart import VALUES, containers, of_kind, pod_specs, rendered, template

BACKEND = ("intake", "scheduling", "followup", "notify")


@pytest.mark.parametrize("name", sorted(VALUES))
def test_no_container_runs_as_root(name):
    for workload, pod in pod_specs(rendered(name)):
        pod_ctx = pod.get("securityContext", {})
        for c in containers(pod):
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            assert ctx.get("runAsNonRoot") is True, (workload, c["name"])
            assert ctx.get("runAsUser", 0) != 0, (workload, c["name"])
            assert c.get("securityContext", {}).get("allowPrivilegeEscalation") is False, \
                (workload, c["name"])
            assert "ALL" in c["securityContext"]["capabilities"]["drop"], (workload, c["name"])


def secret_refs(objects):
    """(where, secret name, key or None) of every reference to a Secret."""
    for workload, pod in pod_specs(objects):
        for c in containers(pod):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert not ref.get("optional"), (workload, env["name"])
                    yield f"{workload}/{c['name']}/{env['name']}", ref["name"], ref["key"]
            for src in c.get("envFrom", []):
                if "secretRef" in src:
                    yield f"{workload}/{c['name']}/envFrom", src["secretRef"]["name"], None
        for vol in pod.get("volumes", []):
            if "secret" in vol:
                for item in vol["secret"].get("items") or [{"key": None}]:
                    yield f"{workload}/volume {vol['name']}", vol["secret"]["secretName"], \
                        item["key"]
        for pull in pod.get("imagePullSecrets", []):
            yield f"{workload}/imagePullSecrets", pull["name"], None
    for ing in of_kind(objects, "Ingress"):
        for tls in ing["spec"].get("tls", []):
            yield f"Ingress {ing['metadata']['name']}", tls["secretName"], "tls.crt"


def provided_secrets(objects) -> dict[str, set[str] | None]:
    """Secrets the release itself brings: rendered ones (with their keys), the ones Strimzi's
    operators write for the rendered Kafka and KafkaUsers, and the TLS Secrets cert-manager
    writes for an annotated Ingress."""
    have: dict[str, set[str] | None] = {}
    for s in of_kind(objects, "Secret"):
        have[s["metadata"]["name"]] = set(s.get("stringData", {})) | set(s.get("data", {}))
    for k in of_kind(objects, "Kafka"):
        have[f"{k['metadata']['name']}-cluster-ca-cert"] = {"ca.crt", "ca.p12", "ca.password"}
    for u in of_kind(objects, "KafkaUser"):
        if u["spec"]["authentication"]["type"] == "scram-sha-512":
            have[u["metadata"]["name"]] = {"password", "sasl.jaas.config"}
    for ing in of_kind(objects, "Ingress"):
        if "cert-manager.io/cluster-issuer" in ing["metadata"].get("annotations", {}):
            for tls in ing["spec"].get("tls", []):
                have[tls["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
    return have


@pytest.mark.parametrize("variant", ["default", "ninhbinh", "national", "external-mongo"])
def test_every_secret_reference_resolves(variant):
    if variant == "external-mongo":
        objects = template(VALUES["ninhbinh"], EXTERNAL_MONGO)
    else:
        objects = rendered(variant)
    have = provided_secrets(objects)
    refs = list(secret_refs(objects))
    assert len(refs) > 20
    for where, name, key in refs:
        assert name in have, f"{where}: Secret {name} is neither rendered nor operator-made"
        if key is not None:
            assert key in have[name], f"{where}: Secret {name} has no key {key}"


def test_a_dangling_secret_reference_is_caught():
    objects = list(rendered("ninhbinh"))
    without_pii = [o for o in objects
                   if not (o["kind"] == "Secret" and o["metadata"]["name"].endswith("-pii"))]
    have = provided_secrets(without_pii)
    assert any(name not in have for _, name, _ in secret_refs(objects))


def test_only_notify_holds_the_contact_private_keys():
    for workload, pod in pod_specs(rendered("ninhbinh")):
        names = {e["name"] for c in containers(pod) for e in c.get("env", [])}
        assert ("CONTACT_PRIVATE_KEYS" in names) == ("-notify-" in workload), workload


@pytest.mark.parametrize("name", sorted(VALUES))
def test_web_and_worker_of_every_service_with_probes_resources_and_pdbs(name):
    objects = rendered(name)
    deployments = {d["metadata"]["name"].removeprefix("doithoai-"): d
                   for d in of_kind(objects, "Deployment")}
    for svc in BACKEND:
        web = deployments[f"{svc}-web"]["spec"]["template"]["spec"]["containers"][0]
        assert web["command"][-1] == f"services.{svc}.app:app"
        assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
        worker = deployments[f"{svc}-worker"]["spec"]["template"]["spec"]["containers"][0]
        assert worker["command"] == ["python", "-m", f"services.{svc}.worker"]
        assert "livenessProbe" in worker and "readinessProbe" in worker
        for c in (web, worker):
            assert c["resources"]["requests"] and c["resources"]["limits"]
    pdbs = {p["metadata"]["name"] for p in of_kind(objects, "PodDisruptionBudget")}
    for d in deployments:
        assert f"doithoai-{d}" in pdbs


def test_portal_is_rendered_only_when_enabled():
    off = rendered("default")
    assert not [o for o in off if "portal" in o["metadata"]["name"]]
    on = rendered("ninhbinh")
    kinds = {o["kind"] for o in on if "portal" in o["metadata"]["name"]}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ServiceMonitor", "NetworkPolicy", "Secret"} <= kinds
    (portal,) = [d for d in of_kind(on, "Deployment")
                 if d["metadata"]["name"].endswith("portal-web")]
    c = portal["spec"]["template"]["spec"]["containers"][0]
    assert c["ports"][0]["containerPort"] == 8000
    assert c["command"][-1] == "services.portal.app:app"


def lookup_urls(objects) -> set[str]:
    """NOTIFY_LOOKUP_URL of notify's web and worker pods."""
    return {e["value"] for d in of_kind(objects, "Deployment")
            if d["metadata"]["name"].startswith("doithoai-notify-")
            for c in d["spec"]["template"]["spec"]["containers"]
            for e in c["env"] if e["name"] == "NOTIFY_LOOKUP_URL"}


@pytest.mark.parametrize("name", ["ninhbinh", "national"])
def test_links_in_messages_open_the_portals_tracking_page(name):
    objects = rendered(name)
    (ingress,) = of_kind(objects, "Ingress")
    (portal,) = [r["host"] for r in ingress["spec"]["rules"]
                 if r["http"]["paths"][0]["backend"]["service"]["name"] == "doithoai-portal"]
    assert lookup_urls(objects) == {f"https://{portal}/tra-cuu"}


def test_without_the_portal_links_keep_to_intakes_page_and_a_value_overrides_both():
    assert lookup_urls(rendered("default")) == {"https://doithoai.example.vn/tra-cuu"}
    on = template(sets=("portal.enabled=true", "portal.publicUrl=https://cong.example.vn/"))
    assert lookup_urls(on) == {"https://cong.example.vn/tra-cuu"}
    own = template(sets=("services.notify.env.NOTIFY_LOOKUP_URL=https://x.vn/tc",))
    assert lookup_urls(own) == {"https://x.vn/tc"}


EXTERNAL_MONGO = ("mongodb.external.enabled=true", "mongodb.external.cidrs[0]=10.20.0.0/16",
                  *(f"mongodb.external.urls.{s}=mongodb+srv://{s}:pw@db.example.vn/{s}"
                    for s in BACKEND))


def test_external_mongodb_replaces_the_replica_set():
    objects = template(VALUES["ninhbinh"], EXTERNAL_MONGO)
    assert not of_kind(objects, "StatefulSet") and not of_kind(objects, "CronJob")
    for _, pod in pod_specs(objects):
        env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
        if "MONGO_URL" in env:
            assert env["MONGO_URL"]["valueFrom"]["secretKeyRef"]["name"] == "doithoai-mongo-urls"
    policy = next(p for p in of_kind(objects, "NetworkPolicy")
                  if p["metadata"]["name"] == "doithoai-intake-worker")
    assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in [t for r in policy["spec"]["egress"]
                                                      for t in r.get("to", [])]


def test_network_policies_let_a_service_reach_only_kafka_mongodb_and_dns():
    objects = rendered("ninhbinh")
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(objects, "NetworkPolicy")}
    assert policies["doithoai-default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    for svc in BACKEND:
        for role in ("web", "worker"):
            spec = policies[f"doithoai-{svc}-{role}"]
            targets = []
            for rule in spec["egress"]:
                for to in rule["to"]:
                    labels = to.get("podSelector", {}).get("matchLabels", {})
                    targets.append(labels.get("k8s-app") or labels.get("strimzi.io/kind")
                                   or labels.get("app.kubernetes.io/name"))
            assert sorted(targets) == ["Kafka", "kube-dns", "mongo"], (svc, role, targets)
            if role == "worker":
                assert spec["ingress"] == []
            else:
                assert [p["port"] for r in spec["ingress"] for p in r["ports"]] == [8000]
