"""Fixtures of notify's integration tests: real Kafka, FerretDB and the local sinks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.common.auth import issue_token
from services.common.clock import VN_TZ, FixedClock
from services.common.crypto import seal
from services.common.events import Event, new_event
from services.notify import bootstrap
from services.notify.bootstrap import App
from services.notify.settings import NotifySettings
from tests.helpers import wait_for
from tests.integration.conftest_sinks import Sinks, running_sinks

# 10:00 on Tuesday 09/03/2027 in Vietnam: daytime, no quiet hours.
START = datetime(2027, 3, 9, 10, 0, tzinfo=VN_TZ).astimezone(UTC)
PHONE = "+84912345678"
EMAIL = "hoa.nguyen@example.vn"
CODE = "NB27-4K7Q2M"
PROVINCE, WARD = "37", "14464"
TOPIC = "Bồi thường, giải phóng mặt bằng dự án mở rộng Quốc lộ 38B qua xã Gia Viễn"


@pytest.fixture(scope="session")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    with running_sinks(tmp_path_factory.mktemp("notify-sinks")) as running:
        yield running


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


class Harness:
    """The notify app, its clock and sinks, and a consumer fed through real Kafka."""

    def __init__(self, app: App, clock: FixedClock, sinks: Sinks) -> None:
        self.app = app
        self.clock = clock
        self.sinks = sinks
        self.service = app.service
        self.store = app.store
        self._consumer = None
        # What the consumer sent at once (acknowledgements, one-time codes) counts as
        # sent by the next ``send()``, as if a sender had found it.
        self.sent_at_once = 0
        delivery = app.service.delivery
        send_claimed = delivery.send_claimed

        def counted(written, *, checked: bool = True) -> None:
            if checked:
                self.sent_at_once += 1
            send_claimed(written, checked=checked)

        delivery.send_claimed = counted
        app.service.notifier.send_now = counted

    @property
    def consumer(self):
        if self._consumer is None:
            self._wait_for_topics()
            # Join the group and get partitions before anything is published, so the
            # first poll does not race a rebalance. A join that has not completed after
            # 30 s (seen now and then with kafka-python against a broker that is still
            # settling its group coordinators) is abandoned and tried with a new member.
            for attempt in range(3):
                consumer = self.app.consumer()
                try:
                    wait_for(lambda c=consumer: c.poll_once(timeout_ms=100) >= 0
                             and c._consumer.assignment(), timeout=30, interval=0,
                             message="partitions assigned")
                    break
                except AssertionError:
                    consumer.close()
                    if attempt == 2:
                        raise
            self._consumer = consumer
        return self._consumer

    def _wait_for_topics(self) -> None:
        from kafka import KafkaConsumer

        from services.common.kafka import client_config
        from services.notify.handlers import TOPICS

        probe = KafkaConsumer(**client_config(self.app.settings))
        try:
            for topic in TOPICS:
                name = self.app.settings.topic_prefix + topic
                wait_for(lambda n=name: probe.partitions_for_topic(n), timeout=20,
                         message=f"metadata of {name}")
        finally:
            probe.close()

    def deliver(self, *events: Event) -> None:
        """Publish on Kafka and let notify's consumer handle every one of them."""
        stats = self.consumer.stats
        self.app.kit.bus.publish_all(events)
        target = stats.handled + stats.skipped + stats.dead_lettered + len(events)

        def done() -> bool:
            self.consumer.poll_once(timeout_ms=200)
            return stats.handled + stats.skipped + stats.dead_lettered >= target

        wait_for(done, timeout=40, interval=0, message=f"{len(events)} events handled")

    def send(self) -> int:
        """Run the sender once: how many notifications had an attempt, including those
        the consumer sent at once since the last call."""
        at_once, self.sent_at_once = self.sent_at_once, 0
        return self.app.send_due() + at_once

    def notifications(self, **query: Any) -> list[dict[str, Any]]:
        return list(self.store.notifications.find(query).sort("created_at", 1))

    def sms(self, to: str = PHONE) -> list[dict[str, Any]]:
        return self.sinks.messages("sms", to)

    def emails(self, to: str = EMAIL) -> list[dict[str, Any]]:
        return self.sinks.messages("email", to)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self.app.close()


@pytest.fixture
def notify_settings(make_settings, sinks: Sinks) -> Callable[..., NotifySettings]:
    base = make_settings(service="notify")

    def make(**overrides: Any) -> NotifySettings:
        values = dict(env="test", log_level="WARNING", service="notify",
                      topic_prefix=base.topic_prefix, db_prefix=base.db_prefix,
                      kafka_partitions=2, smtp_port=sinks.smtp_port,
                      sms_url=f"{sinks.url}/sms", esms_url=sinks.url,
                      zalo_api_url=sinks.url, zalo_oauth_url=sinks.url,
                      zalo_refresh_token=sinks.zalo_refresh_token(), retry_backoff=30.0,
                      lookup_base_url="https://doithoai.ninhbinh.gov.vn/tra-cuu",
                      sms_number="8077", hotline="0229 3871 234",
                      # the servers and Kafka principal of this test run, not the defaults
                      kafka_bootstrap=base.kafka_bootstrap, mongo_url=base.mongo_url,
                      kafka_username=base.kafka_username, kafka_password=base.kafka_password,
                      kafka_password_file=base.kafka_password_file, var_dir=base.var_dir)
        values.update(overrides)
        return NotifySettings.from_env({}, **values)

    return make


@pytest.fixture
def harness(notify_settings, clock: FixedClock, sinks: Sinks) -> Iterator[Harness]:
    sinks.clear()
    app = bootstrap.build(notify_settings(), clock)
    app.prepare()
    h = Harness(app, clock, sinks)
    yield h
    h.close()


@pytest.fixture
def web(harness: Harness):
    flask_app = harness.app.web()
    flask_app.testing = True
    return flask_app.test_client()


@pytest.fixture
def token(harness: Harness) -> Callable[..., dict[str, str]]:
    def make(*roles: str, **claims: Any) -> dict[str, str]:
        jwt = issue_token(harness.app.settings, f"u-{roles[0]}", list(roles), **claims)
        return {"Authorization": f"Bearer {jwt}"}

    return make


# ---------------------------------------------------------------- event builders


def locality() -> dict[str, Any]:
    return {"province_code": PROVINCE, "ward_code": WARD}


def contact(phone: str | None = PHONE, email: str | None = EMAIL,
            consent: bool = True, channel: str | None = None) -> dict[str, Any]:
    from services.common.config import Settings

    value = {k: v for k, v in {"full_name": "Nguyễn Thị Hoa", "phone": phone,
                                "email": email, "channel": channel}.items() if v}
    return {"contact_token": seal(Settings().contact_public_key, value),
            "masked_phone": "+8491****678" if phone else None, "masked_email": None,
            "consent_notifications": consent, "preferred_channel": channel}


def received(petition_id: str | None = None, code: str = CODE, **kw: Any) -> Event:
    petition_id = petition_id or f"pet-{uuid.uuid4().hex[:8]}"
    return new_event("petition.received", petition_id, {
        "petition_id": petition_id, "tracking_code": code, "locality": locality(),
        "kind": "feedback", "title": "Đường liên thôn Đông Chùa ngập sâu sau mưa lớn",
        "channel": "web", "received_at": kw.pop("received_at", START),
        "due_date": date(2027, 4, 20), "contact": kw.pop("contact", contact()), **kw,
    }, source="intake")


def petition_event(type_: str, petition_id: str, code: str = CODE, **data: Any) -> Event:
    return new_event(type_, petition_id, {"petition_id": petition_id, "tracking_code": code,
                                          "locality": locality(), **data}, source="intake")


def dialogue_facts(dialogue_id: str, petition_ids: list[str], starts_at: datetime,
                   **kw: Any) -> dict[str, Any]:
    return {
        "dialogue_id": dialogue_id, "kind": "thematic", "level": "commune",
        "locality": locality(), "host": {"name": "Trần Văn Hùng", "title": "Bí thư Đảng ủy xã"},
        "lead_agency_id": "ubnd-giavien", "coordinating_agency_ids": ["so-nnmt-37"],
        "format": "in_person", "venue": "Hội trường Ủy ban nhân dân xã Gia Viễn",
        "online_url": None, "starts_at": starts_at, "ends_at": starts_at + timedelta(hours=3),
        "topic": TOPIC,
        "agenda": [{"item_id": "a1", "title": "Đơn giá bồi thường đất nông nghiệp",
                    "issue_id": None, "petition_ids": petition_ids}],
        "petition_ids": petition_ids, **kw,
    }


def announced(dialogue_id: str, petition_ids: list[str], starts_at: datetime) -> Event:
    return new_event("dialogue.announced", dialogue_id, {
        **dialogue_facts(dialogue_id, petition_ids, starts_at), "announced_at": START,
    }, source="scheduling")


def commitment_facts(commitment_id: str = "cm-1", **kw: Any) -> dict[str, Any]:
    return {"commitment_id": commitment_id, "agency_id": "so-xd-37", "conclusion_id": "kl-1",
            "dialogue_id": kw.pop("dialogue_id", "dl-1"),
            "text": "Khảo sát, lập phương án nâng cấp tuyến đường liên thôn Đông Chùa – Đại Hữu.",
            "deadline": kw.pop("deadline", date(2027, 3, 31)), "locality": locality(),
            "petition_ids": ["pet-1"], **kw}


AGENCIES = {
    "ubnd-giavien": ("Ủy ban nhân dân xã Gia Viễn", "vanphong@giavien.ninhbinh.gov.vn"),
    "so-nnmt-37": ("Sở Nông nghiệp và Môi trường", "vanphong@snnmt.ninhbinh.gov.vn"),
    "so-xd-37": ("Sở Xây dựng tỉnh Ninh Bình", "vanthu@sxd.ninhbinh.gov.vn"),
}
LOCAL = {
    "host": ("Chủ tịch UBND xã Gia Viễn", "chutich@giavien.ninhbinh.gov.vn"),
    "secretariat": ("Văn phòng HĐND và UBND xã Gia Viễn", "vp@giavien.ninhbinh.gov.vn"),
    "front": ("Ủy ban MTTQ Việt Nam xã Gia Viễn", "mttq@giavien.ninhbinh.gov.vn"),
}


@pytest.fixture
def directory(web, token) -> dict[str, str]:
    """Agencies and the commune's host, secretariat and Front, entered through the API."""
    admin = token("admin")
    for agency, (name, email) in AGENCIES.items():
        resp = web.put(f"/api/v1/directory/agencies/{agency}", headers=admin,
                       json={"name": name, "email": email})
        assert resp.status_code == 200, resp.json
    for role, (name, email) in LOCAL.items():
        resp = web.put("/api/v1/directory/localities", headers=admin,
                       json={"province_code": PROVINCE, "ward_code": WARD, "role": role,
                             "name": name, "email": email})
        assert resp.status_code == 200, resp.json
    return {**{k: v[1] for k, v in AGENCIES.items()}, **{k: v[1] for k, v in LOCAL.items()}}
