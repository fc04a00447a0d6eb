"""`make run`: the whole system in the foreground with one log stream; Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.auth import issue_token
from services.common.config import Settings
from services.system import SERVICES, StartError, System

DEMO_USERS = [  # as in deploy/keycloak/realm-doithoai.json
    ("vanphong.giavien", "secretariat, Xã Gia Viễn"),
    ("chutich.giavien", "host (chair), Xã Gia Viễn"),
    ("mttq.giavien", "Fatherland Front, Xã Gia Viễn"),
    ("vanphong.hoalu", "secretariat, Phường Hoa Lư"),
    ("canbo.sonnmt", "agency officer, Sở Nông nghiệp và Môi trường (so-nnmt-37)"),
    ("lanhdao.ninhbinh", "provincial leader (host), Ninh Bình"),
    ("thanhtra.ninhbinh", "auditor, Ninh Bình"),
    ("quantri", "admin, nationwide"),
]


def provider_env() -> dict[str, str]:
    """The local OpenID provider (deploy/keycloak, started by `make run`): the services
    verify its RS256 tokens and the portal signs officers in there."""
    issuer = (f"http://127.0.0.1:{os.environ.get('KEYCLOAK_PORT', '8180')}"
              "/realms/doithoai")
    return {"JWT_JWKS_URL": f"{issuer}/protocol/openid-connect/certs", "JWT_ISSUER": issuer,
            "PORTAL_OIDC_ISSUER": issuer,
            "JWT_ACCEPT_LOCAL": "1"}  # the token printed below and `make demo` keep working


def main() -> int:
    system = System(stream=sys.stdout, env={"LOG_FORMAT": "text", **provider_env()},
                    portal=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        system.check_ports()
        system.start()
        system.wait_ready()
    except StartError as exc:
        print(f"\nmake run: {exc}", file=sys.stderr)
        system.stop()
        return 1
    token = issue_token(Settings.from_env(), "demo-admin", ["admin", "secretariat"],
                        province_code="37", ttl=24 * 3600)
    lines = ["", f"Portal (citizens and officers): {system.url('portal')}/", "",
             "Demo sign-ins at the portal (password: demo):"]
    lines += [f"  {name:<18} {title}" for name, title in DEMO_USERS]
    lines += ["", "The system is up:"]
    lines += [f"  {s:<11} {system.url(s)}/api/v1/   (OpenAPI: {system.url(s)}/openapi.json)"
              for s in SERVICES]
    lines += [f"  SMS/email sink {system.url('sinks')}/messages   (SMTP on 127.0.0.1:"
              f"{system.ports['smtp']})",
              f"  Kafka        {Settings.from_env().kafka_bootstrap} (SASL SCRAM-SHA-512; each "
              "service its own principal; admin password in var/kafka/users/)",
              "", "Officer token (admin + secretariat, Ninh Bình, 24 h):", f"  {token}",
              "", "Try:  curl -H 'Authorization: Bearer <token>' "
              f"'{system.url('intake')}/api/v1/petitions?province_code=37'",
              "Seed a demo: make demo      Stop: Ctrl-C", ""]
    print("\n".join(lines), flush=True)
    while not stop.wait(1):
        dead = [p.name for p in system.procs.values() if p.popen and p.popen.poll() is not None]
        if dead:
            print(f"\nmake run: {', '.join(dead)} exited; stopping everything", file=sys.stderr)
            system.stop()
            stop_infra()
            return 1
    print("\nstopping…", flush=True)
    system.stop()
    stop_infra()
    print("stopped.")
    return 0


def stop_infra() -> None:
    """Kafka, FerretDB and PostgreSQL too, unless asked to keep them for the next run."""
    if os.environ.get("KEEP_INFRA") in ("1", "true", "yes"):
        print("Kafka, FerretDB, PostgreSQL and Keycloak keep running; make infra-down "
              "stops them")
        return
    subprocess.run([str(Path(__file__).with_name("infra.sh")), "down"], check=False)
    subprocess.run([str(Path(__file__).parent / "keycloak" / "keycloak.sh"), "down"],
                   check=False)


if __name__ == "__main__":
    sys.exit(main())
