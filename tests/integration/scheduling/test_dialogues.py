"""Dialogues over HTTP against real FerretDB and Kafka: lifecycle, rules, events, auth."""

from __future__ import annotations

import threading
from datetime import timedelta

from services.common.contracts.scheduling import TOPIC
from services.common.mongo import mutex
from tests.helpers import events_on
from tests.integration.scheduling.conftest import START, dialogue_body

D = "/api/v1/dialogues"


def _create(api, **overrides):
    r = api.post(D, dialogue_body(**overrides))
    assert r.status_code == 201, r.json
    return r.json


def _of_type(events, type_):
    return [e for e in events if e["type"] == type_]


def test_full_lifecycle_publishes_events_with_what_others_need(api, clock):
    d = _create(api)
    did = d["id"]
    a = api.post(f"{D}/{did}/agenda-items", {"title": "Bồi thường đất nông nghiệp",
                                             "issue_id": "iss-1", "petition_ids": ["p1", "p2"],
                                             "minutes_allotted": 30})
    assert a.status_code == 201, a.json
    b = api.post(f"{D}/{did}/agenda-items", {"title": "Ngập úng thôn Đông",
                                             "petition_ids": ["p3"]})
    c = api.post(f"{D}/{did}/agenda-items", {"title": "Mục thừa"})
    ids = [i["item_id"] for i in c.json["agenda"]]
    assert [i["title"] for i in b.json["agenda"]] == ["Bồi thường đất nông nghiệp",
                                                      "Ngập úng thôn Đông"]
    r = api.call("PUT", f"{D}/{did}/agenda-order", {"item_ids": [ids[2], ids[1], ids[0]]})
    assert [i["item_id"] for i in r.json["agenda"]] == [ids[2], ids[1], ids[0]]
    r = api.call("DELETE", f"{D}/{did}/agenda-items/{ids[2]}")
    assert r.status_code == 200 and [i["item_id"] for i in r.json["agenda"]] == [ids[1], ids[0]]

    r = api.post(f"{D}/{did}/announce", {})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "announced"

    clock.advance(days=10)  # the start time
    r = api.post(f"{D}/{did}/hold", {"attendance": {"total": 120, "citizens": 90, "front": 10,
                                                    "organisations": 5, "agencies": 15},
                                     "minutes": "Biên bản buổi đối thoại",
                                     "discussed_item_ids": [ids[0]]})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "held" and r.json["discussed_petition_ids"] == ["p1", "p2"]
    # the agenda is frozen once held
    assert api.post(f"{D}/{did}/agenda-items", {"title": "Muộn"}).status_code == 409

    clock.advance(days=3)
    body = {"notice_number": "15-TB/ĐU", "issued_at": clock().isoformat(),
            "signed_by": "Nguyễn Văn An",
            "conclusions": [
                {"text": "Hoàn thành chi trả bồi thường", "responsible_agency_id": "so-tnmt-37",
                 "coordinating_agency_ids": ["ubnd-14464"], "deadline": "2026-06-30",
                 "petition_ids": ["p1", "p2"]},
                {"text": "Nạo vét kênh thoát nước", "responsible_agency_id": "ubnd-14464",
                 "working_days": 20}]}
    r = api.post(f"{D}/{did}/conclude", body)
    assert r.status_code == 200, r.json
    assert r.json["state"] == "concluded" and r.json["late"] is False
    assert r.json["notice"]["number"] == "15-TB/ĐU"
    cids = [c["conclusion_id"] for c in r.json["conclusions"]]
    assert len(set(cids)) == 2
    assert r.json["conclusions"][0]["deadline"] == "2026-06-30"

    events = events_on(api.settings, TOPIC, min_count=3)
    assert [e["type"] for e in events] == ["dialogue.announced", "dialogue.held",
                                           "dialogue.concluded"]
    assert all(e["subject"] == did for e in events)
    announced = events[0]["data"]
    assert announced["petition_ids"] == ["p3", "p1", "p2"]
    assert announced["venue"] == "Hội trường UBND xã Gia Viễn"
    assert announced["starts_at"].startswith("2026-03-12T01:00:00")
    assert announced["lead_agency_id"] == "ubnd-14464"
    assert announced["coordinating_agency_ids"] == ["so-tnmt-37"]
    assert announced["host"] == {"name": "Nguyễn Văn An", "title": "Bí thư Đảng ủy xã"}
    held = events[1]["data"]
    assert held["issue_ids"] == ["iss-1"] and held["attendance"]["total"] == 120
    concluded = events[2]["data"]
    assert [c["conclusion_id"] for c in concluded["conclusions"]] == cids
    assert concluded["conclusions"][0]["petition_ids"] == ["p1", "p2"]
    assert concluded["conclusions"][1]["working_days"] == 20
    assert concluded["late"] is False
    # published, so nothing stays in the outbox
    assert api.built.store.dialogues.find_one({"_id": did})["outbox"] == []
    trail = api.built.kit.audit.trail("dialogue", did)
    assert [t["action"] for t in trail] == [
        "dialogue.create", "dialogue.agenda.add", "dialogue.agenda.add", "dialogue.agenda.add",
        "dialogue.agenda.reorder", "dialogue.agenda.remove", "dialogue.announce",
        "dialogue.hold", "dialogue.conclude"]
    assert trail[0]["actor"] == "officer-1"


def test_notice_rule_on_announce(api):
    soon = {"starts_at": (START + timedelta(days=3)).isoformat(),
            "ends_at": (START + timedelta(days=3, hours=2)).isoformat()}
    d = _create(api, **soon)
    r = api.post(f"{D}/{d['id']}/announce", {})
    assert r.status_code == 409 and "7 days" in r.json["detail"]
    assert r.json["detail_vi"] == "Phải thông báo trước ít nhất 7 ngày."
    assert api.get(f"{D}/{d['id']}").json["state"] == "draft"

    adhoc = _create(api, kind="ad_hoc", venue="Nhà văn hóa thôn Đông",
                    host={"name": "Lê Văn Cường", "title": "Chủ tịch UBND xã"}, **soon)
    assert api.post(f"{D}/{adhoc['id']}/announce", {}).status_code == 409
    r = api.post(f"{D}/{adhoc['id']}/announce", {"reason": "Sạt lở bờ sông sau bão"})
    assert r.status_code == 200 and r.json["notice_reason"] == "Sạt lở bờ sông sau bão"
    events = events_on(api.settings, TOPIC)
    assert [e["data"]["reason"] for e in events] == ["Sạt lở bờ sông sau bão"]


def test_out_of_order_transitions_are_409_and_change_nothing(api, clock):
    d = _create(api)
    did = d["id"]
    hold = {"attendance": {"total": 10}}
    conclude = {"notice_number": "03-TB/UBND", "issued_at": START.isoformat(),
                "signed_by": "A", "conclusions": [{"text": "x", "responsible_agency_id":
                                                   "so-tnmt-37", "working_days": 5}]}
    assert api.post(f"{D}/{did}/hold", hold).status_code == 409
    assert api.post(f"{D}/{did}/conclude", conclude).status_code == 409
    assert api.post(f"{D}/{did}/reschedule", {"starts_at": d["starts_at"],
                                              "ends_at": d["ends_at"]}).status_code == 409
    assert api.post(f"{D}/{did}/announce").status_code == 200
    r = api.post(f"{D}/{did}/announce")
    assert r.status_code == 409 and r.json["state"] == "announced"
    # hold before the start time
    r = api.post(f"{D}/{did}/hold", hold)
    assert r.status_code == 409 and "start time" in r.json["detail"]
    clock.advance(days=10, minutes=5)
    assert api.post(f"{D}/{did}/hold", hold).status_code == 200
    r = api.post(f"{D}/{did}/cancel", {"reason": "Trùng lịch"})
    assert r.status_code == 409
    after = api.get(f"{D}/{did}").json
    assert after["state"] == "held" and after.get("cancel_reason") is None
    assert [e["type"] for e in events_on(api.settings, TOPIC, min_count=2)] == [
        "dialogue.announced", "dialogue.held"]


def test_cancel_needs_a_reason_and_tells_invitees(api):
    d = _create(api)
    r = api.post(f"{D}/{d['id']}/cancel", {})
    assert r.status_code == 422 and "reason" in r.json["errors"]
    assert api.post(f"{D}/{d['id']}/announce").status_code == 200
    r = api.post(f"{D}/{d['id']}/cancel", {"reason": "Bão số 3 đổ bộ"})
    assert r.status_code == 200 and r.json["state"] == "cancelled"
    assert api.post(f"{D}/{d['id']}/announce").status_code == 409
    events = events_on(api.settings, TOPIC, min_count=2)
    assert [e["type"] for e in events] == ["dialogue.announced", "dialogue.cancelled"]
    assert events[1]["data"]["reason"] == "Bão số 3 đổ bộ"
    assert events[1]["data"]["venue"] == "Hội trường UBND xã Gia Viễn"


def test_host_and_venue_clashes_name_the_other_dialogue(api):
    first = _create(api)
    assert api.post(f"{D}/{first['id']}/announce").status_code == 200
    overlap = {"starts_at": (START + timedelta(days=10, hours=2)).isoformat(),
               "ends_at": (START + timedelta(days=10, hours=4)).isoformat()}
    r = api.post(D, dialogue_body(venue="Nhà văn hóa thôn Bắc", **overlap))
    assert r.status_code == 409, r.json
    assert r.json["clash"]["type"] == "host" and r.json["clash"]["dialogue_id"] == first["id"]
    assert first["id"] in r.json["detail"]
    r = api.post(D, dialogue_body(host={"name": "Phạm Thị Dung", "title": "Chủ tịch UBND xã"},
                                  venue="hội trường ubnd xã gia viễn", **overlap))
    assert r.status_code == 409 and r.json["clash"]["type"] == "venue"
    # back to back is fine
    later = {"starts_at": (START + timedelta(days=10, hours=3)).isoformat(),
             "ends_at": (START + timedelta(days=10, hours=5)).isoformat()}
    second = _create(api, **later)
    assert api.post(f"{D}/{second['id']}/announce").status_code == 200
    # rescheduling into the first one's slot clashes too
    r = api.post(f"{D}/{second['id']}/reschedule", overlap)
    assert r.status_code == 409 and r.json["clash"]["dialogue_id"] == first["id"]
    # a cancelled dialogue frees its slot
    assert api.post(f"{D}/{first['id']}/cancel", {"reason": "Đổi kế hoạch"}).status_code == 200
    assert api.post(D, dialogue_body(
        ends_at=(START + timedelta(days=10, hours=2)).isoformat())).status_code == 201


def test_reschedule_keeps_the_notice_rule_and_says_what_changed(api, clock):
    d = _create(api)
    assert api.post(f"{D}/{d['id']}/announce").status_code == 200
    clock.advance(days=5)
    r = api.post(f"{D}/{d['id']}/reschedule", {
        "starts_at": (clock() + timedelta(days=3)).isoformat(),
        "ends_at": (clock() + timedelta(days=3, hours=2)).isoformat()})
    assert r.status_code == 409
    new_start = clock() + timedelta(days=8)
    r = api.post(f"{D}/{d['id']}/reschedule", {
        "starts_at": new_start.isoformat(),
        "ends_at": (new_start + timedelta(hours=2)).isoformat(),
        "venue": "Nhà văn hóa thôn Đông", "reason": "Hội trường đang sửa chữa"})
    assert r.status_code == 200, r.json
    assert r.json["venue"] == "Nhà văn hóa thôn Đông" and r.json["state"] == "announced"
    events = events_on(api.settings, TOPIC, min_count=2)
    moved = events[1]
    assert moved["type"] == "dialogue.rescheduled"
    assert moved["data"]["previous_venue"] == "Hội trường UBND xã Gia Viễn"
    assert moved["data"]["previous_starts_at"].startswith("2026-03-12T01:00:00")
    assert moved["data"]["venue"] == "Nhà văn hóa thôn Đông"


def test_conclusion_notice_shape_and_late_flag(api, clock):
    d = _create(api)
    api.post(f"{D}/{d['id']}/announce")
    clock.advance(days=10)
    api.post(f"{D}/{d['id']}/hold", {"attendance": {"total": 50}})
    item = {"text": "Sửa đường", "responsible_agency_id": "so-gtvt-37", "working_days": 15}
    r = api.post(f"{D}/{d['id']}/conclude", {"notice_number": "15/TB-DU",
                                             "issued_at": clock().isoformat(), "signed_by": "A",
                                             "conclusions": [item]})
    assert r.status_code == 422 and "notice_number" in r.json["errors"]
    r = api.post(f"{D}/{d['id']}/conclude", {
        "notice_number": "15-TB/ĐU", "issued_at": clock().isoformat(), "signed_by": "A",
        "conclusions": [{**item, "deadline": "2026-05-01"},
                        {"text": "x", "responsible_agency_id": "Sở TN&MT", "working_days": 3}]})
    assert r.status_code == 422
    assert {"conclusions.0.deadline", "conclusions.1.responsible_agency_id"} <= set(
        r.json["errors"])
    clock.advance(days=12)
    r = api.post(f"{D}/{d['id']}/conclude", {"notice_number": "15-TB/ĐU",
                                             "issued_at": clock().isoformat(),
                                             "signed_by": "Nguyễn Văn An",
                                             "conclusions": [item]})
    assert r.status_code == 200 and r.json["late"] is True
    concluded = _of_type(events_on(api.settings, TOPIC, min_count=3), "dialogue.concluded")
    assert concluded[0]["data"]["late"] is True


def test_bad_input_names_each_field(api):
    r = api.post(D, {**dialogue_body(kind="weekly", format="tv"), "colour": "red"})
    assert r.status_code == 422
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert {"kind", "format", "colour"} <= set(r.json["errors"])
    r = api.post(D, dialogue_body(locality={"province_code": "37", "ward_code": "01001"}))
    assert r.status_code == 422 and "locality" in r.json["errors"]
    r = api.post(D, dialogue_body(ends_at=(START + timedelta(days=9)).isoformat()))
    assert r.status_code == 422 and "ends_at" in r.json["errors"]
    r = api.post(D, dialogue_body(starts_at="2026-03-12T08:00:00"))  # no zone
    assert r.status_code == 422 and "starts_at" in r.json["errors"]
    r = api.post(D, dialogue_body(format="online"))
    assert r.status_code == 422 and "online_url" in r.json["errors"]
    r = api.post(D, dialogue_body(level="province"))
    assert r.status_code == 422 and "locality.ward_code" in r.json["errors"]
    assert api.get(f"{D}/nope").status_code == 404


def test_auth_roles_and_scope(api):
    assert api.post(D, dialogue_body(), roles=()).status_code == 401
    assert api.post(D, dialogue_body(), headers={"Authorization": "Bearer junk"}).status_code \
        == 401
    # an officer of another province, or another commune
    assert api.post(D, dialogue_body(), province="01").status_code == 403
    assert api.post(D, dialogue_body(), ward="14482").status_code == 403
    # read-only and reading roles cannot write
    assert api.post(D, dialogue_body(), roles=("auditor",)).status_code == 403
    assert api.post(D, dialogue_body(), roles=("front_officer",)).status_code == 403
    assert api.post(D, dialogue_body(), roles=("citizen",)).status_code == 403
    d = _create(api)
    assert api.get(f"{D}/{d['id']}", roles=("auditor",)).status_code == 200
    assert api.get(f"{D}/{d['id']}", roles=("front_officer",), ward="14464").status_code == 200
    assert api.get(f"{D}/{d['id']}", province="01").status_code == 403
    assert api.post(f"{D}/{d['id']}/announce", province="01").status_code == 403
    assert api.post(f"{D}/{d['id']}/announce", roles=("auditor",)).status_code == 403
    assert api.get(f"{D}/{d['id']}").json["state"] == "draft"


def test_list_is_filtered_paginated_and_scoped(api):
    a = _create(api)
    _create(api, kind="thematic", host={"name": "B", "title": "Chủ tịch UBND xã"},
            venue="Nhà văn hóa", locality={"province_code": "37", "ward_code": "14482"},
            lead_agency_id="ubnd-14482")
    api.post(f"{D}/{a['id']}/announce")
    r = api.get(f"{D}?province_code=37&page_size=1")
    assert r.status_code == 200 and r.json["total"] == 2 and len(r.json["items"]) == 1
    assert api.get(f"{D}?state=announced").json["items"][0]["id"] == a["id"]
    assert api.get(f"{D}?kind=thematic").json["total"] == 1
    assert api.get(f"{D}", ward="14482").json["total"] == 1
    assert api.get(f"{D}?ward_code=14464", ward="14482").status_code == 403
    assert api.get(f"{D}", province="01").json["total"] == 0
    assert api.get(f"{D}?from=2026-03-13").json["total"] == 0
    assert api.get(f"{D}?from=2026-03-12&to=2026-03-12").json["total"] == 2
    r = api.get(f"{D}?page=0&state=gone")
    assert r.status_code == 422 and {"query.page", "query.state"} <= set(r.json["errors"])


def test_relay_publishes_what_the_web_process_did_not(api, clock):
    api.built.outbox.flush = lambda *_a: None  # as if the immediate publish failed
    d = _create(api)
    assert api.post(f"{D}/{d['id']}/announce").status_code == 200
    assert len(api.built.store.dialogues.find_one({"_id": d["id"]})["outbox"]) == 1
    clock.advance(seconds=5)
    assert api.built.outbox.relay_once() == 1
    assert api.built.outbox.relay_once() == 0
    events = events_on(api.settings, TOPIC)
    assert [e["type"] for e in events] == ["dialogue.announced"]


def test_clashing_announcements_at_the_same_instant_let_one_through(build):
    # two web processes of the service, as gunicorn runs them
    apis = [build(), build()]
    slots = [{"starts_at": (START + timedelta(days=10, minutes=10 * k)).isoformat(),
              "ends_at": (START + timedelta(days=10, hours=2, minutes=10 * k)).isoformat(),
              "venue": f"Nhà văn hóa thôn {k}"} for k in range(6)]
    drafts = [_create(apis[0], **slot)["id"] for slot in slots]
    barrier = threading.Barrier(len(drafts))
    codes: dict[str, int] = {}

    def announce(k: int, did: str) -> None:
        api = apis[k % 2]
        client = api.app.test_client()
        barrier.wait()
        r = client.post(f"{D}/{did}/announce", json={}, headers=api.token("secretariat"))
        codes[did] = r.status_code

    threads = [threading.Thread(target=announce, args=(k, did)) for k, did in enumerate(drafts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes.values()) == [200] + [409] * 5, codes
    announced = [did for did, code in codes.items() if code == 200]
    states = {did: apis[1].get(f"{D}/{did}").json["state"] for did in drafts}
    assert [did for did, state in states.items() if state == "announced"] == announced


def test_a_slot_held_too_long_answers_409_and_frees_nothing(api):
    draft = _create(api)
    api.built.service.planning.slot_wait = 0.3
    host = api.built.store.dialogue(draft["id"])["host_key"]
    with mutex(api.built.kit.db, f"dialogue-host|{host}"):  # another command, stuck
        r = api.post(f"{D}/{draft['id']}/announce")
    assert r.status_code == 409, r.json
    assert "thử lại" in r.json["detail_vi"]
    assert api.get(f"{D}/{draft['id']}").json["state"] == "draft"
    assert api.post(f"{D}/{draft['id']}/announce").status_code == 200  # free again
