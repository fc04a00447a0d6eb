"""All four services as real processes (gunicorn + worker each) with the SMTP and SMS
sinks, on free loopback ports, against the real Kafka and FerretDB."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from services.common.auth import issue_token
from services.common.clock import utcnow
from services.common.config import Settings
from services.common.kafka_security import add_agency, revoke_agency, setup, teardown
from services.system import System, free_port
from tests.helpers import drop_prefix, unique, wait_for


class SharedClock:
    """Moves the time of every running process forward (DOITHOAI_CLOCK_OFFSET_FILE)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = timedelta()
        path.write_text("0")

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
        self.path.write_text(str(self.offset.total_seconds()))
        time.sleep(0.05)  # let the file's mtime move on even on coarse clocks


class Running:
    def __init__(self, system: System, settings: Settings, clock: SharedClock) -> None:
        self.system = system
        self.settings = settings
        self.clock = clock
        self.agencies: dict[str, Settings] = {}

    def agency(self, agency_id: str) -> Settings:
        """Settings of an agency's own Kafka client (``services.cli agency add``)."""
        if agency_id not in self.agencies:
            user, password, _ = add_agency(self.settings, agency_id)
            self.agencies[agency_id] = dataclasses.replace(
                self.settings, kafka_username=user, kafka_password=password,
                kafka_password_file="")
        return self.agencies[agency_id]

    def url(self, service: str, path: str) -> str:
        return self.system.url(service) + path

    def token(self, *roles: str, **scope: str) -> dict[str, str]:
        token = issue_token(self.settings, f"e2e-{roles[0]}", list(roles), **scope)
        return {"Authorization": f"Bearer {token}"}

    def messages(self, channel: str, to: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"channel": channel, "to": to})
        response = requests.get(f"{self.system.url('sinks')}/messages?{query}", timeout=5)
        response.raise_for_status()
        return response.json()

    def wait_messages(self, channel: str, to: str, count: int = 1, timeout: float = 60,
                      containing: str | None = None) -> list[dict[str, Any]]:
        def enough():
            found = [m for m in self.messages(channel, to)
                     if containing is None or containing in (m.get("body") or "")
                     or containing in (m.get("subject") or "")]
            return found if len(found) >= count else None

        return wait_for(enough, timeout, interval=0.3,
                        message=f"{count} {channel} message(s) to {to} containing {containing!r}")


@pytest.fixture(scope="session")
def system(infra: Settings, tmp_path_factory) -> Iterator[Running]:
    prefix = unique("e")
    base = tmp_path_factory.mktemp("e2e")
    clock = SharedClock(base / "clock-offset")
    env = {
        "TOPIC_PREFIX": f"{prefix}.",
        "DB_PREFIX": f"{prefix}_",
        "DOITHOAI_CLOCK_OFFSET_FILE": str(clock.path),
        "LOG_LEVEL": "INFO",
        "KAFKA_PARTITIONS": "2",
        "FOLLOWUP_SWEEP_SECONDS": "1",
        "FOLLOWUP_AGENCY_METADATA_MAX_AGE_MS": "1000",
        "NOTIFY_QUIET_START": "00:00",
        "NOTIFY_QUIET_END": "00:00",
        "NOTIFY_RETRY_BACKOFF": "0.5",
        "NOTIFY_LEASE_SECONDS": "5",
        "INTAKE_TRENDING_THRESHOLD": "8",
    }
    ports = {name: free_port() for name in
             ("intake", "scheduling", "followup", "notify", "smtp", "sinks")}
    # The services' users exist (make infra-up); their ACLs for this run's prefix and its
    # topics are made here, as an operator would.
    setup(dataclasses.replace(infra, kafka_partitions=2), prefix=f"{prefix}.")
    system = System(ports=ports, env=env, log_dir=base / "logs", web_workers=1)
    system.start()
    try:
        system.wait_ready(timeout=120)
    except Exception:
        _dump_logs(base / "logs")
        system.stop()
        teardown(infra, f"{prefix}.")
        raise
    settings = Settings.from_env(topic_prefix=f"{prefix}.", db_prefix=f"{prefix}_")
    running = Running(system, settings, clock)
    try:
        yield running
    finally:
        system.stop()
        for agency in running.agencies:
            revoke_agency(settings, agency)
        teardown(infra, f"{prefix}.")
        _dump_logs(base / "logs", only_errors=True)
        drop_prefix(infra, prefix)


def _dump_logs(folder: Path, only_errors: bool = False) -> None:
    for path in sorted(folder.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        if only_errors:
            lines = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]
        if lines:
            print(f"----- {path.name} -----")
            print("\n".join(lines[-40:]))


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None,
         expect: int | tuple[int, ...] = (200, 201)) -> dict[str, Any]:
    response = requests.post(url, json=body, headers=headers or {}, timeout=15)
    expected = (expect,) if isinstance(expect, int) else expect
    assert response.status_code in expected, f"{url}: {response.status_code} {response.text}"
    return response.json() if response.content else {}


def get(url: str, headers: dict[str, str] | None = None, expect: int = 200) -> Any:
    response = requests.get(url, headers=headers or {}, timeout=15)
    assert response.status_code == expect, f"{url}: {response.status_code} {response.text}"
    return response.json()


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)[:2000]
