"""All four services as real processes (gunicorn + worker each) with the SMTP and SMS
sinks, on free loopback ports, against the real Kafka and FerretDB."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pymongo import MongoClient

from services.common.auth import issue_token
from services.common.config import Settings
from services.common.kafka_security import add_agency, revoke_agency
from services.system import System
from tests.helpers import SharedClock, started_system, unique, wait_drained, wait_for


class Running:
    def __init__(self, system: System, settings: Settings, clock: SharedClock,
                 prefix: str = "") -> None:
        self.system = system
        self.settings = settings
        self.clock = clock
        self.prefix = prefix
        self.agencies: dict[str, Settings] = {}

    def due_messages(self) -> int:
        """Notify's messages due now but not yet sent (or being sent)."""
        client = MongoClient(self.settings.mongo_url, tz_aware=True)
        try:
            found = client[f"{self.prefix}_notify"]["notifications"]
            return (found.count_documents({"state": "sending"})
                    + found.count_documents({"state": "pending",
                                             "due_at": {"$lte": self.clock.now()}}))
        finally:
            client.close()

    def drain(self) -> None:
        """Wait until nothing is in flight (``tests.helpers.wait_drained``)."""
        wait_drained(self.settings, self.prefix, self.due_messages)

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


# Package scope: the system stops once these tests are done, so its workers do not
# load the machine for the rest of the suite.
@pytest.fixture(scope="package")
def system(infra: Settings, tmp_path_factory) -> Iterator[Running]:
    prefix = unique("e")
    env = {"FOLLOWUP_AGENCY_METADATA_MAX_AGE_MS": "1000", "NOTIFY_RETRY_BACKOFF": "0.5",
           "NOTIFY_LEASE_SECONDS": "5"}
    with started_system(infra, prefix, tmp_path_factory.mktemp("e2e"), env=env) as (
            system, settings, clock):
        running = Running(system, settings, clock, prefix)
        try:
            yield running
        finally:
            for agency in running.agencies:
                revoke_agency(settings, agency)


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


def trending_candidate(run: Running, petition_ids: set[str], officer: dict[str, str],
                       ward: str, timeout: float = 90) -> dict[str, Any]:
    """The issue holding ``petition_ids`` once scheduling lists it as a trending agenda
    candidate of ``ward`` (events travel intake → scheduling)."""
    def found():
        page = get(run.url("scheduling", f"/api/v1/agenda-candidates?ward_code={ward}"),
                   officer)
        for item in page["items"]:
            if petition_ids <= set(item["petition_ids"]) and item["trending"]:
                return item
        return None

    return wait_for(found, timeout, interval=0.5,
                    message="the issue as a trending agenda candidate")


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)[:2000]
