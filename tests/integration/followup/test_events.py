"""dialogue.concluded in, agency reports in, commitment events out: real Kafka and FerretDB."""

from __future__ import annotations

import json
from datetime import date

from kafka import KafkaAdminClient

from services.common.contracts.followup import agency_topic
from services.common.events import new_event
from services.common.kafka import client_config
from services.followup import domain
from tests.helpers import events_on, read_topic, running, unique, wait_for
from tests.integration.followup.conftest import concluded, conclusion


def test_concluded_creates_one_commitment_per_conclusion_even_when_replayed(followup):
    agency = unique("so-")
    event = concluded(conclusions=[
        conclusion(agency, conclusion_id="kl-1", deadline=date(2027, 4, 30)),
        conclusion(agency, conclusion_id="kl-2", deadline=None, working_days=10)])
    bus = followup.kit.bus
    bus.publish(event)
    with running(followup.dialogue_consumer()) as consumer:
        wait_for(lambda: followup.store.commitments.count_documents({}) == 2,
                 message="two commitments")
        bus.publish(event)  # replayed notice
        wait_for(lambda: consumer.stats.handled == 2, message="the replay handled")
    events = events_on(followup.settings, "followup.commitments", min_count=2)
    assert len(events) == 2  # no second commitment.assigned
    docs = {d["conclusion_id"]: d for d in followup.store.commitments.find()}
    assert set(docs) == {"kl-1", "kl-2"}
    assert docs["kl-1"]["_id"] == domain.commitment_id("kl-1")
    assert docs["kl-1"]["deadline"] == "2027-04-30"
    # 10 working days after Mon 01/03/2027
    assert docs["kl-2"]["deadline"] == "2027-03-15"
    assert docs["kl-1"]["locality"] == {"province_code": "37", "ward_code": "14464"}
    assigned = [e for e in events if e["type"] == "commitment.assigned"]
    assert sorted(e["data"]["conclusion_id"] for e in assigned) == ["kl-1", "kl-2"]
    assert assigned[0]["causationid"] == event.id
    assert assigned[0]["data"]["petition_ids"] == ["pet-1", "pet-2"]
    # the agency's inbound topic was created on its first assignment
    admin = KafkaAdminClient(**client_config(followup.settings))
    try:
        assert followup.settings.topic_prefix + agency_topic(agency) in admin.list_topics()
    finally:
        admin.close()


def test_replayed_concluded_publishes_no_second_assignment(followup):
    event = concluded()
    followup.service.on_dialogue_concluded(event)
    followup.service.on_dialogue_concluded(event)
    assert followup.store.commitments.count_documents({}) == 1
    records = read_topic(followup.settings,
                         followup.settings.topic_prefix + "followup.commitments")
    assert len(records) == 1
    assert followup.store.commitments.find_one()["outbox"] == []  # published


def _report(followup, agency: str, commitment_id: str, type_: str = "progress",
            **data) -> bytes:
    if type_ == "progress":
        payload = {"commitment_id": commitment_id, "agency_id": agency,
                   "note": "Đã hoàn thành khảo sát", "percent": 30, **data}
        event = new_event("commitment.progress_reported", commitment_id, payload,
                          source=f"agency/{agency}")
    else:
        payload = {"commitment_id": commitment_id, "agency_id": agency,
                   "answer": "Đường đã được nâng cấp xong", "outcome": "resolved", **data}
        event = new_event("commitment.resolution_submitted", commitment_id, payload,
                          source=f"agency/{agency}")
    return event.to_json()


def test_agency_reports_apply_once_and_mismatches_are_dead_lettered(followup):
    agency, other = unique("so-"), unique("so-")
    followup.service.on_dialogue_concluded(concluded(conclusions=[
        conclusion(agency, conclusion_id="kl-a")]))
    followup.service.on_dialogue_concluded(concluded(conclusions=[
        conclusion(other, conclusion_id="kl-b")]))
    mine, theirs = domain.commitment_id("kl-a"), domain.commitment_id("kl-b")
    bus, prefix = followup.kit.bus, followup.settings.topic_prefix
    topic = prefix + agency_topic(agency)
    progress = _report(followup, agency, mine)
    bus.send(topic, mine, progress)
    bus.send(topic, mine, progress)  # the same report twice
    bus.send(topic, mine, _report(followup, other, mine))  # agency_id not the topic's
    bus.send(topic, theirs, _report(followup, agency, theirs))  # not assigned to this agency
    bad = json.loads(_report(followup, agency, mine))
    bad["data"]["percent"] = 130
    bus.send(topic, mine, json.dumps(bad).encode())  # fails the schema
    bus.send(topic, mine, _report(followup, agency, mine, "resolution"))
    with running(followup.agency_consumer(metadata_max_age_ms=1000)):
        wait_for(lambda: followup.store.get(mine)["status"] == "resolved", timeout=30,
                 message="resolution applied")
        dead = read_topic(followup.settings, prefix + "dlq.followup-agencies", min_count=3)
    doc = followup.store.get(mine)
    assert len(doc["progress"]) == 1 and doc["progress"][0]["by"] == f"agency:{agency}"
    assert doc["resolution"]["answer"] == "Đường đã được nâng cấp xong"
    assert len(doc["applied"]) == 2
    assert followup.store.get(theirs)["status"] == "open"
    reasons = sorted(dict(r.headers)["dlq.error"].decode() for r in dead)
    assert len(reasons) == 3
    assert any("does not match the topic" in r for r in reasons)
    assert any("not assigned to agency" in r for r in reasons)
    assert any("failed its schema" in r for r in reasons)
    out = events_on(followup.settings, "followup.commitments", min_count=4)
    mine_out = [e for e in out if e["subject"] == mine]
    assert [e["type"] for e in mine_out] == ["commitment.assigned",
                                             "commitment.progress_reported",
                                             "commitment.resolved"]
    resolved = mine_out[-1]["data"]
    assert resolved["petition_ids"] == ["pet-1", "pet-2"] and resolved["on_time"] is True


def test_new_agency_topic_is_picked_up(followup):
    prefix = followup.settings.topic_prefix
    with running(followup.agency_consumer(metadata_max_age_ms=1000)):
        agency = unique("so-")  # an agency whose topic does not exist yet
        followup.service.on_dialogue_concluded(concluded(conclusions=[
            conclusion(agency, conclusion_id="kl-new")]))
        cid = domain.commitment_id("kl-new")
        followup.kit.bus.send(prefix + agency_topic(agency), cid,
                              _report(followup, agency, cid, percent=55))
        doc = wait_for(lambda: (d := followup.store.get(cid)) and d["percent"] == 55 and d,
                       timeout=30, message="report on the new agency topic")
    assert doc["status"] == "in_progress"


def test_concluded_without_deadline_or_days_uses_default(followup):
    followup.service.on_dialogue_concluded(concluded(conclusions=[
        conclusion(conclusion_id="kl-d", deadline=None)]))
    doc = followup.store.get(domain.commitment_id("kl-d"))
    assert doc["deadline"] == "2027-04-12"  # 30 working days after 01/03/2027
    assert json.loads(json.dumps(doc["locality"]))["province_code"] == "37"


def test_relay_publishes_what_the_web_process_could_not(followup, clock):
    from services.followup.service import Followup

    # a service without immediate publishing, as if the web process crashed after its update
    svc = followup.service
    offline = Followup(svc.settings, svc.store, clock, followup.kit.audit, None,
                       svc.ensure_topics)
    offline.on_dialogue_concluded(concluded("dl-o", [conclusion(conclusion_id="kl-o")]))
    cid = domain.commitment_id("kl-o")
    clock.advance(days=45)
    assert offline.sweep() == {"approaching": 0, "overdue": 1, "escalated": 1}
    assert followup.store.get(cid)["overdue"] is True
    # the assignment is long due; the overdue notice is within the grace period the web
    # process has to publish it itself
    assert followup.outbox.relay_once() == 2  # on followup.commitments and the agency's feed
    clock.advance(seconds=5)
    assert followup.outbox.relay_once() == 4
    assert followup.outbox.relay_once() == 0
    events = events_on(followup.settings, "followup.commitments", min_count=3)
    assert sorted(e["type"] for e in events) == ["commitment.assigned", "commitment.escalated",
                                                 "commitment.overdue"]
    # the agency's feed got the very same events, once each
    feed = events_on(followup.settings, "agency.so-xd-37.commitments", min_count=3)
    assert sorted(e["id"] for e in feed) == sorted(e["id"] for e in events)
