"""Each agency reads its commitments on its own topic, agency.<id>.commitments, as its own
principal; the broker refuses it another agency's feed, and refuses it once revoked."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from services.common.config import Settings
from services.common.kafka import client_config
from services.common.kafka_security import add_agency, revoke_agency
from services.followup import domain
from tests.helpers import events_on, unique
from tests.integration.followup.conftest import concluded, conclusion

pytestmark = pytest.mark.integration


def as_agency(settings: Settings, agency: str) -> Settings:
    user, password, _ = add_agency(settings, agency)
    return dataclasses.replace(settings, kafka_username=user, kafka_password=password,
                               kafka_password_file="")


def consume(settings: Settings, agency: str, topic: str, count: int,
            timeout: float = 30) -> list[dict]:
    """Read ``topic`` in a consumer group of the agency's own (``<agency>.…``)."""
    consumer = KafkaConsumer(**client_config(settings),
                             group_id=f"{settings.topic_prefix}{agency}.feed",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             request_timeout_ms=10_000)
    try:
        consumer.subscribe([topic])
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(r.value) for r in batch)
        return found
    finally:
        consumer.close()


def start_of(settings: Settings, topic: str) -> int:
    """Where partition 0 starts: the first request a reader makes (ListOffsets), which the
    broker refuses with TOPIC_AUTHORIZATION_FAILED to a principal without Read."""
    consumer = KafkaConsumer(**client_config(settings), request_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, 0)
        return consumer.beginning_offsets([tp])[tp]
    finally:
        consumer.close()


def test_an_agency_reads_its_commitments_and_only_its_own(followup):
    prefix = followup.settings.topic_prefix
    x, y = unique("so-x-"), unique("so-y-")
    agency_x, agency_y = as_agency(followup.settings, x), as_agency(followup.settings, y)
    followup.service.on_dialogue_concluded(concluded("dl-feed", [
        conclusion(x, conclusion_id="kl-fx"), conclusion(y, conclusion_id="kl-fy")]))
    mine = domain.commitment_id("kl-fx")

    feed = consume(agency_x, x, f"{prefix}agency.{x}.commitments", 1)
    assert [(e["type"], e["subject"], e["data"]["agency_id"]) for e in feed] == [
        ("commitment.assigned", mine, x)]
    # the very envelope of followup.commitments: consumers deduplicate by the same id
    shared = {e["id"]: e for e in events_on(followup.settings, "followup.commitments",
                                             min_count=2)}
    assert shared[feed[0]["id"]] == feed[0]
    # nothing of the other agency's on this feed, nothing left in the outbox
    assert followup.store.commitments.count_documents({"outbox_pending": True}) == 0

    assert start_of(agency_x, f"{prefix}agency.{x}.commitments") == 0  # the control
    with pytest.raises(TopicAuthorizationFailedError):
        start_of(agency_x, f"{prefix}agency.{y}.commitments")
    assert [e["subject"] for e in consume(agency_y, y, f"{prefix}agency.{y}.commitments", 1)] \
        == [domain.commitment_id("kl-fy")]

    revoke_agency(followup.settings, x)
    with pytest.raises(KafkaError):  # its login is refused: no broker will talk to it
        start_of(agency_x, f"{prefix}agency.{x}.commitments")
    revoke_agency(followup.settings, y)


def test_a_reassignment_reaches_both_agencies(followup, token, web):
    prefix = followup.settings.topic_prefix
    old, new = unique("so-a-"), unique("so-b-")
    agency_old, agency_new = as_agency(followup.settings, old), as_agency(followup.settings, new)
    followup.service.on_dialogue_concluded(concluded("dl-move", [
        conclusion(old, conclusion_id="kl-move")]))
    cid = domain.commitment_id("kl-move")
    done = web.post(f"/api/v1/commitments/{cid}/reassign",
                    json={"agency_id": new, "reason": "Đúng thẩm quyền của Sở Giao thông"},
                    headers=token("secretariat", province_code="37"))
    assert done.status_code == 200, done.get_json()
    before = consume(agency_old, old, f"{prefix}agency.{old}.commitments", 2)
    assert [e["type"] for e in before] == ["commitment.assigned", "commitment.reassigned"]
    after = consume(agency_new, new, f"{prefix}agency.{new}.commitments", 1)
    assert [(e["type"], e["data"]["agency_id"], e["data"]["previous_agency_id"])
            for e in after] == [("commitment.reassigned", new, old)]
    revoke_agency(followup.settings, old)
    revoke_agency(followup.settings, new)
