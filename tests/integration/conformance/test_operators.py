"""Every operator and query shape the services use gives MongoDB's answer.

Grepped from services/: filters with equality (also on an array member, on null and on
dotted paths), $in, $ne, $lt/$lte/$gt/$gte, $or, $and, $exists, $size, $regex; updates
with $set, $unset, $inc, $push/$addToSet with $each, $pull of scalars, $pullAll,
$setOnInsert and upserts; find with projections, sort, skip and limit; count_documents;
find_one_and_update with sort and ReturnDocument; find_one_and_delete; replace_one;
update_many; delete_one/many; insert_many; unique and compound indexes; aggregate with
$match, $group on a field or a document, and $sum of 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def petitions(db):
    docs = db["petitions"]
    docs.insert_many([
        {"_id": "p1", "status": "received", "kind": "kien_nghi", "heat": 5,
         "tags": ["road", "dust"],
         "locality": {"province_code": "37", "ward_code": "14341"}, "issue_id": None,
         "search": "duong xa bi hong", "created_at": T0},
        {"_id": "p2", "status": "grouped", "kind": "phan_anh", "heat": 9, "tags": ["water"],
         "locality": {"province_code": "37", "ward_code": "14342"}, "issue_id": "i1",
         "search": "nuoc sinh hoat bi ban", "created_at": T0 + timedelta(days=1)},
        {"_id": "p3", "status": "grouped", "kind": "kien_nghi", "heat": 1, "tags": [],
         "locality": {"province_code": "01", "ward_code": "00004"}, "issue_id": "i1",
         "search": "den duong (ho chieu sang)", "created_at": T0 + timedelta(days=2)},
        {"_id": "p4", "status": "answered", "kind": "to_cao", "heat": 3,
         "locality": {"province_code": "37", "ward_code": "14341"}, "issue_id": "i2",
         "search": "can bo xa", "created_at": T0 + timedelta(days=3), "answered": True},
    ])
    return docs


def ids(cursor) -> list:
    return [d["_id"] for d in cursor]


def test_filters(petitions):
    def find(query):
        return sorted(ids(petitions.find(query)))

    assert find({"status": "grouped"}) == ["p2", "p3"]
    assert find({"tags": "road"}) == ["p1"]  # an array member
    assert find({"issue_id": None}) == ["p1"]  # null
    assert find({"locality.province_code": "37", "locality.ward_code": "14341"}) == ["p1", "p4"]
    assert find({"status": {"$in": ["received", "answered"]}}) == ["p1", "p4"]
    assert find({"_id": {"$in": ["p2", "p9"]}}) == ["p2"]
    assert find({"kind": {"$ne": "kien_nghi"}}) == ["p2", "p4"]
    assert find({"heat": {"$gt": 3}}) == ["p1", "p2"]
    assert find({"heat": {"$gte": 3, "$lt": 9}}) == ["p1", "p4"]
    assert find({"created_at": {"$lte": T0 + timedelta(days=1)}}) == ["p1", "p2"]
    assert find({"status": "grouped", "$or": [{"heat": {"$gt": 5}}, {"kind": "to_cao"}]}) == ["p2"]
    assert find({"$and": [{"locality.province_code": "37"}, {"heat": {"$lt": 5}}]}) == ["p4"]
    assert find({"answered": {"$exists": False}}) == ["p1", "p2", "p3"]
    assert find({"answered": {"$exists": True}}) == ["p4"]
    assert find({"tags": {"$size": 0}}) == ["p3"]
    assert find({"search": {"$regex": re.escape("(ho chieu")}}) == ["p3"]
    assert find({"search": {"$regex": "NUOC", "$options": "i"}}) == ["p2"]


def test_projection_sort_skip_limit_count(petitions):
    assert ids(petitions.find({}, {"_id": 1}).sort("heat", DESCENDING).limit(2)) == ["p2", "p1"]
    page = petitions.find({"locality.province_code": "37"}).sort(
        [("created_at", ASCENDING), ("_id", ASCENDING)]).skip(1).limit(1)
    assert ids(page) == ["p2"]
    slim = petitions.find_one({"_id": "p1"}, {"tags": 0, "search": 0})
    assert "tags" not in slim and slim["heat"] == 5
    only = petitions.find_one({"_id": "p1"}, {"heat": 1})
    assert only == {"_id": "p1", "heat": 5}
    assert petitions.count_documents({"status": "grouped"}) == 2
    assert petitions.count_documents({"kind": "to_cao", "heat": {"$gte": 1}}) == 1
    assert petitions.find_one({"_id": "p1"})["created_at"] == T0  # aware UTC back


def test_update_operators(db):
    docs = db["docs"]
    docs.insert_one({"_id": 1, "n": 1, "gone": "x", "log": ["a"], "set": [1], "open": [1, 2, 3],
                     "outbox": [{"id": "e1"}, {"id": "e2"}], "daily": {"d1": 1}})
    result = docs.update_one({"_id": 1}, {
        "$set": {"state": "done", "nested.field": 2}, "$unset": {"gone": "", "daily.d1": ""},
        "$inc": {"n": 2, "fresh": 1}, "$push": {"log": {"$each": ["b", "c"]}},
        "$addToSet": {"set": {"$each": [1, 2, 2]}}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    docs.update_one({"_id": 1}, {"$pull": {"open": 2}, "$pullAll": {"outbox": [{"id": "e1"}]}})
    doc = docs.find_one({"_id": 1})
    assert doc == {"_id": 1, "n": 3, "fresh": 1, "log": ["a", "b", "c"], "set": [1, 2],
                   "open": [1, 3], "outbox": [{"id": "e2"}], "daily": {}, "state": "done",
                   "nested": {"field": 2}}
    missed = docs.update_one({"_id": 1, "state": "open"}, {"$set": {"state": "x"}})
    assert (missed.matched_count, missed.modified_count) == (0, 0)
    docs.update_one({"_id": 1, "outbox": {"$size": 1}}, {"$unset": {"outbox": ""}})
    assert "outbox" not in docs.find_one({"_id": 1})


def test_upserts(db):
    docs = db["up"]
    first = docs.update_one({"_id": "a"}, {"$inc": {"n": 1}, "$setOnInsert": {"at": T0}},
                            upsert=True)
    assert first.upserted_id == "a"
    again = docs.update_one({"_id": "a"},
                            {"$inc": {"n": 1}, "$setOnInsert": {"at": T0 + timedelta(1)}},
                            upsert=True)
    assert again.upserted_id is None and again.modified_count == 1
    assert docs.find_one({"_id": "a"}) == {"_id": "a", "n": 2, "at": T0}
    made = docs.find_one_and_update({"key": "k"}, {"$inc": {"hits": 1}}, upsert=True,
                                    return_document=ReturnDocument.AFTER)
    assert made["key"] == "k" and made["hits"] == 1
    assert docs.find_one_and_update({"key": "k"}, {"$inc": {"hits": 1}}, upsert=True)["hits"] == 1


def test_find_one_and_update_sort_and_return(db):
    jobs = db["jobs"]
    jobs.insert_many([{"_id": i, "s": "due", "at": 10 - i} for i in range(5)])
    before = jobs.find_one_and_update({"s": "due"}, {"$set": {"s": "sent"}}, sort=[("at", 1)])
    assert before == {"_id": 4, "s": "due", "at": 6}
    after = jobs.find_one_and_update({"s": "due"}, {"$set": {"s": "sent"}}, sort=[("at", 1)],
                                     return_document=ReturnDocument.AFTER)
    assert after == {"_id": 3, "s": "sent", "at": 7}
    assert jobs.find_one_and_update({"s": "none"}, {"$set": {"s": "x"}}) is None
    gone = jobs.find_one_and_delete({"s": "due"}, sort=[("at", -1)])
    assert gone["_id"] == 0 and jobs.count_documents({}) == 4


def test_replace_many_and_deletes(db):
    docs = db["misc"]
    docs.insert_many([{"_id": i, "g": i % 2, "v": 0} for i in range(6)])
    assert docs.replace_one({"_id": 0, "v": 0}, {"v": 1, "w": True}).modified_count == 1
    assert docs.find_one({"_id": 0}) == {"_id": 0, "v": 1, "w": True}
    assert docs.replace_one({"_id": 0, "v": 0}, {"v": 2}).matched_count == 0
    many = docs.update_many({"g": 1}, {"$set": {"v": 5}})
    assert (many.matched_count, many.modified_count) == (3, 3)
    assert docs.update_many({"g": 1, "v": {"$ne": 5}}, {"$set": {"v": 6}}).matched_count == 0
    assert docs.delete_one({"_id": 1, "v": 0}).deleted_count == 0
    assert docs.delete_one({"_id": 1}).deleted_count == 1
    assert docs.delete_many({"g": 1}).deleted_count == 2
    assert sorted(ids(docs.find())) == [0, 2, 4]


def test_unique_and_compound_indexes(db):
    docs = db["uniq"]
    docs.create_index([("a", ASCENDING), ("b", ASCENDING)], unique=True, name="a_b")
    docs.create_index([("at", DESCENDING)])
    docs.insert_one({"a": 1, "b": 1})
    docs.insert_one({"a": 1, "b": 2})
    with pytest.raises(DuplicateKeyError):
        docs.insert_one({"a": 1, "b": 1})
    with pytest.raises(DuplicateKeyError):
        docs.insert_one({"_id": docs.find_one({"b": 2})["_id"], "a": 9, "b": 9})
    assert {"a_b", "at_-1"} <= {ix["name"] for ix in docs.list_indexes()}


def test_aggregate_match_group_sum(petitions):
    rows = list(petitions.aggregate([
        {"$match": {"locality.province_code": "37", "heat": {"$gte": 1}}},
        {"$group": {"_id": "$locality.ward_code", "n": {"$sum": 1}}},
    ]))
    assert sorted((r["_id"], r["n"]) for r in rows) == [("14341", 2), ("14342", 1)]
    rows = list(petitions.aggregate([
        {"$match": {"status": {"$in": ["grouped", "answered"]}}},
        {"$group": {"_id": {"kind": "$kind", "issue": "$issue_id"}, "n": {"$sum": 1}}},
    ]))
    assert sorted((r["_id"]["kind"], r["_id"]["issue"], r["n"]) for r in rows) == [
        ("kien_nghi", "i1", 1), ("phan_anh", "i1", 1), ("to_cao", "i2", 1)]
