"""Events intake consumes and publishes, through the real Kafka and FerretDB."""

from __future__ import annotations

import contextlib
from datetime import date

from services.common.crypto import public_key_of, seal
from services.common.events import new_event
from services.intake import bootstrap
from services.intake.settings import DEV_INTAKE_PRIVATE
from tests.helpers import events_on, read_topic, running, wait_for
from tests.integration.intake.conftest import group_now, petition


def submission(ref: str, **overrides) -> dict:
    body = petition()
    body.pop("petitioner")
    data = {"external_ref": ref, "source_system": "dichvucong", **body,
            "petitioner_token": seal(public_key_of(DEV_INTAKE_PRIVATE), {
                "full_name": "Trần Thị Lan", "phone": "0987654321",
                "consent_notifications": True})}
    data.update(overrides)
    return data


def test_external_submissions(built):
    bus = built.kit.bus
    settings = built.settings
    petitions = built.kit.db.petitions
    with running(built.consumer()):
        first = new_event("petition.submitted", "ref-1", submission("ref-1"), source="portal")
        resent = new_event("petition.submitted", "ref-1", submission("ref-1"), source="portal")
        plain = new_event("petition.submitted", "ref-2", submission(
            "ref-2", petitioner_token=None,
            petitioner={"phone": "0912345678", "consent_notifications": True}), source="portal")
        invalid = new_event("petition.submitted", "ref-3", submission(
            "ref-3", locality={"province_code": "99"}), source="portal")
        for event in (first, first, resent, plain, invalid):
            bus.publish(event)
        bus.send(bus.topic("intake.submissions"), "junk", b"{not json")
        wait_for(lambda: petitions.count_documents({}) == 2, message="two petitions")
        dead = read_topic(settings, settings.topic_prefix + "dlq.intake", min_count=2)
        # the same consumer then groups them, from their petition.received
        wait_for(lambda: petitions.count_documents({"issue_id": None}) == 0, timeout=60,
                 message="both petitions grouped")
    assert petitions.count_documents({"external_ref": "ref-1"}) == 1
    doc = petitions.find_one({"external_ref": "ref-1"})
    assert doc["channel"] == "external" and doc["source_system"] == "dichvucong"
    assert doc["issue_id"]
    headers = [dict(r.headers) for r in dead]
    assert all(h["dlq.topic"].decode().endswith("intake.submissions") for h in headers)
    assert any(b"locality" in h["dlq.error"] or b"province" in h["dlq.error"] for h in headers)
    assert all("dlq.offset" in h and "dlq.partition" in h for h in headers)
    received = [e for e in events_on(settings, "intake.petitions", min_count=4)
                if e["type"] == "petition.received"]
    assert sorted(e["data"]["external_ref"] for e in received) == ["ref-1", "ref-2"]
    assert all(e["data"]["source_system"] == "dichvucong" for e in received)
    assert "987654321" not in str(received)


def commitment(type_: str, petition_ids: list[str], **extra):
    data = {"commitment_id": "c-1", "agency_id": "so-xd-37", "conclusion_id": "k-1",
            "dialogue_id": "d-1", "text": "Nạo vét cống", "deadline": date(2026, 4, 30),
            "locality": {"province_code": "37", "ward_code": "14464"},
            "petition_ids": petition_ids, **extra}
    return new_event(type_, "c-1", data, source="followup")


def test_commitment_lifecycle_and_replays(built, client, clock):
    ids = [client.post("/api/v1/petitions", json=petition()).json["id"] for _ in range(3)]
    last = ids.pop()
    petitions = built.kit.db.petitions
    bus = built.kit.bus
    with running(built.consumer()):
        assigned = commitment("commitment.assigned", [*ids, "unknown"])
        resolved = commitment("commitment.resolved", ids, answer="Đã nạo vét xong cống.",
                              outcome="resolved", resolved_at=clock(), on_time=True)
        bus.publish(assigned)
        bus.publish(assigned)
        wait_for(lambda: petitions.count_documents({"status": "assigned"}) == 2,
                 message="assigned")
        bus.publish(resolved)
        bus.publish(resolved)  # a replay must not answer twice
        wait_for(lambda: petitions.count_documents({"status": "answered"}) == 2,
                 message="answered")
        reopened = commitment("commitment.reopened", ids[:1], note="Mặt trận đánh giá chưa đạt")
        bus.publish(reopened)
        bus.publish(resolved)  # a late replay after the reopening changes nothing
        bus.publish(reopened)
        wait_for(lambda: petitions.find_one({"_id": ids[0]})["status"] == "assigned",
                 message="back in progress")
        # Same key, same partition: once this one is handled, so are all before it.
        bus.publish(commitment("commitment.assigned", [last]))
        wait_for(lambda: petitions.find_one({"_id": last})["status"] == "assigned",
                 message="marker handled")
    envelopes = events_on(built.settings, "intake.petitions", min_count=6 + 3 + 2 + 1)
    found = [e["type"] for e in envelopes]
    assert found.count("petition.assigned") == 3
    assert found.count("petition.answered") == 2
    assert found.count("petition.reopened") == 1
    answered = [e for e in envelopes if e["type"] == "petition.answered"]
    assert answered[0]["data"]["answer"] == "Đã nạo vét xong cống."
    assert answered[0]["data"]["contact"]["contact_token"]
    assert petitions.find_one({"_id": ids[1]})["status"] == "answered"
    view = client.get(f"/api/v1/petitions/{petitions.find_one({'_id': ids[1]})['tracking_code']}"
                      "?phone_last4=5678").json
    assert view["answer"]["text"] == "Đã nạo vét xong cống."


def test_trending_once_per_crossing(intake_settings, clock):
    app = bootstrap.build(intake_settings(trending_threshold=8), clock=clock)
    client = app.web().test_client()
    phones = iter(f"09123456{n:02d}" for n in range(10, 99))

    def send():
        body = petition(petitioner={"phone": next(phones), "consent_notifications": True})
        created = client.post("/api/v1/petitions", json=body).json
        return {**created, "issue_id": group_now(app.intake, created["id"])}

    first = send()  # heat 1 + 1 + 2 = 4
    send()  # heat 2 + 2 + 4 = 8: crosses
    send()  # still above: no second event
    issue = app.kit.db.issues.find_one({"_id": first["issue_id"]})
    assert issue["trending"] is True and issue["petition_count"] == 3
    clock.advance(days=40)
    app.intake.sweep_trending()  # heat = 0 recent + 3 distinct: below
    assert app.kit.db.issues.find_one({"_id": first["issue_id"]})["trending"] is False
    for _ in range(3):
        assert send()["issue_id"] == first["issue_id"]
    app.intake.sweep_trending()
    events = events_on(app.settings, "intake.petitions", min_count=6 * 2 + 2)
    trending = [e for e in events if e["type"] == "issue.trending"]
    assert len(trending) == 2
    assert trending[0]["data"]["threshold"] == 8
    assert len(trending[0]["data"]["petition_ids"]) == 2
    app.kit.close()


def test_worker_relay_publishes_what_the_web_left(built, client, clock):
    created = client.post("/api/v1/petitions", json=petition()).json
    # the answer came before publishing: wait for the web process to have published
    built.intake.submission.deferred.drain()
    group_now(built.intake, created["id"])
    built.kit.db.petitions.update_one({"_id": created["id"]}, {  # as the consumer clears it
        "$set": {"outbox": []}, "$unset": {"outbox_pending": "", "outbox_since": ""}})
    # as if the web process died before publishing: stage an event by hand
    from services.common.outbox import stage

    event = new_event("petition.closed", created["id"], {
        "petition_id": created["id"], "tracking_code": created["tracking_code"],
        "locality": {"province_code": "37", "ward_code": "14464"}, "closed_at": clock()},
        source="intake")
    built.kit.db.petitions.update_one({"_id": created["id"]}, stage({}, [event], clock()))
    clock.advance(seconds=5)
    assert built.intake.outbox.relay_once() == 0  # the petitions' grace: left to the web
    clock.advance(seconds=built.settings.received_grace_seconds)
    assert built.intake.outbox.relay_once() == 1
    found = [e["type"] for e in events_on(built.settings, "intake.petitions", min_count=2)]
    assert "petition.closed" in found


def test_two_processes_share_issues(intake_settings, clock):
    """Two web workers keep their in-memory index in step through the issues collection."""
    settings = intake_settings()
    one = bootstrap.build(settings, clock=clock)
    two = bootstrap.build(settings, clock=clock)
    c1, c2 = one.web().test_client(), two.web().test_client()
    def send(client, app, **overrides):
        created = client.post("/api/v1/petitions", json=petition(**overrides)).json
        return {**created, "issue_id": group_now(app.intake, created["id"])}

    a = send(c1, one)
    b = send(c2, two, petitioner={"phone": "0987654321"})
    c = send(c1, one, petitioner={"phone": "0987654322"})
    assert a["issue_id"] == b["issue_id"] == c["issue_id"]
    issue = one.kit.db.issues.find_one({"_id": a["issue_id"]})  # the centroid is in it
    assert issue["petition_count"] == 3 and issue["centroid"]["count"] == 3
    assert issue["cv"] == 3 and sum(issue["daily"].values()) == 3
    assert issue["distinct_petitioners"] == 3
    one.kit.close()
    two.kit.close()


def test_sweep_groups_what_a_crash_left_ungrouped(built, client, clock, monkeypatch):
    intake = built.intake
    petitions = built.kit.db.petitions

    def died(*args, **kwargs):
        raise RuntimeError("the process died while grouping")

    # Stored and answered; then the grouping dies (and, say, its event is never
    # redelivered): the citizen has a tracking code, the petition no issue.
    created = client.post("/api/v1/petitions", json=petition())
    assert created.status_code == 201
    monkeypatch.setattr(intake.grouping, "group", died)
    with contextlib.suppress(RuntimeError):
        group_now(intake, created.json["id"])
    stored = petitions.find_one({"ungrouped": True})
    assert stored is not None and stored["issue_id"] is None
    monkeypatch.undo()

    assert intake.sweep_ungrouped() == 0  # young: the consumer may still be behind
    clock.advance(minutes=11)
    assert intake.sweep_ungrouped() == 1
    grouped = petitions.find_one({"_id": stored["_id"]})
    assert grouped["issue_id"] is not None and "ungrouped" not in grouped
    issue = built.kit.db.issues.find_one({"_id": grouped["issue_id"]})
    assert issue["petition_count"] == 1 and issue["distinct_petitioners"] == 1
    assert intake.sweep_ungrouped() == 0
    events = events_on(built.settings, "intake.petitions", min_count=2)
    assert [e["data"]["issue_id"] for e in events
            if e["type"] == "petition.grouped"] == [grouped["issue_id"]]

    # A petition grouped in the normal way is never taken by the sweep.
    fine = client.post("/api/v1/petitions", json=petition()).json
    group_now(intake, fine["id"])
    assert "ungrouped" not in petitions.find_one({"_id": fine["id"]})
    clock.advance(minutes=11)
    assert intake.sweep_ungrouped() == 0


def test_a_denunciation_is_never_grouped_into_an_issue(built, client, clock, token):
    """Issue 19: a denunciation (tố cáo) stays out of issues, which reach public agendas."""
    intake = built.intake
    petitions = built.kit.db.petitions
    made = client.post("/api/v1/petitions", json=petition(kind="denunciation"))
    assert made.status_code == 201
    pid = made.json["id"]
    assert group_now(intake, pid) is None  # what the consumer does with it: nothing
    doc = petitions.find_one({"_id": pid})
    assert doc["issue_id"] is None and "ungrouped" not in doc
    assert built.kit.db.issues.count_documents({}) == 0
    clock.advance(minutes=11)
    assert intake.sweep_ungrouped() == 0
    # Reclassified by an officer, it still stays out.
    moved = client.post(f"/api/v1/petitions/{pid}/reclassify", json={"category": "environment"},
                        headers=token("secretariat"))
    assert moved.status_code == 200, moved.json
    assert petitions.find_one({"_id": pid})["issue_id"] is None
    assert built.kit.db.issues.count_documents({}) == 0
    # A feedback on the same matter is grouped as usual.
    other = client.post("/api/v1/petitions", json=petition()).json
    assert group_now(intake, other["id"]) is not None
    events = events_on(built.settings, "intake.petitions", min_count=3)
    assert not [e for e in events if e["type"] == "petition.grouped"
                and e["subject"] == pid]


def test_an_issues_first_petitioner_counts_once(built, client):
    """An issue keeps its first petitioner itself (no pair is written for them): their
    next petition does not count them again; somebody else's does."""
    def send(**overrides):
        created = client.post("/api/v1/petitions", json=petition(**overrides)).json
        return group_now(built.intake, created["id"])

    first = send()
    again = send()
    other = send(petitioner={"phone": "0987654321"})
    assert first == again == other
    issue = built.kit.db.issues.find_one({"_id": first})
    assert issue["petition_count"] == 3 and issue["distinct_petitioners"] == 2
    assert built.kit.db.issue_petitioners.count_documents({"issue_id": first}) == 1


def test_centroids_kept_apart_move_into_their_issues(built, client, clock):
    """Issues stored when centroids had a collection of their own get them back at the
    next start, and a new process groups into them."""
    created = client.post("/api/v1/petitions", json=petition()).json
    issue_id = group_now(built.intake, created["id"])
    db = built.kit.db
    issue = db.issues.find_one({"_id": issue_id})
    moved = {k: issue[k] for k in ("centroid", "cv", "bucket", "slot")}
    db.issue_centroids.insert_one({"_id": issue_id, "status": "open", **moved})
    db.issues.update_one({"_id": issue_id}, {"$unset": dict.fromkeys(moved, "")})

    built.prepare()  # migrations run at every start
    upgraded = db.issues.find_one({"_id": issue_id})
    assert {k: upgraded[k] for k in moved} == moved
    assert "issue_centroids" not in db.list_collection_names()

    fresh = bootstrap.build(built.settings, clock=clock)
    try:
        like = client.post("/api/v1/petitions",
                           json=petition(petitioner={"phone": "0987654321"})).json
        built.intake.submission.deferred.drain()
        assert fresh.intake.group_petition(like["id"])["issue_id"] == issue_id
    finally:
        fresh.kit.close()
