"""Concurrent writes lose nothing: each update is atomic with its filter, as on MongoDB.

Every check runs THREADS threads of OPS operations each against one server. On the
unpatched FerretDB 1.24 each of them fails (it reads, then writes back, in separate
steps); see bench/README.md for the numbers measured there.
"""

from __future__ import annotations

from pymongo import ReturnDocument

from tests.integration.conformance.conftest import OPS, THREADS

TOTAL = THREADS * OPS


def test_compare_and_set_wins_are_all_kept(db, hammer):
    docs = db["cas"]
    docs.insert_one({"_id": "x", "v": 0})

    def work(k: int) -> list:
        wins = 0
        for _ in range(OPS):
            old = docs.find_one({"_id": "x"})["v"]
            result = docs.update_one({"_id": "x", "v": old}, {"$set": {"v": old + 1}})
            wins += result.modified_count
        return [wins]

    wins = sum(hammer(work))
    assert wins > 0
    assert docs.find_one({"_id": "x"})["v"] == wins  # every reported win happened once


def test_inc_by_id_and_by_other_filters_loses_nothing(db, hammer):
    docs = db["counters"]
    docs.insert_one({"_id": "c", "key": "c", "n": 0, "m": 0})

    def work(k: int) -> list:
        for _ in range(OPS):
            if k % 2:  # half by _id (a per-document write), half by another field
                docs.update_one({"_id": "c"}, {"$inc": {"n": 1}})
            else:
                docs.update_one({"key": "c", "n": {"$gte": 0}}, {"$inc": {"n": 1, "m": 1}})
        return []

    hammer(work)
    doc = docs.find_one({"_id": "c"})
    assert doc["n"] == TOTAL
    assert doc["m"] == TOTAL // 2


def test_update_many_inc_loses_nothing(db, hammer):
    docs = db["many"]
    docs.insert_many([{"_id": i, "group": "g", "n": 0} for i in range(4)])

    def work(k: int) -> list:
        return [docs.update_many({"group": "g"}, {"$inc": {"n": 1}}).modified_count
                for _ in range(OPS // 4)]

    assert sum(hammer(work)) == 4 * TOTAL // 4
    assert [d["n"] for d in docs.find().sort("_id", 1)] == [TOTAL // 4] * 4


def test_push_and_add_to_set_keep_every_element(db, hammer):
    # All threads write all four documents in turn (four, not one, only because
    # FerretDB rewrites the whole document on each write: time grows with its size).
    docs = db["sets"]
    docs.insert_many([{"_id": d, "log": [], "tags": []} for d in range(4)])

    def work(k: int) -> list:
        for i in range(OPS):
            docs.update_one({"_id": i % 4}, {"$push": {"log": k * OPS + i},
                                             "$addToSet": {"tags": i % 20}})
        return []

    hammer(work)
    logs = {d["_id"]: d for d in docs.find()}
    for d in range(4):
        assert sorted(logs[d]["log"]) == [n for n in range(TOTAL) if n % OPS % 4 == d]
        assert sorted(logs[d]["tags"]) == [t for t in range(20) if t % 4 == d % 4]


def test_find_one_and_update_claims_each_job_once(db, hammer):
    # OPS rounds of THREADS jobs each: in every round each thread claims one job of
    # that round, so all threads compete for the same few documents at once (a
    # double claim shows as a repeated id, a lost one as a claim that found nothing).
    # Rounds keep each claim's scan short on FerretDB, which sorts in Go.
    jobs = db["jobs"]
    jobs.create_index([("round", 1), ("s", 1)])
    jobs.insert_many([{"_id": r * THREADS + j, "round": r, "s": "pending", "due": j}
                      for r in range(OPS) for j in range(THREADS)])

    def work(k: int) -> list:
        taken = []
        for r in range(OPS):
            job = jobs.find_one_and_update({"round": r, "s": "pending"},
                                           {"$set": {"s": "taken", "by": k}}, sort=[("due", 1)],
                                           return_document=ReturnDocument.AFTER)
            assert job is not None, f"round {r}: no job left for thread {k}"
            assert job["s"] == "taken" and job["by"] == k
            taken.append(job["_id"])
        return taken

    claims = hammer(work)
    assert sorted(claims) == list(range(TOTAL))  # each job claimed once
    assert jobs.count_documents({"s": "taken"}) == TOTAL


def test_find_one_and_delete_hands_each_document_out_once(db, hammer):
    queue = db["queue"]
    queue.insert_many([{"_id": i, "q": "a"} for i in range(TOTAL // 2)])

    def work(k: int) -> list:
        got = []
        while (doc := queue.find_one_and_delete({"q": "a"})) is not None:
            got.append(doc["_id"])
        return got

    assert sorted(hammer(work)) == list(range(TOTAL // 2))


def test_conditional_transitions_happen_once(db, hammer):
    docs = db["states"]
    docs.insert_many([{"_id": i, "state": "open", "log": []} for i in range(OPS)])

    def work(k: int) -> list:
        wins = []
        for i in range(OPS):
            result = docs.update_one({"_id": i, "state": "open"},
                                     {"$set": {"state": "done"}, "$push": {"log": k}})
            wins += [i] * result.modified_count
        return wins

    assert sorted(hammer(work)) == list(range(OPS))  # one winner per document
    assert all(len(d["log"]) == 1 for d in docs.find())


def test_replace_one_with_a_version_filter_keeps_every_win(db, hammer):
    docs = db["versions"]
    docs.insert_one({"_id": "r", "version": 0, "last": None})

    def work(k: int) -> list:
        wins = 0
        for _ in range(OPS):
            doc = docs.find_one({"_id": "r"})
            new = {"version": doc["version"] + 1, "last": k}
            wins += docs.replace_one({"_id": "r", "version": doc["version"]}, new).modified_count
        return [wins]

    wins = sum(hammer(work))
    doc = docs.find_one({"_id": "r"})
    assert wins > 0
    assert doc["version"] == wins


def test_upserts_racing_on_a_unique_index_make_one_document_each(db, hammer):
    counts = db["upserts"]
    counts.create_index("key", unique=True)

    def work(k: int) -> list:
        for i in range(OPS):
            counts.update_one({"key": f"k{i}"}, {"$inc": {"n": 1}, "$setOnInsert": {"first": k}},
                              upsert=True)
        return []

    hammer(work)
    assert counts.count_documents({}) == OPS
    assert all(d["n"] == THREADS for d in counts.find())


def test_upserts_by_id_with_find_one_and_update_count_every_call(db, hammer):
    windows = db["windows"]

    def work(k: int) -> list:
        seen = []
        for i in range(OPS):
            doc = windows.find_one_and_update({"_id": f"w{i % 10}"}, {"$inc": {"hits": 1}},
                                              upsert=True, return_document=ReturnDocument.AFTER)
            seen.append((doc["_id"], doc["hits"]))
        return seen

    seen = hammer(work)
    assert windows.count_documents({}) == 10
    for doc in windows.find():  # each window answered 1, 2, … n, no count twice
        assert sorted(h for w, h in seen if w == doc["_id"]) == list(range(1, doc["hits"] + 1))
    assert sum(d["hits"] for d in windows.find()) == TOTAL


def test_one_id_written_as_int_and_as_double_is_one_document(db, hammer):
    # MongoDB matches 7 and 7.0 alike: the two spellings must not race each other.
    docs = db["numeric"]
    docs.insert_one({"_id": 7, "n": 0, "state": "a"})

    def work(k: int) -> list:
        key = 7 if k % 2 else 7.0
        for _ in range(OPS):
            docs.update_one({"_id": key, "state": "a"}, {"$inc": {"n": 1}})
        return []

    hammer(work)
    assert docs.find_one({"_id": 7})["n"] == TOTAL
