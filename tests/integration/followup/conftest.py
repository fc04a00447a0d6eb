"""Fixtures of the follow-up integration tests (real Kafka and FerretDB)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.common.auth import issue_token
from services.common.clock import VN_TZ, FixedClock
from services.common.events import Event, new_event
from services.followup import bootstrap
from services.followup.bootstrap import App

START = datetime(2027, 3, 1, 9, tzinfo=VN_TZ).astimezone(UTC)  # Monday 01/03/2027


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def followup(make_settings, clock) -> Iterator[App]:
    app = bootstrap.build(make_settings(service="followup"), clock)
    app.prepare()
    yield app
    app.close()


@pytest.fixture
def web(followup: App):
    flask_app = followup.web()
    flask_app.testing = True
    return flask_app.test_client()


@pytest.fixture
def token(followup: App) -> Callable[..., dict[str, str]]:
    def make(*roles: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        jwt = issue_token(followup.settings, sub or f"u-{roles[0]}", list(roles), **claims)
        return {"Authorization": f"Bearer {jwt}"}

    return make


def conclusion(agency: str = "so-xd-37", **kw: Any) -> dict[str, Any]:
    return {"conclusion_id": kw.pop("conclusion_id", f"kl-{uuid.uuid4().hex[:8]}"),
            "text": kw.pop("text", "Nâng cấp đường liên thôn Đông Chùa – Đại Hữu"),
            "responsible_agency_id": agency, "coordinating_agency_ids": [],
            "deadline": kw.pop("deadline", date(2027, 3, 31)), "working_days": None,
            "petition_ids": kw.pop("petition_ids", ["pet-1", "pet-2"]), **kw}


def concluded(dialogue_id: str | None = None, conclusions: list[dict] | None = None,
              province: str = "37", ward: str | None = "14464") -> Event:
    dialogue_id = dialogue_id or f"dl-{uuid.uuid4().hex[:8]}"
    return new_event("dialogue.concluded", dialogue_id, {
        "dialogue_id": dialogue_id,
        "locality": {"province_code": province, "ward_code": ward},
        "host": {"name": "Trần Văn Bình", "title": "Bí thư Đảng ủy xã"},
        "topic": "Giao thông nông thôn",
        "notice_number": "15-TB/ĐU",
        "issued_at": START,
        "signed_by": "Trần Văn Bình",
        "held_at": START,
        "late": False,
        "conclusions": conclusions if conclusions is not None else [conclusion()],
    }, source="scheduling")
