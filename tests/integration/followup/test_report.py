"""The commitments report on the real FerretDB: every number, from the summaries, from
stale commitments, after a lost refresh, and for commitments stored before summaries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from services.common.auth import Principal
from services.common.clock import VN_TZ
from services.followup import domain
from services.followup import store as store_module
from services.followup.store import REPORTS
from tests.integration.followup.conftest import concluded, conclusion

A, B, C, D = "so-xd-37", "so-gtvt-37", "so-nn-37", "so-xd-01"
ADMIN = Principal(sub="admin", roles=frozenset({"admin"}))
URL = "/api/v1/reports/commitments"


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, tzinfo=VN_TZ).astimezone(UTC)


def counts(on_time: int = 0, late: int = 0, open_: int = 0, overdue: int = 0) -> dict[str, int]:
    return {"resolved_on_time": on_time, "resolved_late": late, "open": open_,
            "overdue": overdue, "total": on_time + late + open_ + overdue}


def tally(docs: list[dict[str, Any]]) -> dict[str, int]:
    out = counts()
    for d in docs:
        if d["status"] == "resolved":
            state = "resolved_on_time" if d["on_time"] else "resolved_late"
        else:
            state = "overdue" if d["overdue"] else "open"
        out[state] += 1
        out["total"] += 1
    return out


def oracle(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The report counted the plain way, from whole commitment documents."""
    return {"totals": tally(docs), **{
        name: [{key: value, **tally([d for d in docs if d[key] == value])}
               for value in sorted({d[key] for d in docs})]
        for name, key in (("by_agency", "agency_id"), ("by_dialogue", "dialogue_id"))}}


def by(report: dict[str, Any], name: str, key: str) -> dict[str, dict[str, int]]:
    return {row.pop(key): row for row in report[name]}


@pytest.fixture
def mixed(followup, clock):
    """Resolved on time and late, open, in progress, reopened and overdue commitments of
    three agencies in two Ninh Bình dialogues, and one overdue in Hà Nội."""
    svc = followup.service
    svc.on_dialogue_concluded(concluded("dl-a", [
        conclusion(A, conclusion_id="a1", deadline=date(2027, 3, 31)),
        conclusion(B, conclusion_id="a2", deadline=date(2027, 3, 5)),
        conclusion(A, conclusion_id="a3", deadline=date(2027, 3, 10)),
        conclusion(B, conclusion_id="a4", deadline=date(2027, 6, 30))]))
    svc.on_dialogue_concluded(concluded("dl-b", [
        conclusion(A, conclusion_id="b1", deadline=date(2027, 3, 5)),
        conclusion(C, conclusion_id="b2", deadline=date(2027, 4, 30)),
        conclusion(A, conclusion_id="b3", deadline=date(2027, 3, 31))], ward="14470"))
    svc.on_dialogue_concluded(concluded("dl-c", [
        conclusion(D, conclusion_id="c1", deadline=date(2027, 3, 5))], province="01", ward=None))
    cid = {k: domain.commitment_id(k) for k in ("a1", "a2", "a3", "a4", "b1", "b2", "b3", "c1")}
    svc.resolve(ADMIN, cid["a1"], answer="Đã xong", outcome="resolved", reason=None)
    svc.resolve(ADMIN, cid["b3"], answer="Đã xong", outcome="resolved", reason=None)
    svc.assess(ADMIN, cid["b3"], assessment="unsatisfactory", note="Chưa đạt")  # reopened
    clock.now = at(2027, 3, 6)  # 05/03 is over: a2, b1 and c1 overdue
    assert svc.sweep()["overdue"] == 3
    svc.resolve(ADMIN, cid["a2"], answer="Đã xong", outcome="resolved", reason=None)  # late
    clock.now = at(2027, 3, 11)  # a3 overdue too
    assert svc.sweep()["overdue"] == 1
    svc.report_progress(ADMIN, cid["b1"], percent=50, note="Đang làm", evidence=[], reason=None)
    svc.report_progress(ADMIN, cid["b2"], percent=20, note="Đang làm", evidence=[], reason=None)
    return cid


def check_all(web, token, followup) -> None:
    """Every number of the report, in every scope and filter, against the plain count."""
    docs = list(followup.store.commitments.find({}))
    ninh_binh = [d for d in docs if d["locality"]["province_code"] == "37"]
    cases = [
        (token("secretariat", province_code="37"), "", ninh_binh),
        (token("admin"), "", docs),
        (token("host", province_code="37", ward_code="14470"), "",
         [d for d in ninh_binh if d["locality"]["ward_code"] == "14470"]),
        (token("agency_officer", agency_id=A), "", [d for d in docs if d["agency_id"] == A]),
        (token("admin"), "?province_code=37&ward_code=14464",
         [d for d in ninh_binh if d["locality"]["ward_code"] == "14464"]),
        (token("secretariat", province_code="37"), f"?agency_id={B}",
         [d for d in ninh_binh if d["agency_id"] == B]),
        (token("secretariat", province_code="37"), "?from=2027-03-01&to=2027-03-10",
         [d for d in ninh_binh if "2027-03-01" <= d["deadline"] <= "2027-03-10"]),
        (token("admin"), "?from=2027-04-01", [d for d in docs if d["deadline"] >= "2027-04-01"]),
        (token("agency_officer"), "", []),  # no agency: sees nothing
    ]
    for headers, args, expected in cases:
        r = web.get(URL + args, headers=headers)
        assert r.status_code == 200, r.get_json()
        assert r.get_json() == oracle(expected), args


def test_every_number(followup, web, token, mixed):
    report = web.get(URL, headers=token("secretariat", province_code="37")).get_json()
    assert report["totals"] == counts(on_time=1, late=1, open_=3, overdue=2)
    assert by(report, "by_agency", "agency_id") == {
        A: counts(on_time=1, open_=1, overdue=2),  # a1; b3 reopened; a3, b1
        B: counts(late=1, open_=1),                # a2; a4
        C: counts(open_=1)}                        # b2 in progress
    assert by(report, "by_dialogue", "dialogue_id") == {
        "dl-a": counts(on_time=1, late=1, open_=1, overdue=1),
        "dl-b": counts(open_=2, overdue=1)}
    report = web.get(URL, headers=token("admin")).get_json()
    assert report["totals"] == counts(on_time=1, late=1, open_=3, overdue=3)
    assert by(report, "by_dialogue", "dialogue_id")["dl-c"] == counts(overdue=1)
    mine = web.get(URL, headers=token("agency_officer", agency_id=A)).get_json()
    assert mine["totals"] == counts(on_time=1, open_=1, overdue=2)
    assert by(mine, "by_dialogue", "dialogue_id") == {
        "dl-a": counts(on_time=1, overdue=1), "dl-b": counts(open_=1, overdue=1)}
    early = web.get(f"{URL}?from=2027-03-01&to=2027-03-10",
                    headers=token("secretariat", province_code="37")).get_json()
    assert early["totals"] == counts(late=1, overdue=2)  # a2; a3, b1
    # all of it from the summaries: nothing left stale
    assert followup.store.commitments.count_documents({"report_stale": True}) == 0
    assert followup.store.reports.count_documents({}) == 3
    check_all(web, token, followup)


def test_reassign_and_extend_move_the_counts(followup, web, token, mixed):
    svc = followup.service
    svc.reassign(ADMIN, mixed["a3"], agency_id=C, reason="Thuộc thẩm quyền Sở NN")
    svc.extend(ADMIN, mixed["b1"], deadline=date(2027, 5, 29), reason="Mưa lũ")
    report = web.get(URL, headers=token("secretariat", province_code="37")).get_json()
    assert by(report, "by_agency", "agency_id") == {
        A: counts(on_time=1, open_=2),  # b1 no longer overdue
        B: counts(late=1, open_=1),
        C: counts(open_=1, overdue=1)}  # a3 moved here
    assert followup.store.commitments.count_documents({"report_stale": True}) == 0
    check_all(web, token, followup)


def test_lost_refresh_is_counted_from_the_commitment_then_healed(followup, web, token, mixed,
                                                                 monkeypatch):
    store = followup.store

    def fail(dialogue_id: str) -> None:
        raise PyMongoError("connection lost")

    monkeypatch.setattr(store, "refresh", fail)
    followup.service.resolve(ADMIN, mixed["a4"], answer="Đã xong", outcome="resolved",
                             reason=None)  # the command succeeds all the same
    monkeypatch.undo()
    assert store.commitments.find_one({"_id": mixed["a4"]})["report_stale"] is True
    report = web.get(URL, headers=token("secretariat", province_code="37")).get_json()
    assert by(report, "by_agency", "agency_id")[B] == counts(on_time=1, late=1)
    check_all(web, token, followup)
    followup.service.sweep()  # refreshes what was left stale
    assert store.commitments.count_documents({"report_stale": True}) == 0
    summary = store.reports.find_one({"dialogue_id": "dl-a"})
    assert sum(json.loads(row)[3] for row in summary["rows"]) == 4
    check_all(web, token, followup)


def test_many_stale_dialogues_in_one_pass(followup, web, token, mixed, monkeypatch):
    """A bulk load leaves many dialogues stale; their count must not change."""
    store = followup.store
    store.reports.delete_many({})
    for doc in store.commitments.find({}, {"_id": 1}):
        store.commitments.update_one({"_id": doc["_id"]}, {"$set": {"report_stale": True}})
    check_all(web, token, followup)  # one query per stale dialogue
    monkeypatch.setattr(store_module, "_FEW", 0)
    check_all(web, token, followup)  # one pass over the locality
    assert store.refresh_stale() == 3
    check_all(web, token, followup)


def test_commitments_stored_before_the_summaries(followup, web, token, mixed):
    store = followup.store
    legacy = {**store.commitments.find_one({"_id": mixed["a4"]}), "_id": "cm-legacy",
              "conclusion_id": "legacy"}
    for field in ("province_code", "ward_code", "report_stale"):
        del legacy[field]
    store.commitments.insert_one(legacy)
    store.migrations.delete_one({"_id": REPORTS})
    store.upgrade()
    doc = store.commitments.find_one({"_id": "cm-legacy"})
    assert (doc["province_code"], doc["ward_code"], doc["report_stale"]) == ("37", "14464", True)
    h = token("secretariat", province_code="37")
    items = web.get("/api/v1/commitments?ward_code=14464&page_size=50", headers=h).get_json()
    assert "legacy" in {i["conclusion_id"] for i in items["items"]}
    report = web.get(URL, headers=h).get_json()
    assert by(report, "by_agency", "agency_id")[B] == counts(late=1, open_=2)
    check_all(web, token, followup)


def test_a_refresh_does_not_clear_what_changed_after_it_read(followup, web, token, mixed,
                                                            monkeypatch):
    store = followup.store
    read_before = list(store.commitments.find({"dialogue_id": "dl-a"},
                                              store_module._REPORT_FIELDS))
    monkeypatch.setattr(store, "_refresh_after_write", lambda dialogue_id: None)
    followup.service.resolve(ADMIN, mixed["a4"], answer="Đã xong", outcome="resolved",
                             reason=None)
    # A refresh that read a4 stale, before that change, and writes after it.
    next(d for d in read_before if d["_id"] == mixed["a4"])["report_stale"] = True
    monkeypatch.setattr(store.commitments, "find", lambda *a, **k: iter(read_before))
    store.refresh("dl-a")
    monkeypatch.undo()
    stale = {d["_id"] for d in store.commitments.find({"report_stale": True})}
    assert stale == {mixed["a4"]}
    check_all(web, token, followup)
    store.refresh("dl-a")
    assert store.commitments.count_documents({"report_stale": True}) == 0
    check_all(web, token, followup)
