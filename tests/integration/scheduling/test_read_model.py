"""The agenda-candidate read model fed by intake's events: replays and disorder are harmless."""

from __future__ import annotations

import threading
from typing import Any

from pymongo import MongoClient, monitoring

from services.common.events import Event, new_event
from services.scheduling.agenda import AgendaModel
from services.scheduling.store import Store
from tests.helpers import running, wait_for
from tests.integration.scheduling.conftest import START, dialogue_body

GIA_VIEN = {"province_code": "37", "ward_code": "14464"}
C = "/api/v1/agenda-candidates"


def grouped(petition: str, issue: str, version: int, *, heat: float, count: int,
            title: str = "Ngập úng đường thôn Đông") -> Event:
    return new_event("petition.grouped", petition, {
        "petition_id": petition, "tracking_code": f"GV-{petition}", "locality": GIA_VIEN,
        "category": "infrastructure", "issue_id": issue, "issue_title": title,
        "issue_version": version, "petition_count": count, "distinct_petitioners": count,
        "heat": heat}, source="intake")


def status(type_: str, petition: str, issue: str, **extra: Any) -> Event:
    data = {"petition_id": petition, "tracking_code": f"GV-{petition}", "locality": GIA_VIEN,
            "issue_id": issue, **extra}
    return new_event(type_, petition, data, source="intake")


def closed(petition: str, issue: str) -> Event:
    return status("petition.closed", petition, issue, closed_at=START)


def merged(into: str, gone: str, petitions: list[str], version: int, heat: float) -> Event:
    return new_event("issue.merged", into, {
        "issue_id": into, "merged_issue_id": gone, "petition_ids": petitions,
        "locality": GIA_VIEN, "category": "infrastructure", "title": "Ngập úng thôn Đông",
        "petition_count": len(petitions), "distinct_petitioners": len(petitions), "heat": heat,
        "issue_version": version}, source="intake")


def trending(issue: str, petitions: list[str], version: int, heat: float) -> Event:
    return new_event("issue.trending", issue, {
        "issue_id": issue, "title": "Ô nhiễm khói lò gạch", "category": "environment",
        "locality": GIA_VIEN, "heat": heat, "threshold": 5.0, "petition_count": len(petitions),
        "distinct_petitioners": len(petitions), "petition_ids": petitions,
        "issue_version": version}, source="intake")


def candidates(api, **scope):
    r = api.get(f"{C}?ward_code=14464", **scope)
    assert r.status_code == 200, r.json
    return {c["issue_id"]: c for c in r.json["items"]}, [c["issue_id"] for c in r.json["items"]]


def test_consumed_from_kafka_replayed_and_out_of_order(api):
    events = [grouped("p1", "iss-a", 1, heat=1.0, count=1),
              grouped("p2", "iss-a", 3, heat=3.5, count=3, title="Ngập úng kéo dài thôn Đông"),
              grouped("p3", "iss-a", 2, heat=2.0, count=2),  # older snapshot, arrives late
              grouped("p9", "iss-b", 1, heat=9.0, count=1, title="Khói lò gạch")]
    events.append(events[1])  # a replay of the same record
    events.append(closed("p9", "iss-b"))
    bus = api.built.kit.bus
    bus.publish_all(events)
    with running(api.built.consumer()) as consumer:
        wait_for(lambda: consumer.stats.handled >= len(events), timeout=60,
                 message="all intake events handled")
    found, order = candidates(api)
    assert order == ["iss-a"]  # iss-b has no open petition left
    a = found["iss-a"]
    assert a["issue_version"] == 3 and a["heat"] == 3.5
    assert a["title"] == "Ngập úng kéo dài thôn Đông"
    assert a["petition_ids"] == ["p1", "p2", "p3"] and a["open_petition_count"] == 3


def test_handlers_are_idempotent_and_order_free(api):
    svc = api.built.service
    handlers = api.built.handlers
    sequence = [grouped("p1", "iss-a", 1, heat=1.0, count=1),
                grouped("p2", "iss-a", 2, heat=2.0, count=2),
                grouped("p5", "iss-c", 1, heat=8.0, count=1, title="Lò gạch"),
                trending("iss-t", ["p6", "p7"], 4, heat=6.0),
                closed("p2", "iss-a"),
                status("petition.withdrawn", "p7", "iss-t")]
    for event in sequence + list(reversed(sequence)) + sequence:
        handlers[event.type](event)
    found, order = candidates(api)
    assert order == ["iss-c", "iss-t", "iss-a"]  # by heat
    assert found["iss-a"]["petition_ids"] == ["p1"] and found["iss-a"]["petition_count"] == 2
    assert found["iss-t"]["trending"] is True and found["iss-t"]["petition_ids"] == ["p6"]

    # a reopened petition counts again; a rejected one does not
    handlers["petition.reopened"](status("petition.reopened", "p2", "iss-a",
                                         reason="Chưa được giải quyết"))
    handlers["petition.rejected"](status("petition.rejected", "p5", "iss-c",
                                         reason="Không thuộc thẩm quyền",
                                         contact={"consent_notifications": False}))
    found, order = candidates(api)
    assert found["iss-a"]["petition_ids"] == ["p1", "p2"]
    assert "iss-c" not in found

    # a merge hides the merged issue and moves its open petitions; replaying it is harmless
    merge = merged("iss-a", "iss-t", ["p1", "p2", "p6", "p7"], 5, heat=7.5)
    for _ in range(2):
        handlers["issue.merged"](merge)
    # an old snapshot of the merged issue arriving late does not bring it back
    handlers["petition.grouped"](grouped("p8", "iss-t", 2, heat=9.9, count=3))
    found, order = candidates(api)
    assert order == ["iss-a"]
    assert found["iss-a"]["petition_ids"] == ["p1", "p2", "p6", "p8"]
    assert found["iss-a"]["heat"] == 7.5 and found["iss-a"]["trending"] is True
    assert svc.store.issue("iss-t")["merged_into"] == "iss-a"


def test_held_agenda_leaves_the_candidates_and_suggestions(api, clock):
    h = api.built.handlers
    for event in (grouped("p1", "iss-a", 1, heat=2.0, count=1),
                  grouped("p2", "iss-b", 1, heat=5.0, count=1, title="Ô nhiễm"),
                  grouped("p3", "iss-c", 1, heat=1.0, count=1, title="Đèn đường")):
        h[event.type](event)
    d = api.post("/api/v1/dialogues", dialogue_body()).json
    r = api.post(f"/api/v1/dialogues/{d['id']}/suggest-agenda", {"limit": 2})
    assert r.status_code == 200
    assert [s["issue_id"] for s in r.json["items"]] == ["iss-b", "iss-a"]
    top = r.json["items"][0]
    api.post(f"/api/v1/dialogues/{d['id']}/agenda-items",
             {"title": top["title"], "issue_id": top["issue_id"],
              "petition_ids": top["petition_ids"]})
    r = api.post(f"/api/v1/dialogues/{d['id']}/suggest-agenda", {})
    assert [s["issue_id"] for s in r.json["items"]] == ["iss-a", "iss-c"]
    api.post(f"/api/v1/dialogues/{d['id']}/announce")
    clock.advance(days=10, hours=1)
    assert api.post(f"/api/v1/dialogues/{d['id']}/hold",
                    {"attendance": {"total": 40}}).status_code == 200
    _, order = candidates(api)
    assert order == ["iss-a", "iss-c"]


def test_candidates_need_a_locality_and_respect_scope(api):
    assert api.get(C).status_code == 422
    assert api.get(f"{C}?ward_code=99999").status_code == 422
    assert api.get(f"{C}?ward_code=14464", province="01").status_code == 403
    assert api.get(f"{C}?ward_code=14464", ward="14482").status_code == 403
    assert api.get(f"{C}?province_code=37", roles=()).status_code == 401
    assert api.get(f"{C}?province_code=37", roles=("auditor",)).status_code == 200
    assert api.get(f"{C}?province_code=37", roles=("citizen",)).status_code == 403




class Commands(monitoring.CommandListener):
    """Every command a client sends, by name and collection."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> list[tuple[str, str]]:
        seen, self.seen = self.seen, []
        return seen


def counted_model(api) -> tuple[AgendaModel, Commands]:
    """The read model over its own client, which counts what the handlers send."""
    listener = Commands()
    client = MongoClient(api.settings.mongo_url, tz_aware=True, event_listeners=[listener])
    model = AgendaModel(Store(client[api.built.kit.db.name]))
    listener.take()
    return model, listener


def test_a_petition_event_is_one_or_two_writes_and_no_read(api):
    model, commands = counted_model(api)
    model.on_grouped(grouped("p1", "iss-a", 1, heat=1.0, count=1))  # a new issue
    assert commands.take() == [("update", "petitions"), ("update", "issues")]
    model.on_grouped(grouped("p2", "iss-a", 2, heat=2.0, count=2))  # a newer snapshot
    assert commands.take() == [("update", "petitions"), ("update", "issues")]
    model.on_status(closed("p1", "iss-a"))
    assert commands.take() == [("update", "petitions")]
    # only a snapshot older than the one held reads: is the issue merged meanwhile?
    model.on_grouped(grouped("p3", "iss-a", 1, heat=1.0, count=1))
    assert [name for name, _ in commands.take()] == ["update", "update", "update", "find"]
    found, _ = candidates(api)
    assert found["iss-a"]["petition_ids"] == ["p2", "p3"] and found["iss-a"]["heat"] == 2.0
    assert "petition.received" not in api.built.handlers  # nothing an agenda shows


def test_the_status_an_event_carries_decides(api):
    h = api.built.handlers
    h["petition.grouped"](grouped("p1", "iss-a", 1, heat=1.0, count=1))
    # grouped after an officer already rejected it: intake says so in the event
    event = grouped("p2", "iss-a", 2, heat=2.0, count=2)
    event.data["status"] = "rejected"  # the contract's field, added by intake
    h["petition.grouped"](event)
    found, _ = candidates(api)
    assert found["iss-a"]["petition_ids"] == ["p1"]
    # accepted again (a status event naming its status) counts again
    event = status("petition.accepted", "p2", "iss-a", accepted_at=START)
    event.data["status"] = "accepted"  # the contract's field, added by intake
    h["petition.accepted"](event)
    found, _ = candidates(api)
    assert found["iss-a"]["petition_ids"] == ["p1", "p2"]


def test_a_petition_split_off_leaves_its_old_issue(api):
    h = api.built.handlers
    for event in (grouped("p1", "iss-a", 1, heat=1.0, count=1),
                  grouped("p2", "iss-a", 2, heat=2.0, count=2),
                  grouped("p2", "iss-b", 1, heat=1.5, count=1, title="Khói lò gạch")):
        h[event.type](event)
    found, _ = candidates(api)
    assert found["iss-a"]["petition_ids"] == ["p1"]
    assert found["iss-b"]["petition_ids"] == ["p2"]


def test_issues_stored_with_member_arrays_are_upgraded(api):
    api.built.store.issues.insert_one({
        "_id": "iss-old", "issue_version": 3, "title": "Đèn đường thôn Bắc",
        "category": "infrastructure", "locality": GIA_VIEN, "heat": 4.0, "trending": False,
        "merged_into": None, "on_held_agenda": False, "petition_count": 3,
        "distinct_petitioners": 3, "petition_ids": ["o1", "o2", "o3"],
        "open_petition_ids": ["o1", "o3"]})
    api.built.prepare()
    api.built.prepare()  # once done, nothing left to do
    found, _ = candidates(api)
    assert found["iss-old"]["petition_ids"] == ["o1", "o3"]
    assert "petition_ids" not in api.built.store.issue("iss-old")


def test_consumers_racing_on_a_new_issue_keep_the_newest_snapshot(api):
    # Several consumers (one per partition) group petitions into the same new issue at
    # once. On MongoDB the upserts that lose the insert raise E11000 and must still take
    # their snapshot if newer; the embedded server serialises updates by _id.
    handle = api.built.handlers["petition.grouped"]
    for round_ in range(2):
        issue = f"iss-race-{round_}"
        events = [grouped(f"r{round_}-{k}", issue, k + 1, heat=float(k + 1), count=k + 1)
                  for k in range(8)]
        barrier = threading.Barrier(len(events))

        def run(event: Event, barrier: threading.Barrier) -> None:
            barrier.wait()
            handle(event)

        threads = [threading.Thread(target=run, args=(e, barrier)) for e in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found, _ = candidates(api)
        assert found[issue]["issue_version"] == 8 and found[issue]["heat"] == 8.0
        assert found[issue]["open_petition_count"] == 8


def test_a_polls_grouped_events_are_two_bulk_writes(api):
    """Consecutive ``petition.grouped`` of one poll: their new petitions in one insert
    (those seen before in one update), the newest snapshot of each issue in one more
    command; the outcome is the one-by-one outcome."""
    model, commands = counted_model(api)
    model.on_grouped_many([grouped("p1", "iss-a", 1, heat=1.0, count=1),
                           grouped("p9", "iss-b", 1, heat=9.0, count=1, title="Khói lò gạch")])
    # new issues: the bulk update matches none, one read says they are new, each upserted
    assert [n for n, _ in commands.take()] == ["insert", "update", "find", "update", "update"]
    model.on_grouped_many([grouped("p2", "iss-a", 3, heat=3.5, count=3),
                           grouped("p3", "iss-a", 2, heat=2.0, count=2),  # older, same poll
                           grouped("p8", "iss-b", 2, heat=9.5, count=2, title="Khói lò gạch"),
                           grouped("p2", "iss-a", 3, heat=3.5, count=3)])  # a replay
    # p2's replay finds it inserted a moment before: updated after the insert
    assert commands.take() == [("insert", "petitions"), ("update", "petitions"),
                               ("update", "issues")]
    handlers = api.built.handlers
    handlers["issue.merged"](merged("iss-a", "iss-b", ["p1", "p2", "p3", "p8", "p9"], 4,
                                    heat=12.0))
    # a late snapshot of the merged issue sends its petition on to the surviving one
    model.on_grouped_many([grouped("p7", "iss-b", 3, heat=9.9, count=3, title="Khói lò gạch")])
    found, order = candidates(api)
    assert order == ["iss-a"] and found["iss-a"]["issue_version"] == 4
    assert found["iss-a"]["petition_ids"] == ["p1", "p2", "p3", "p7", "p8", "p9"]


def test_the_consumer_hands_a_polls_grouped_events_over_at_once(api):
    seen: list[int] = []
    many = api.built.service.agenda.on_grouped_many

    def counted(events):
        seen.append(len(events))
        many(events)

    events = [grouped(f"q{n}", "iss-q", n + 1, heat=float(n + 1), count=n + 1)
              for n in range(6)]
    api.built.kit.bus.publish_all([*events, closed("q0", "iss-q")])
    consumer = api.built.consumer(batch_handlers={"petition.grouped": counted})
    with running(consumer):
        wait_for(lambda: consumer.stats.handled >= 7, timeout=60, message="events handled")
    assert sum(seen) == 6 and len(seen) < 6  # in runs, not one by one
    found, _ = candidates(api)
    assert found["iss-q"]["issue_version"] == 6
    assert found["iss-q"]["petition_ids"] == [f"q{n}" for n in range(1, 6)]
