"""A petition's ``petition.received``: published by the web process after its answer,
cleared by the grouping's own write (no write of its own), published again by the
worker's relay only when nobody cleared it within its grace (intake's consumer down)."""

from __future__ import annotations

from services.common.events import Event
from services.common.outbox import FLAG, PENDING
from tests.helpers import events_on
from tests.integration.intake.conftest import petition


def submit(built, client, **overrides) -> tuple[str, Event]:
    """A petition POSTed and published; its id and the petition.received as consumed."""
    created = client.post("/api/v1/petitions", json=petition(**overrides)).json
    built.intake.submission.deferred.drain()
    doc = built.kit.db.petitions.find_one({"_id": created["id"]})
    # published, not cleared: the grouping clears it
    assert [e["topic"] for e in doc["outbox"]] == ["intake.petitions"] and doc[FLAG]
    return created["id"], Event.from_json(doc["outbox"][0]["value"].encode())


def test_the_grouping_write_clears_the_received_entry(built, client, clock):
    pid, received = submit(built, client)
    built.intake.on_received(received)
    doc = built.kit.db.petitions.find_one({"_id": pid})
    assert doc["issue_id"] and doc["outbox"] == []
    assert FLAG not in doc and PENDING not in doc and "ungrouped" not in doc
    clock.advance(seconds=built.settings.received_grace_seconds + 1)
    assert built.intake.outbox.relay_once() == 0  # nothing to publish again


def test_a_poll_groups_at_once_and_clears_each_received(built, client):
    sent = [submit(built, client) for _ in range(3)]
    sent.append(submit(built, client, petitioner={"phone": "0987654321"}))
    events = [e for _, e in sent]
    # a duplicate in the same poll (the relay's republish, say) groups nothing twice
    built.intake.grouping.on_received_batch([*events, events[0]])
    docs = list(built.kit.db.petitions.find({"_id": {"$in": [p for p, _ in sent]}}))
    assert len(docs) == 4 and all(d["outbox"] == [] and FLAG not in d for d in docs)
    (issue_id,) = {d["issue_id"] for d in docs}
    issue = built.kit.db.issues.find_one({"_id": issue_id})
    assert issue["petition_count"] == 4 and issue["distinct_petitioners"] == 2
    grouped = [e for e in events_on(built.settings, "intake.petitions", min_count=8)
               if e["type"] == "petition.grouped"]
    assert sorted(e["subject"] for e in grouped) == sorted(p for p, _ in sent)
    built.intake.grouping.on_received_batch(events)  # the whole poll replayed: no change
    again = built.kit.db.issues.find_one({"_id": issue_id})
    assert again["petition_count"] == 4 and again["version"] == issue["version"]


def test_something_else_staged_meanwhile_stays_for_the_relay(built, client, clock):
    pid, received = submit(built, client)
    # a change staged after the POST (as by an officer) before the grouping ran
    from services.common.events import new_event
    from services.common.outbox import stage

    doc = built.kit.db.petitions.find_one({"_id": pid})
    closed = new_event("petition.closed", pid, {
        "petition_id": pid, "tracking_code": doc["tracking_code"],
        "locality": {"province_code": "37", "ward_code": "14464"}, "closed_at": clock()},
        source="intake")
    built.kit.db.petitions.update_one({"_id": pid}, stage({}, [closed], clock()))
    built.intake.on_received(received)
    doc = built.kit.db.petitions.find_one({"_id": pid})
    assert doc["issue_id"] and [e["id"] for e in doc["outbox"]] == [closed.id]
    clock.advance(seconds=built.settings.received_grace_seconds + 1)
    assert built.intake.outbox.relay_once() == 1  # the closed event, not the received


def test_the_relay_publishes_it_again_when_intakes_consumer_is_down(built, client, clock):
    pid, received = submit(built, client)
    clock.advance(seconds=60)  # a consumer lagging a minute: left to it
    assert built.intake.outbox.relay_once() == 0
    clock.advance(seconds=built.settings.received_grace_seconds)  # down: published again
    assert built.intake.outbox.relay_once() == 1
    doc = built.kit.db.petitions.find_one({"_id": pid})
    assert doc["outbox"] == [] and FLAG not in doc and doc.get("issue_id") is None
    again = [e for e in events_on(built.settings, "intake.petitions", min_count=2)
             if e["type"] == "petition.received"]
    assert [e["id"] for e in again] == [received.id, received.id]
    # the consumer back: both copies, one grouping (notify and scheduling dedupe theirs:
    # tests/integration/notify/test_petitions.py, .../scheduling/test_read_model.py)
    built.intake.on_received(received)
    built.intake.on_received(received)
    doc = built.kit.db.petitions.find_one({"_id": pid})
    issue = built.kit.db.issues.find_one({"_id": doc["issue_id"]})
    assert issue["petition_count"] == 1


def test_a_failed_publish_is_due_for_the_relay_at_once(built, client, clock, monkeypatch):
    def down(*args, **kwargs):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(built.kit.bus, "send", down)
    created = client.post("/api/v1/petitions", json=petition()).json
    built.intake.submission.deferred.drain()
    monkeypatch.undo()
    clock.advance(seconds=2)  # the usual grace, not the received one
    assert built.intake.outbox.relay_once() == 1
    found = [e for e in events_on(built.settings, "intake.petitions")
             if e["type"] == "petition.received"]
    assert [e["subject"] for e in found] == [created["id"]]


def test_the_long_grace_is_looked_at_every_twentieth_of_it(built, client, clock, monkeypatch):
    """Petitions within their grace are not read at every relay pass (one a second): a
    pass reads every flagged petition, and under load those are the last minutes'."""
    relay = built.intake.outbox
    assert relay.relay_once() == 0  # looked at: nothing due; the next look in grace / 20
    look = built.settings.received_grace_seconds / 20

    def down(*args, **kwargs):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(built.kit.bus, "send", down)
    client.post("/api/v1/petitions", json=petition())
    built.intake.submission.deferred.drain()  # fails: due for the relay at once
    monkeypatch.undo()
    clock.advance(seconds=look - 1)
    assert relay.relay_once() == 0  # not looked at yet
    clock.advance(seconds=1)
    assert relay.relay_once() == 1


class CountedWrites:
    """A collection whose insert and delete calls are recorded by name."""

    def __init__(self, real, log: list[str]) -> None:
        self.real, self.log = real, log

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if not name.startswith(("insert", "delete")):
            return attr

        def counted(*args, **kwargs):
            self.log.append(name)
            return attr(*args, **kwargs)
        return counted


def test_a_polls_petitioners_are_counted_with_one_insert(built, client, monkeypatch):
    """Joining a known issue, a poll's new petitioners are inserted together ahead of the
    issue writes; the issue's first petitioner has no pair, and one petitioner twice in
    the poll is counted once, one petition after the other."""
    first, received = submit(built, client)
    built.intake.grouping.on_received_batch([received])
    sent = [submit(built, client, phone=phone)
            for phone in ("0911000001", "0911000002", "0911000002", "0912 345 678")]
    writes: list[str] = []
    store = built.intake.grouping.store
    monkeypatch.setattr(store, "petitioners", CountedWrites(store.petitioners, writes))
    built.intake.grouping.on_received_batch([e for _, e in sent])
    # the poll's one new pair ahead; the repeated petitioner's two petitions one by one
    assert writes == ["insert_many", "insert_one", "insert_one"]
    issue_id = built.kit.db.petitions.find_one({"_id": first})["issue_id"]
    assert {built.kit.db.petitions.find_one({"_id": p})["issue_id"] for p, _ in sent} \
        == {issue_id}
    issue = built.kit.db.issues.find_one({"_id": issue_id})
    assert issue["petition_count"] == 5 and issue["distinct_petitioners"] == 3
    assert built.kit.db.issue_petitioners.count_documents({"issue_id": issue_id}) == 2


def test_a_pair_inserted_ahead_for_an_issue_not_joined_is_undone(built, client, monkeypatch):
    """The index may place a petition elsewhere by the time it is counted (another
    petition of the poll moved a centroid): the pair inserted ahead for the first issue
    is deleted and the petitioner counted where the petition went."""
    grouping = built.intake.grouping
    _, opener = submit(built, client)
    grouping.on_received_batch([opener])
    _, other = submit(built, client, title="Khói lò gạch xã Gia Viễn gây ô nhiễm",
                      content="Lò gạch thủ công đốt suốt đêm, khói đen bao trùm khu dân cư.",
                      phone="0911000009")
    grouping.on_received_batch([other])
    issues = [d["_id"] for d in built.kit.db.issues.find()]
    assert len(issues) == 2
    pid, received = submit(built, client, phone="0911000010")
    truth = grouping.clusterer.assign
    wrong = next(i for i in issues if i != truth(*grouping.bucket(
        built.kit.db.petitions.find_one({"_id": pid})), features_of(built, pid))[0])
    pair_ahead = grouping._pair_ahead

    def misled(todo):  # the index says "wrong" while pairing ahead, the truth after
        monkeypatch.setattr(grouping.clusterer, "assign", lambda *a: (wrong, 0.9))
        try:
            return pair_ahead(todo)
        finally:
            monkeypatch.setattr(grouping.clusterer, "assign", truth)

    monkeypatch.setattr(grouping, "_pair_ahead", misled)
    grouping.on_received_batch([received])
    joined = built.kit.db.petitions.find_one({"_id": pid})["issue_id"]
    assert joined != wrong
    petitioners = built.kit.db.issue_petitioners
    assert petitioners.count_documents({"issue_id": wrong}) == 0
    assert petitioners.count_documents({"issue_id": joined}) == 1
    assert built.kit.db.issues.find_one({"_id": wrong})["distinct_petitioners"] == 1
    assert built.kit.db.issues.find_one({"_id": joined})["distinct_petitioners"] == 2


def features_of(built, pid: str) -> dict[str, float]:
    from services.intake.features import features

    doc = built.kit.db.petitions.find_one({"_id": pid})
    return features(doc["title"], doc["content"])
