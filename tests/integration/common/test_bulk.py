"""Bulk writes in small commands: FerretDB 1.24 blocks on a bulk larger than its pool."""

from __future__ import annotations

import pytest
from pymongo import MongoClient, UpdateOne, monitoring
from pymongo.errors import BulkWriteError

from services.common.mongo import BULK_CHUNK, bulk_write, insert_new


class Updates(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sizes: list[int] = []

    def started(self, event) -> None:
        if event.command_name == "update" and event.command.get("update") == "bulk":
            self.sizes.append(len(event.command["updates"]))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_a_large_bulk_goes_in_small_commands_and_its_counts_add_up(settings):
    listener = Updates()
    client = MongoClient(settings.mongo_url, event_listeners=[listener])
    coll = client[settings.db_prefix + "bulk"]["bulk"]
    coll.insert_many([{"_id": f"p{i}", "n": 0} for i in range(60)])
    ops = [UpdateOne({"_id": f"p{i}", "n": 0}, {"$set": {"n": 1}}) for i in range(60)]
    ops += [UpdateOne({"_id": f"new{i}"}, {"$set": {"n": 1}}, upsert=True) for i in range(5)]
    result = bulk_write(coll, ops, ordered=False)
    assert (result.matched_count, result.upserted_count) == (60, 5)
    assert coll.count_documents({"n": 1}) == 65
    assert listener.sizes and max(listener.sizes) <= BULK_CHUNK and sum(listener.sizes) == 65
    client.drop_database(settings.db_prefix + "bulk")
    client.close()


def test_insert_new_inserts_the_new_and_names_the_taken(settings):
    """One unordered insert: the documents whose _id exists (or repeats one earlier in
    the list) are named by position, the others are written; other errors raise."""
    client = MongoClient(settings.mongo_url)
    coll = client[settings.db_prefix + "insertnew"]["docs"]
    coll.insert_one({"_id": "old", "v": 0})
    docs = [{"_id": "a", "v": 1}, {"_id": "old", "v": 1}, {"_id": "b", "v": 1},
            {"_id": "a", "v": 2}]
    assert insert_new(coll, docs) == {1, 3}
    assert {d["_id"]: d["v"] for d in coll.find()} == {"old": 0, "a": 1, "b": 1}
    assert insert_new(coll, []) == set()
    assert insert_new(coll, [{"_id": "c"}, {"_id": "d"}]) == set()
    assert coll.count_documents({}) == 5
    coll.create_index("code", unique=True)
    coll.insert_one({"_id": "e", "code": "x"})
    assert insert_new(coll, [{"_id": "f", "code": "x"}]) == {0}  # any unique key counts
    with pytest.raises(BulkWriteError):
        insert_new(coll, [{"_id": ["an", "array"]}])  # not a valid _id
    client.drop_database(settings.db_prefix + "insertnew")
    client.close()
