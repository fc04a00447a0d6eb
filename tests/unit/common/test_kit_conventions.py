"""The conventions the kit owns (issue #18): the scope rule for filters, the settings
extension, the page schema and the lazy producer, without servers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from marshmallow import ValidationError

from services.common.auth import OutsideScope, Principal
from services.common.clock import end_of_vn_day, start_of_vn_day
from services.common.config import ConfigError, Settings, setting
from services.common.kit import Job, Kit, LazyBus, ServiceApp
from services.common.schemas import AreaArgs, page_of, window
from services.followup.schemas import CommitmentOut


def who(*roles: str, province: str | None = "37", ward: str | None = None,
        agency: str | None = None) -> Principal:
    return Principal("u", frozenset(roles), agency_id=agency, province_code=province,
                     ward_code=ward)


def test_a_filter_inside_the_scope_passes():
    who("secretariat").check_filter("37", "14464")
    who("secretariat").check_filter(None, "14428")  # a commune of Ninh Bình
    who("host", ward="14464").check_filter("37", "14464")
    who("admin", province=None).check_filter("01", "00004")  # nationwide
    who("agency_officer", province=None, agency="so-xd-37").check_filter(
        "01", None, "so-xd-37")  # an agency's scope is the agency, in any area


@pytest.mark.parametrize("principal, province, ward, agency", [
    (who("secretariat"), "01", None, None),
    (who("secretariat"), None, "00004", None),  # Hà Nội's commune, named alone
    (who("host", ward="14464"), "37", "14428", None),
    (who("secretariat", province=None), "37", None, None),  # no scope at all
    (who("agency_officer", province=None, agency="so-xd-37"), None, None, "so-gtvt-37"),
])
def test_a_filter_outside_the_scope_is_refused_in_vietnamese(principal, province, ward,
                                                             agency):
    with pytest.raises(OutsideScope) as refused:
        principal.check_filter(province, ward, agency)
    assert refused.value.detail_vi.startswith("Bộ lọc nằm ngoài phạm vi bạn phụ trách")


@dataclass(frozen=True)
class ExtraSettings(Settings):
    service: str = setting("SERVICE_NAME", "extra", "service name")
    limit: int = setting("EXTRA_LIMIT", 5, "a limit", low=1, high=9)

    def validate(self) -> None:
        super().validate()
        if self.limit == 7:
            raise ConfigError("EXTRA_LIMIT: not 7")


def test_settings_of_extends_a_base_or_reads_the_environment():
    base = Settings.from_env({}, topic_prefix="p.", service="svc")
    extended = ExtraSettings.of(base)
    assert isinstance(extended, ExtraSettings)
    assert (extended.topic_prefix, extended.service, extended.limit) == ("p.", "svc", 5)
    assert ExtraSettings.of(extended) is extended
    assert ExtraSettings.of(base, limit=3).limit == 3
    with pytest.raises(ConfigError):
        ExtraSettings.of(base, limit=7)  # the extension is validated too


def test_one_page_schema_for_every_list():
    args = AreaArgs().load({"page": "2", "page_size": "200"})
    assert args == {"page": 2, "page_size": 200}
    for bad in ({"page_size": "201"}, {"page": "0"}, {"page": "100001"},
                {"province_code": "ab"}):
        with pytest.raises(ValidationError):
            AreaArgs().load(bad)
    schema = page_of(CommitmentOut, "CommitmentPage")
    assert schema.__name__ == "CommitmentPage"
    assert set(schema().fields) == {"items", "total", "page", "page_size"}
    assert window(list(range(45)), {"page": 3, "page_size": 20}) == {
        "items": list(range(40, 45)), "total": 45, "page": 3, "page_size": 20}


def test_the_producer_is_made_on_first_send_only():
    settings = Settings.from_env({}, kafka_bootstrap="127.0.0.1:1",
                                 kafka_security_protocol="PLAINTEXT")
    bus = LazyBus(settings)
    assert bus.topic("intake.petitions") == "intake.petitions" and not bus.started
    bus.flush()
    bus.close()  # nothing made, nothing to close
    assert not bus.started


class Demo(ServiceApp):
    TITLE = "demo"

    def __init__(self) -> None:
        self.settings = Settings.from_env({}, service="demo")
        self.kit = Kit(self.settings, "demo")
        self.ran: list[str] = []

    def jobs(self) -> list[Job]:
        return [Job("tick", 5, lambda: self.ran.append("tick"))]


def test_a_service_app_worker_runs_its_jobs_and_no_relay_without_an_outbox():
    worker = Demo().worker()
    assert worker.name == "demo"
    assert [(name, seconds) for name, seconds, _ in worker._jobs] == [("tick", 5)]


def test_a_vietnamese_day_runs_from_17_00_utc_the_day_before():
    start, end = start_of_vn_day(date(2027, 3, 1)), end_of_vn_day(date(2027, 3, 1))
    assert start.isoformat() == "2027-02-28T17:00:00+00:00"
    assert (end - start).total_seconds() == 86_399
