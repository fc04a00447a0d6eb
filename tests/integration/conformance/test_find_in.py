"""`find({_id: {$in: ids}})` gives MongoDB's answer.

The services read a Kafka poll's documents with one such find. FerretDB 1.24 answers an
`$in` with a full scan, so the proxy in deploy/ferretdb (findin.go) sends the plain shape
as one `_id` equality find per distinct id and merges the replies; any other shape (a
sort, a skip, a limit below the number of ids, more than 1,000 ids...) goes to FerretDB
as it came. Both paths must answer as MongoDB does. MongoDB promises no order without a
sort, so those answers are compared as sorted lists.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import Int64, ObjectId, Regex

T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def petitions(db):
    docs = db["petitions"]
    docs.insert_many([
        {"_id": f"p{i}", "status": "grouped" if i % 2 else "received", "issue_id": f"i{i % 3}",
         "heat": i, "title": f"Kiến nghị {i}", "created_at": T0}
        for i in range(1, 21)])
    return docs


def ids(cursor) -> list:
    return sorted(d["_id"] for d in cursor)


def test_each_document_once_however_often_listed(petitions):
    assert ids(petitions.find({"_id": {"$in": ["p3", "p1", "p3", "p1", "p3"]}})) == ["p1", "p3"]
    docs = list(petitions.find({"_id": {"$in": ["p2", "p2"]}}))
    assert docs == [{"_id": "p2", "status": "received", "issue_id": "i2", "heat": 2,
                     "title": "Kiến nghị 2", "created_at": T0}]


def test_missing_ids_are_skipped(petitions):
    assert ids(petitions.find({"_id": {"$in": ["p5", "nope", "p7", "p99"]}})) == ["p5", "p7"]
    assert list(petitions.find({"_id": {"$in": ["nope", "p99"]}})) == []


def test_numbers_equal_to_mongodb_are_one_id(db):
    docs = db["numbers"]
    docs.insert_many([{"_id": 5, "k": "int"}, {"_id": 6.0, "k": "double"},
                      {"_id": Int64(7), "k": "long"}, {"_id": 8.5, "k": "fraction"},
                      {"_id": "5", "k": "string"}])
    found = list(docs.find({"_id": {"$in": [5, 5.0, Int64(5), 6, Int64(6), 7.0, 7, 8.5, 8]}}))
    assert sorted((d["_id"], d["k"]) for d in found) == [(5, "int"), (6.0, "double"),
                                                        (7, "long"), (8.5, "fraction")]
    # each document keeps its own type, whatever type the list named it by
    kinds = {d["k"]: type(d["_id"]) for d in found}
    assert kinds == {"int": int, "double": float, "long": Int64, "fraction": float}
    assert [d["k"] for d in docs.find({"_id": {"$in": ["5"]}})] == ["string"]
    assert [d["k"] for d in docs.find({"_id": {"$in": [True, 1.5, "6"]}})] == []


def test_object_ids_strings_and_dates(db):
    docs = db["mixed"]
    oids = [ObjectId() for _ in range(4)]
    docs.insert_many([{"_id": o, "n": i} for i, o in enumerate(oids)]
                     + [{"_id": "a", "n": 10}, {"_id": T0, "n": 11}])
    got = docs.find({"_id": {"$in": [oids[2], oids[0], ObjectId(), "a", T0, oids[2]]}})
    assert sorted(d["n"] for d in got) == [0, 2, 10, 11]
    assert [d["n"] for d in docs.find({"_id": {"$in": [str(oids[1])]}})] == []  # a string


def test_other_filter_keys_still_apply(petitions):
    wanted = [f"p{i}" for i in range(1, 11)]
    assert ids(petitions.find({"_id": {"$in": wanted}, "status": "grouped"})) == \
        ["p1", "p3", "p5", "p7", "p9"]
    assert ids(petitions.find({"_id": {"$in": wanted}, "issue_id": "i1", "status": "received"})) \
        == ["p10", "p4"]
    assert ids(petitions.find({"status": "received", "_id": {"$in": wanted},
                               "heat": {"$gte": 6}})) == ["p10", "p6", "p8"]
    assert ids(petitions.find({"_id": {"$in": wanted}, "$or": [{"heat": 1}, {"heat": 20}]})) \
        == ["p1"]
    assert list(petitions.find({"_id": {"$in": wanted}, "issue_id": "nowhere"})) == []


def test_projection(petitions):
    got = list(petitions.find({"_id": {"$in": ["p1", "p2"]}}, {"status": 1}))
    assert sorted(got, key=lambda d: d["_id"]) == [{"_id": "p1", "status": "grouped"},
                                                   {"_id": "p2", "status": "received"}]
    got = list(petitions.find({"_id": {"$in": ["p1", "p2"]}}, {"_id": 0, "heat": 1}))
    assert sorted(d["heat"] for d in got) == [1, 2] and all(set(d) == {"heat"} for d in got)
    got = list(petitions.find({"_id": {"$in": ["p3"]}}, {"title": 0, "created_at": 0}))
    assert got == [{"_id": "p3", "status": "grouped", "issue_id": "i0", "heat": 3}]


def test_sort_skip_and_limit(petitions):
    wanted = ["p4", "p12", "p1", "p9", "p20"]
    assert [d["_id"] for d in petitions.find({"_id": {"$in": wanted}}).sort("heat", -1)] == \
        ["p20", "p12", "p9", "p4", "p1"]
    assert [d["_id"] for d in petitions.find({"_id": {"$in": wanted}}).sort("_id", 1)] == \
        ["p1", "p12", "p20", "p4", "p9"]
    assert [d["_id"] for d in petitions.find({"_id": {"$in": wanted}}).sort("heat", 1).skip(1)
            .limit(2)] == ["p4", "p9"]
    # a limit below the number of ids: that many documents, whichever MongoDB picks
    some = list(petitions.find({"_id": {"$in": wanted}}).limit(2))
    assert len(some) == 2 and {d["_id"] for d in some} <= set(wanted)
    # a limit at or above it: all of them
    assert ids(petitions.find({"_id": {"$in": wanted}}).limit(5)) == sorted(wanted)
    assert ids(petitions.find({"_id": {"$in": wanted + wanted}}).limit(6)) == sorted(wanted)
    assert ids(petitions.find({"_id": {"$in": wanted}}).skip(2)) != sorted(wanted)
    assert len(list(petitions.find({"_id": {"$in": wanted}}).skip(2))) == 3
    assert petitions.find_one({"_id": {"$in": ["p99", "p7"]}})["_id"] == "p7"
    assert petitions.find_one({"_id": {"$in": ["p99"]}}) is None


def test_a_small_batch_size_still_gives_every_document(petitions):
    wanted = [f"p{i}" for i in range(1, 21)]
    assert ids(petitions.find({"_id": {"$in": wanted}}).batch_size(3)) == sorted(wanted)
    assert ids(petitions.find({"_id": {"$in": wanted[:7]}}, batch_size=1)) == sorted(wanted[:7])


def test_an_empty_list_finds_nothing(petitions, db):
    assert list(petitions.find({"_id": {"$in": []}})) == []
    assert list(petitions.find({"_id": {"$in": []}, "status": "grouped"}, {"heat": 1})) == []
    assert list(db["absent"].find({"_id": {"$in": []}})) == []
    assert list(db["absent"].find({"_id": {"$in": ["p1"]}})) == []
    reply = db.command("find", "petitions", filter={"_id": {"$in": []}})
    assert reply["cursor"]["firstBatch"] == [] and reply["cursor"]["id"] == 0
    assert reply["cursor"]["ns"] == f"{db.name}.petitions" and reply["ok"] == 1


def test_the_raw_reply_is_one_batch_without_a_cursor(petitions, db):
    reply = db.command("find", "petitions", filter={"_id": {"$in": ["p1", "p2", "p3"]}})
    assert reply["ok"] == 1 and reply["cursor"]["id"] == 0
    assert reply["cursor"]["ns"] == f"{db.name}.petitions"
    assert sorted(d["_id"] for d in reply["cursor"]["firstBatch"]) == ["p1", "p2", "p3"]


def test_more_than_a_thousand_ids(db):
    docs = db["many"]
    docs.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(1500)])
    wanted = list(range(0, 3000, 2))  # 1,500 ids, 750 of them stored
    assert ids(docs.find({"_id": {"$in": wanted}})) == list(range(0, 1500, 2))
    assert ids(docs.find({"_id": {"$in": wanted[:1000]}, "even": True})) == \
        list(range(0, 1500, 2))


def test_documents_past_one_batch_come_through_a_cursor(db):
    docs = db["big"]
    text = "Đ" * (512 * 1024)  # 1 MiB of UTF-8 per document: 20 of them pass 16 MiB
    for i in range(20):
        docs.insert_one({"_id": i, "text": text})
    got = list(docs.find({"_id": {"$in": list(range(25))}}))
    assert sorted(d["_id"] for d in got) == list(range(20))
    assert all(d["text"] == text for d in got)


def test_other_operators_on_id_are_not_in(petitions):
    assert ids(petitions.find({"_id": {"$in": ["p1", "p2", "p3"], "$ne": "p2"}})) == ["p1", "p3"]
    assert ids(petitions.find({"_id": {"$nin": [f"p{i}" for i in range(3, 21)]}})) == \
        ["p1", "p2"]
    # a regular expression in the list matches as one (forwarded as it came)
    assert ids(petitions.find({"_id": {"$in": ["p1", Regex("^p2")]}})) == ["p1", "p2", "p20"]
