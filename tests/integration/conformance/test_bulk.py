"""Commands with many statements work at any size, as on MongoDB.

FerretDB 1.24's update keeps one PostgreSQL connection per statement until the whole
command ends (msg_update.go closes each statement's iterator in a deferred call), so a
`bulk_write` with more statements than its pool (50) waited forever and stalled every
other client with it. The proxy in deploy/ferretdb now sends such an update as one
command per statement and merges the replies. The client here has socket and
server-selection time-outs, so a hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import DeleteOne, MongoClient, UpdateMany, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError
from pymongo.write_concern import WriteConcern

from tests.integration.conformance.conftest import THREADS, URL

MANY = 200  # statements per command: four times FerretDB's pool of 50 connections


@pytest.fixture(scope="module")
def bounded() -> Iterator[MongoClient]:
    client = MongoClient(URL, tz_aware=True, serverSelectionTimeoutMS=5000,
                         socketTimeoutMS=30000, connectTimeoutMS=5000, maxPoolSize=16)
    yield client
    client.close()


@pytest.fixture
def bdb(bounded: MongoClient, db: Database) -> Database:
    return bounded[db.name]  # the same throwaway database, dropped by `db`


def _seed(docs, count: int) -> None:
    docs.insert_many([{"_id": i, "n": 0, "group": i % 4} for i in range(count)])


@pytest.mark.parametrize("ordered", [True, False])
def test_bulk_write_of_many_update_one_with_upserts(bdb, ordered):
    docs = bdb["bulk"]
    _seed(docs, MANY // 2)
    # even statements update a seeded document, odd ones upsert a new one
    ops = [UpdateOne({"_id": i // 2}, {"$inc": {"n": 1}}) if i % 2 == 0
           else UpdateOne({"_id": 1000 + i}, {"$set": {"n": 7}}, upsert=True)
           for i in range(MANY)]
    result = docs.bulk_write(ops, ordered=ordered)
    assert result.matched_count == MANY // 2
    assert result.modified_count == MANY // 2
    assert result.upserted_count == MANY // 2
    # each upsert is reported at its own statement's index
    assert result.upserted_ids == {i: 1000 + i for i in range(1, MANY, 2)}
    assert docs.count_documents({"n": 1}) == MANY // 2
    assert docs.count_documents({"n": 7}) == MANY // 2


def test_update_command_with_many_multi_statements(bdb):
    docs = bdb["multi"]
    _seed(docs, 40)
    ops = [UpdateMany({"group": i % 4}, {"$inc": {"n": 1}}) for i in range(MANY)]
    result = docs.bulk_write(ops)
    # each statement matches the 10 documents of its group
    assert result.matched_count == MANY * 10
    assert result.modified_count == MANY * 10
    assert sum(d["n"] for d in docs.find()) == MANY * 10
    # the raw command answers the same, with no upserted field when nothing was upserted
    reply = bdb.command("update", "multi", updates=[
        {"q": {"group": g}, "u": {"$set": {"tag": g}}, "multi": True} for g in range(4)] * 20)
    assert reply["n"] == 20 * 40
    assert reply["nModified"] == 40  # the first pass of each group sets it, the rest match
    assert "upserted" not in reply and "writeErrors" not in reply


@pytest.mark.parametrize("ordered", [True, False])
def test_bulk_write_error_in_the_middle(bdb, ordered):
    docs = bdb["errors"]
    _seed(docs, MANY)
    docs.update_one({"_id": 50}, {"$set": {"n": "text"}})  # $inc on it is a write error
    ops = [UpdateOne({"_id": i}, {"$inc": {"n": 1}}) for i in range(MANY)]
    with pytest.raises(BulkWriteError) as caught:
        docs.bulk_write(ops, ordered=ordered)
    details = caught.value.details
    assert [e["index"] for e in details["writeErrors"]] == [50]
    done = 50 if ordered else MANY - 1  # ordered stops at the error, unordered goes on
    assert details["nMatched"] == done
    assert details["nModified"] == done
    assert docs.count_documents({"n": 1}) == done
    assert docs.find_one({"_id": 50})["n"] == "text"


def test_unacknowledged_bulk_write_is_applied(bdb):
    # one connection: the server handles its requests in order, so the count that
    # follows the w:0 bulk (flagged moreToCome, no reply) sees every statement applied
    client = MongoClient(URL, serverSelectionTimeoutMS=5000, socketTimeoutMS=30000,
                         maxPoolSize=1)
    try:
        docs = client[bdb.name]["unacknowledged"]
        _seed(docs, MANY)
        fire = docs.with_options(write_concern=WriteConcern(w=0))
        # unordered: pymongo sends an ordered w:0 bulk acknowledged, to stop at an error
        result = fire.bulk_write([UpdateOne({"_id": i}, {"$inc": {"n": 1}}) for i in range(MANY)],
                                 ordered=False)
        assert not result.acknowledged
        assert docs.count_documents({"n": 1}) == MANY
        fire.update_one({"_id": 0}, {"$inc": {"n": 1}})  # one statement, w:0
        assert docs.find_one({"_id": 0})["n"] == 2
    finally:
        client.close()


def test_delete_with_many_statements(bdb):
    docs = bdb["deletes"]
    _seed(docs, MANY)
    result = docs.bulk_write([DeleteOne({"_id": i}) for i in range(MANY)], ordered=False)
    assert result.deleted_count == MANY
    assert docs.count_documents({}) == 0


def test_concurrent_bulk_writes_lose_nothing(bdb, hammer):
    docs = bdb["concurrent"]
    _seed(docs, 10)

    def work(k: int) -> list:
        ops = [UpdateOne({"_id": i % 10}, {"$inc": {"n": 1}}) for i in range(MANY)]
        ops += [UpdateOne({"group": k % 4, "n": {"$gte": 0}}, {"$inc": {"n": 1}})] * 10
        ops += [UpdateOne({"_id": f"u{k}-{i}"}, {"$inc": {"n": 1}}, upsert=True)
                for i in range(20)]
        result = docs.bulk_write(ops, ordered=k % 2 == 0)
        return [result.modified_count + result.upserted_count]

    assert sum(hammer(work)) == THREADS * (MANY + 10 + 20)
    total = sum(d["n"] for d in docs.find())
    assert total == THREADS * (MANY + 10 + 20)
    assert bdb.command("ping")["ok"] == 1
