"""Single-document writes stay atomic under concurrency on FerretDB (through the kit)."""

from __future__ import annotations

import contextlib
import threading

from pymongo import ReturnDocument

from services.common.mongo import (
    LOCKS,
    LockingDatabase,
    database,
    guarded,
    hold,
    mutex,
    needs_locks,
)


def hammer(threads: int, work) -> list:
    results: list = []
    lock = threading.Lock()

    def run(k: int) -> None:
        out = work(k)
        with lock:
            results.extend(out)

    pool = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def test_kit_guards_ferretdb(settings):
    db = database(settings, "locks")
    assert needs_locks(db)  # the test servers are FerretDB
    assert isinstance(guarded(db), LockingDatabase)
    assert not isinstance(guarded(db, "off"), LockingDatabase)


def test_conditional_transition_happens_once_and_no_push_is_lost(settings):
    db = guarded(database(settings, "locks"), "on")
    docs = db["docs"]
    docs.insert_many([{"_id": i, "state": "open", "log": []} for i in range(12)])

    def transition(k: int) -> list:
        wins = []
        for i in range(12):
            result = docs.update_one({"_id": i, "state": "open"},
                                     {"$set": {"state": "done"}, "$push": {"log": k}})
            if result.modified_count:
                wins.append(i)
        return wins

    wins = hammer(4, transition)
    assert sorted(wins) == list(range(12))  # each document changed state exactly once
    assert all(len(d["log"]) == 1 for d in docs.find())

    def push(k: int) -> list:
        for j in range(15):
            docs.update_one({"_id": 0}, {"$push": {"log": f"{k}-{j}"}, "$inc": {"n": 1}})
        return []

    hammer(4, push)
    doc = docs.find_one({"_id": 0})
    assert doc["n"] == 60 and len(doc["log"]) == 61


def test_claiming_jobs_without_an_id_gives_each_job_to_one_claimer(settings):
    db = guarded(database(settings, "locks"), "on")
    jobs = db["jobs"]
    jobs.insert_many([{"_id": f"j{i:02d}", "state": "pending", "due": i} for i in range(20)])

    def claim(k: int) -> list:
        claimed = []
        while True:
            job = jobs.find_one_and_update({"state": "pending"},
                                           {"$set": {"state": "sending", "by": k}},
                                           sort=[("due", 1)],
                                           return_document=ReturnDocument.AFTER)
            if job is None:
                return claimed
            assert job["by"] == k
            claimed.append(job["_id"])

    claimed = hammer(4, claim)
    assert sorted(claimed) == [f"j{i:02d}" for i in range(20)]  # none twice, none missed


def test_hold_keeps_a_read_then_write_whole(settings):
    db = guarded(database(settings, "locks"), "on")
    docs = db["docs"]
    docs.insert_one({"_id": "counter", "n": 0, "seen": []})

    def work(k: int) -> list:
        for i in range(5):
            with hold(docs, "counter") as plain:
                doc = plain.find_one({"_id": "counter"})
                # a read-modify-write that loses updates unless nobody writes in between
                plain.update_one({"_id": "counter"},
                                 {"$set": {"n": doc["n"] + 1, "seen": [*doc["seen"], k * 10 + i]}})
        return [k]

    assert len(hammer(6, work)) == 6
    doc = docs.find_one({"_id": "counter"})
    assert doc["n"] == 30 and sorted(doc["seen"]) == sorted(k * 10 + i for k in range(6)
                                                            for i in range(5))
    assert db.raw["_locks"].count_documents({}) == 0


def test_concurrent_upserts_of_a_new_document_count_every_write(settings):
    db = guarded(database(settings, "locks"), "on")
    docs = db["docs"]

    def work(k: int) -> list:
        for _ in range(5):
            docs.update_one({"_id": "fresh"}, {"$inc": {"n": 1}, "$setOnInsert": {"by": k}},
                            upsert=True)
        found = docs.find_one_and_update({"_id": f"own-{k}"}, {"$inc": {"n": 1}}, upsert=True,
                                         return_document=ReturnDocument.AFTER)
        return [found["n"]]

    assert hammer(6, work) == [1] * 6
    assert docs.find_one({"_id": "fresh"})["n"] == 30


def test_mutex_keeps_a_check_then_write_whole_on_any_backend(settings):
    # "off": the plain database, as on MongoDB, where hold() locks nothing
    db = guarded(database(settings, "locks"), "off")
    db["counter"].insert_one({"_id": "c", "n": 0})

    def bump(k: int) -> list:
        for _ in range(8):
            with mutex(db, "counter", f"other-{k % 2}"):
                n = db["counter"].find_one({"_id": "c"})["n"]
                db["counter"].update_one({"_id": "c"}, {"$set": {"n": n + 1}})
        return []

    hammer(4, bump)
    assert db["counter"].find_one({"_id": "c"})["n"] == 32  # no increment lost
    assert db[LOCKS].count_documents({}) == 0  # every name released


def test_mutex_is_released_when_the_work_fails(settings):
    db = guarded(database(settings, "locks"), "on")
    with contextlib.suppress(ValueError), mutex(db, "slot"):
        raise ValueError("the check refused")
    with mutex(db, "slot", timeout=1):  # would time out if still held
        assert db.raw[LOCKS].count_documents({"_id": "mutex|slot"}) == 1
    assert db.raw[LOCKS].count_documents({}) == 0
