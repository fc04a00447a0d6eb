"""Fixtures of the scheduling integration tests: the app on real FerretDB and Kafka."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.auth import issue_token
from services.common.clock import FixedClock
from services.scheduling import bootstrap
from services.scheduling.settings import scheduling_settings

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 on 02/03/2026 in Vietnam


class Api:
    """The Flask test client with tokens for each kind of officer."""

    def __init__(self, built: bootstrap.App) -> None:
        self.built = built
        self.app = built.web()
        self.client = self.app.test_client()
        self.settings = built.settings

    def token(self, *roles: str, province: str | None = "37", ward: str | None = None,
              sub: str = "officer-1") -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(
            self.settings, sub, list(roles), province_code=province, ward_code=ward)}

    def call(self, method: str, path: str, body: Any = None, *, roles: tuple = ("secretariat",),
             headers: dict[str, str] | None = None, **scope: Any):
        if headers is None:
            headers = self.token(*roles, **scope) if roles else {}
        return self.client.open(path, method=method, json=body, headers=headers)

    def post(self, path: str, body: Any = None, **kw: Any):
        return self.call("POST", path, body if body is not None else {}, **kw)

    def get(self, path: str, **kw: Any):
        return self.call("GET", path, **kw)


def dialogue_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "kind": "periodic", "level": "commune",
        "locality": {"province_code": "37", "ward_code": "14464"},
        "host": {"name": "Nguyễn Văn An", "title": "Bí thư Đảng ủy xã"},
        "co_chairs": [{"name": "Trần Thị Bình", "title": "Chủ tịch Ủy ban MTTQ xã"},
                      {"name": "Lê Văn Cường", "title": "Chủ tịch HĐND xã"}],
        "lead_agency_id": "ubnd-14464", "coordinating_agency_ids": ["so-tnmt-37"],
        "format": "in_person", "venue": "Hội trường UBND xã Gia Viễn",
        "starts_at": (START + timedelta(days=10)).isoformat(),
        "ends_at": (START + timedelta(days=10, hours=3)).isoformat(),
        "topic": "Giải phóng mặt bằng đường ĐT477",
    }
    body.update(overrides)
    return body


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def build(make_settings: Callable[..., Any], clock: FixedClock) -> Iterator[Callable[..., Api]]:
    made: list[bootstrap.App] = []

    def make(**overrides: Any) -> Api:
        settings = scheduling_settings(make_settings(service="scheduling"), **overrides)
        built = bootstrap.build(settings, clock=clock)
        made.append(built)
        return Api(built)

    yield make
    for built in made:
        built.kit.close()


@pytest.fixture
def api(build: Callable[..., Api]) -> Api:
    return build()
