"""Timed sweeps on the real database: each transition once, even with two sweepers at once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime

from services.common.clock import VN_TZ
from services.followup import bootstrap, domain
from tests.helpers import events_on
from tests.integration.followup.conftest import concluded, conclusion


def at(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=VN_TZ).astimezone(UTC)


def test_reminder_overdue_and_escalations_once_each(followup, clock):
    svc = followup.service
    svc.on_dialogue_concluded(concluded("dl-s", [
        conclusion(conclusion_id="kl-s", deadline=date(2027, 3, 31)),
        conclusion(conclusion_id="kl-done", deadline=date(2027, 3, 31))]))
    done = domain.commitment_id("kl-done")
    cid = domain.commitment_id("kl-s")
    assert svc.sweep() == {"approaching": 0, "overdue": 0, "escalated": 0}
    clock.now = at(2027, 3, 26)  # Friday: 31/3 is 3 working days away
    assert svc.sweep()["approaching"] == 2
    assert svc.sweep()["approaching"] == 0
    followup.store.commitments.update_one({"_id": done}, {"$set": {"status": "resolved"}})
    clock.now = at(2027, 3, 31, 23)
    assert svc.sweep()["overdue"] == 0  # not before the end of the deadline day
    clock.now = at(2027, 4, 1, 0)
    assert svc.sweep() == {"approaching": 0, "overdue": 1, "escalated": 0}
    clock.now = at(2027, 4, 7)  # 5 working days late
    assert svc.sweep()["escalated"] == 1
    assert svc.sweep()["escalated"] == 0
    clock.now = at(2027, 4, 22)  # 15 working days late (16/4 is a holiday)
    assert svc.sweep()["escalated"] == 1
    clock.now = at(2027, 6, 1)
    assert svc.sweep() == {"approaching": 0, "overdue": 0, "escalated": 0}
    doc = followup.store.get(cid)
    assert doc["overdue"] is True and doc["escalation_level"] == 2
    events = events_on(followup.settings, "followup.commitments", min_count=7)
    mine = [e for e in events if e["subject"] == cid]
    assert [e["type"] for e in mine] == ["commitment.assigned",
                                         "commitment.deadline_approaching",
                                         "commitment.overdue", "commitment.escalated",
                                         "commitment.escalated"]
    assert mine[1]["data"]["working_days_left"] == 3
    assert [e["data"]["level"] for e in mine[3:]] == [1, 2]
    assert mine[3]["data"]["host"]["title"] == "Bí thư Đảng ủy xã"


def test_extension_starts_the_clock_again(followup, web, token, clock):
    svc = followup.service
    svc.on_dialogue_concluded(concluded("dl-e", [conclusion(conclusion_id="kl-e")]))
    cid = domain.commitment_id("kl-e")
    clock.now = at(2027, 4, 2)
    assert svc.sweep()["overdue"] == 1
    r = web.post(f"/api/v1/commitments/{cid}/extend", headers=token("host", province_code="37"),
                 json={"deadline": "2027-04-30", "reason": "Chờ kinh phí bổ sung"})
    assert r.status_code == 200 and r.get_json()["overdue"] is False
    assert svc.sweep() == {"approaching": 0, "overdue": 0, "escalated": 0}
    clock.now = at(2027, 5, 4)
    assert svc.sweep()["overdue"] == 1


def test_two_sweepers_at_once_produce_each_event_once(followup, make_settings, clock):
    conclusions = [conclusion(conclusion_id=f"kl-{i}", deadline=date(2027, 3, 31))
                   for i in range(15)]
    followup.service.on_dialogue_concluded(concluded("dl-c", conclusions))
    # a second replica: its own process objects, the same database and topics
    other = bootstrap.build(followup.settings, clock)
    try:
        clock.now = at(2027, 6, 1)  # overdue and past both escalation steps
        barrier = threading.Barrier(2)
        results: list[dict[str, int]] = []

        def sweep(app) -> None:
            barrier.wait()
            results.append(app.service.sweep())

        threads = [threading.Thread(target=sweep, args=(a,)) for a in (followup, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(r["overdue"] for r in results) == 15
        assert sum(r["escalated"] for r in results) == 30
        events = events_on(followup.settings, "followup.commitments", min_count=15 + 15 + 30)
    finally:
        other.close()
    counts = Counter((e["subject"], e["type"], e["data"].get("level")) for e in events)
    assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n > 1]
    types = Counter(e["type"] for e in events)
    assert types == {"commitment.assigned": 15, "commitment.overdue": 15,
                     "commitment.escalated": 30}


def test_two_concurrent_resolutions_resolve_once(followup, token, clock):
    followup.service.on_dialogue_concluded(concluded("dl-r", [conclusion(conclusion_id="kl-r")]))
    cid = domain.commitment_id("kl-r")
    other = bootstrap.build(followup.settings, clock)
    try:
        clients = [followup.web().test_client(), other.web().test_client()]
        headers = token("agency_officer", agency_id="so-xd-37")
        barrier = threading.Barrier(2)
        codes: list[int] = []

        def resolve(client, answer: str) -> None:
            barrier.wait()
            codes.append(client.post(f"/api/v1/commitments/{cid}/resolve", headers=headers,
                                     json={"answer": answer, "outcome": "resolved"}).status_code)

        threads = [threading.Thread(target=resolve, args=(c, f"Trả lời {i}"))
                   for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.close()
    assert sorted(codes) == [200, 409]
    events = events_on(followup.settings, "followup.commitments", min_count=2)
    assert [e["type"] for e in events].count("commitment.resolved") == 1
    doc = followup.store.get(cid)
    resolved = next(e for e in events if e["type"] == "commitment.resolved")
    assert doc["resolution"]["answer"] == resolved["data"]["answer"]
