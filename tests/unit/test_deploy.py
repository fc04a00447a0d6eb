"""docker-compose.yml cannot run here (no Docker engine); check that it is right."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from urllib.parse import urlparse

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
        if "KAFKA_BOOTSTRAP" in service.get("environment", {}) and name != "kafka-setup":
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


def test_keycloak_is_the_official_image_of_the_local_version_with_the_realm_imported():
    kc = compose()["services"]["keycloak"]
    pom = (ROOT / "deploy" / "keycloak" / "pom.xml").read_text()
    version = re.search(r"<keycloak.version>([^<]+)</keycloak.version>", pom).group(1)
    assert kc["image"] == f"quay.io/keycloak/keycloak:{version}"
    assert "--import-realm" in kc["command"] and "--health-enabled=true" in kc["command"]
    source, target, mode = kc["volumes"][0].split(":")
    assert (ROOT / source).is_file() and mode == "ro"
    assert target == "/opt/keycloak/data/import/" + Path(source).name
    realm = json.loads((ROOT / source).read_text())
    assert realm["realm"] == "doithoai"
    assert "healthcheck" in kc and kc["ports"] == ["8180:8080"]


def _env(value: str) -> str:
    """A compose value with its ${VAR:-default} read as the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_portal_reaches_the_services_and_keycloak_inside_and_browsers_outside():
    services = compose()["services"]
    portal, kc = services["portal-web"], services["keycloak"]
    env = {k: _env(str(v)) for k, v in portal["environment"].items()}
    assert env["SERVICE_NAME"] == "portal" and portal["image"] == "doithoai:latest"
    assert "services.portal.app:app" in portal["command"]
    assert portal["ports"] == ["8000:8000"] and "healthcheck" in portal
    for name in ("intake", "scheduling", "followup"):
        url = urlparse(env[f"PORTAL_{name.upper()}_URL"])
        assert url.hostname == f"{name}-web" and f"{name}-web" in portal["depends_on"]
        assert f"{url.port}" in services[f"{name}-web"]["command"][-2]  # its bind address
    # The portal asks Keycloak inside the network; browsers go to the address Keycloak
    # advertises, which the services also expect as the tokens' issuer.
    inside = urlparse(env["PORTAL_OIDC_ISSUER"])
    assert inside.hostname == "keycloak" and f"--http-port={inside.port}" in kc["command"]
    assert portal["depends_on"]["keycloak"] == {"condition": "service_healthy"}
    hostname = _env(next(c for c in kc["command"] if c.startswith("--hostname=")))
    browser = hostname.removeprefix("--hostname=")
    assert env["PORTAL_OIDC_BROWSER_URL"] == browser
    assert urlparse(browser).port == int(kc["ports"][0].split(":")[0])
    shared = {k: _env(str(v)) for k, v in compose()["x-service"]["environment"].items()}
    assert shared["JWT_ISSUER"] == f"{browser}/realms/doithoai"
    assert shared["JWT_JWKS_URL"].startswith(env["PORTAL_OIDC_ISSUER"] + "/")
    # Keycloak sends officers back to the portal's published address.
    realm = json.loads((ROOT / "deploy" / "keycloak" / "realm-doithoai.json").read_text())
    (client,) = [c for c in realm["clients"] if c["clientId"] == "doithoai-portal"]
    assert any(f"http://localhost:{portal['ports'][0].split(':')[0]}/".startswith(
        u.rstrip("*")) for u in client["redirectUris"])
    # Links in messages open the portal's tracking page.
    assert shared["NOTIFY_LOOKUP_URL"] == "http://localhost:8000/tra-cuu"


def test_the_image_carries_the_portals_assets_and_not_the_local_servers():
    text = (ROOT / "Dockerfile").read_text()
    assert "services/portal/assets/package-lock.json" in text and "npm ci" in text
    assert "--from=portal-assets /assets/node_modules ./services/portal/assets/node_modules" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"var", ".venv", "**/node_modules"} <= set(ignored)
