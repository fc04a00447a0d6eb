"""Fixtures of the intake integration tests: an app on a fixed clock, tokens."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from services.common.auth import issue_token
from services.common.clock import FixedClock
from services.common.config import Settings
from services.intake import bootstrap
from services.intake.settings import IntakeSettings
from tests.helpers import petition_body

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam


@pytest.fixture
def intake_settings(make_settings):
    def make(**overrides) -> IntakeSettings:
        base = make_settings(service="intake")
        shared = {f.name: getattr(base, f.name) for f in fields(Settings)}
        shared["service"] = "intake"
        return IntakeSettings.from_env(**{**shared, **overrides})
    return make


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def built(intake_settings, clock):
    app = bootstrap.build(intake_settings(), clock=clock)
    app.prepare()
    yield app
    app.kit.close()


@pytest.fixture
def client(built):
    web = built.web()
    web.testing = True
    return web.test_client()


@pytest.fixture
def token(built):
    def make(*roles: str, province: str | None = "37", ward: str | None = None) -> dict:
        value = issue_token(built.settings, "officer-1", list(roles), province_code=province,
                            ward_code=ward)
        return {"Authorization": f"Bearer {value}"}
    return make


def petition(**overrides) -> dict:
    return petition_body(**overrides)


def group_now(intake, pid: str) -> str | None:
    """Group a petition as intake's consumer does on its ``petition.received``, without
    waiting for a consumer group to form; its issue id. (test_api's first test and
    test_events run the real consumer.)"""
    intake.submission.deferred.drain()  # its petition.received is out first, as in life
    doc = intake.group_petition(pid)
    return doc.get("issue_id") if doc else None
