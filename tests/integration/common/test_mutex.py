"""The named mutex: a check across documents, then a write, stays whole under concurrency.

Single-document atomicity needs no lock (tests/integration/conformance); only a rule
that spans documents, like scheduling's clash check, takes ``mongo.mutex``."""

from __future__ import annotations

import contextlib
import threading

from services.common.mongo import LOCKS, LockTimeout, database, mutex


def hammer(threads: int, work) -> None:
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def test_mutex_keeps_a_check_then_write_whole(settings):
    db = database(settings, "locks")
    db["counter"].insert_one({"_id": "c", "n": 0})

    def bump(k: int) -> None:
        for _ in range(8):
            with mutex(db, "counter", f"other-{k % 2}"):
                n = db["counter"].find_one({"_id": "c"})["n"]
                db["counter"].update_one({"_id": "c"}, {"$set": {"n": n + 1}})

    hammer(4, bump)
    assert db["counter"].find_one({"_id": "c"})["n"] == 32  # no increment lost
    assert db[LOCKS].count_documents({}) == 0  # every name released


def test_mutex_is_released_when_the_work_fails(settings):
    db = database(settings, "locks")
    with contextlib.suppress(ValueError), mutex(db, "slot"):
        raise ValueError("the check refused")
    with mutex(db, "slot", timeout=1):  # would time out if still held
        assert db[LOCKS].count_documents({"_id": "mutex|slot"}) == 1
    assert db[LOCKS].count_documents({}) == 0


def test_a_held_name_times_out_and_a_dead_holders_lease_expires(settings):
    db = database(settings, "locks")
    with mutex(db, "busy"):
        try:
            with mutex(db, "busy", timeout=0.2):
                raise AssertionError("taken twice")
        except LockTimeout:
            pass
    db[LOCKS].insert_one({"_id": "mutex|dead", "owner": "gone", "at": 0.0})  # died long ago
    with mutex(db, "dead", timeout=1):
        assert db[LOCKS].find_one({"_id": "mutex|dead"})["owner"] != "gone"
