"""The commitments report without a database: filters, states and the sums."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.followup import domain, views
from services.followup.store import _count, _matches

NOW = datetime(2027, 3, 1, 2, tzinfo=UTC)


def doc(dialogue: str, agency: str, status: str = "open", overdue: bool = False,
        on_time: bool | None = None, ward: str | None = "14464") -> dict:
    return {"dialogue_id": dialogue, "agency_id": agency, "deadline": "2027-03-31",
            "locality": {"province_code": "37", "ward_code": ward}, "status": status,
            "overdue": overdue, "on_time": on_time}


def test_new_commitments_carry_top_level_codes_and_wait_to_be_counted():
    c = domain.Commitment(id="cm-1", conclusion_id="kl-1", dialogue_id="dl-1", text="x",
                          agency_id="so-xd-37", deadline=date(2027, 3, 31),
                          locality={"province_code": "37", "ward_code": None})
    d = domain.new_doc(c, now=NOW, reminder_days=3, steps=(5, 15))
    assert (d["province_code"], d["ward_code"], d["report_stale"]) == ("37", None, True)


def test_states():
    assert domain.bucket("resolved", True, True) == "resolved_on_time"
    assert domain.bucket("resolved", True, False) == "resolved_late"
    assert domain.bucket("resolved", False, None) == "resolved_late"
    assert domain.bucket("reopened", True, None) == "overdue"
    assert domain.bucket("in_progress", False, None) == "open"


def test_count_by_dialogue_place_agency_deadline_and_state():
    docs = [doc("dl-1", "a"), doc("dl-1", "a"), doc("dl-1", "a", overdue=True),
            doc("dl-1", "b", "resolved", overdue=True, on_time=False),
            doc("dl-2", "a", "resolved", on_time=True, ward=None)]
    assert _count(docs) == {
        ("dl-1", "37", "14464", "a", "2027-03-31", "open"): 2,
        ("dl-1", "37", "14464", "a", "2027-03-31", "overdue"): 1,
        ("dl-1", "37", "14464", "b", "2027-03-31", "resolved_late"): 1,
        ("dl-2", "37", None, "a", "2027-03-31", "resolved_on_time"): 1}


def test_list_query_uses_top_level_codes_in_one_flat_filter():
    args = {"province_code": "37", "ward_code": "14464", "agency_id": "a",
            "due_from": date(2027, 3, 1), "due_to": date(2027, 3, 31)}
    assert views.list_query(args, {"province_code": "37"}) == {
        "agency_id": "a", "province_code": "37", "ward_code": "14464",
        "deadline": {"$gte": "2027-03-01", "$lte": "2027-03-31"}}
    # an agency officer asking for another agency: both must hold, so nothing
    assert views.list_query({"agency_id": "b"}, {"agency_id": "a"}) == {
        "$and": [{"agency_id": "b"}, {"agency_id": "a"}]}
    assert views.list_query({"agency_id": "a"}, {"agency_id": "a"}) == {"agency_id": "a"}
    assert views.both({}, {}) == {}


ROW = {"dialogue_id": "dl-1", "province_code": "37", "ward_code": "14464",
       "agency_id": "a", "deadline": "2027-03-31"}


@pytest.mark.parametrize("query, expected", [
    ({}, True),
    ({"province_code": "37"}, True),
    ({"province_code": "37", "ward_code": "14470"}, False),
    ({"province_code": {"$in": []}}, False),
    ({"agency_id": {"$in": []}}, False),
    ({"agency_id": "a", "deadline": {"$gte": "2027-03-31", "$lte": "2027-03-31"}}, True),
    ({"deadline": {"$gte": "2027-04-01"}}, False),
    ({"deadline": {"$lte": "2027-03-30"}}, False),
    ({"$and": [{"agency_id": "a"}, {"province_code": "37"}]}, True),
    ({"$and": [{"agency_id": "a"}, {"agency_id": "b"}]}, False),
])
def test_report_filters_on_rows(query, expected):
    assert _matches(query, ROW) is expected


def test_a_filter_the_summaries_cannot_answer_is_an_error():
    with pytest.raises(KeyError):
        _matches({"status": "open"}, ROW)
    with pytest.raises(ValueError):
        _matches({"deadline": {"$gt": "2027-01-01"}}, ROW)


class Rows:
    def __init__(self, rows: list[tuple[str, str, str, int]]) -> None:
        self.rows = rows
        self.queries: list[dict] = []

    def report_rows(self, query: dict):
        self.queries.append(query)
        return iter(self.rows)


def test_report_sums_by_agency_and_by_dialogue():
    store = Rows([("dl-2", "b", "open", 2), ("dl-1", "a", "resolved_on_time", 3),
                  ("dl-1", "b", "resolved_late", 1), ("dl-2", "a", "overdue", 4),
                  ("dl-1", "a", "open", 1)])
    report = views.report(store, {"province_code": "37"})
    assert store.queries == [{"province_code": "37"}]
    assert report == {
        "totals": {"resolved_on_time": 3, "resolved_late": 1, "open": 3, "overdue": 4,
                   "total": 11},
        "by_agency": [
            {"agency_id": "a", "resolved_on_time": 3, "resolved_late": 0, "open": 1,
             "overdue": 4, "total": 8},
            {"agency_id": "b", "resolved_on_time": 0, "resolved_late": 1, "open": 2,
             "overdue": 0, "total": 3}],
        "by_dialogue": [
            {"dialogue_id": "dl-1", "resolved_on_time": 3, "resolved_late": 1, "open": 1,
             "overdue": 0, "total": 5},
            {"dialogue_id": "dl-2", "resolved_on_time": 0, "resolved_late": 0, "open": 2,
             "overdue": 4, "total": 6}]}
    assert views.report(Rows([]), {}) == {
        "totals": {"resolved_on_time": 0, "resolved_late": 0, "open": 0, "overdue": 0,
                   "total": 0}, "by_agency": [], "by_dialogue": []}
