"""The shared rate limit: exact across processes although each process takes its hits
from the shared count in leases, and cheap for a key that keeps coming."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from pymongo import MongoClient, monitoring

from services.common.clock import FixedClock
from services.common.ratelimit import COLLECTION, RateLimiter

START = datetime(2026, 11, 29, 3, 0, 10, tzinfo=UTC)


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent = 0

    def started(self, event) -> None:
        if event.command_name == "findAndModify":
            self.sent += 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def own_db(settings, listener: Commands | None = None):
    """A database on a client of its own: one limiter = one process."""
    client = MongoClient(settings.mongo_url, tz_aware=True,
                         event_listeners=[listener] if listener else [])
    return client, client[f"{settings.db_prefix}limits"]


def test_the_limit_holds_across_processes_under_concurrency(settings):
    clock = FixedClock(START)
    clients, limiters = [], []
    for _ in range(2):  # two web processes of four threads each
        client, db = own_db(settings)
        clients.append(client)
        limiters.append(RateLimiter(db, 150, clock=clock))
    allowed = [0] * 8

    def hit(k: int) -> None:
        limiter = limiters[k % 2]
        for _ in range(40):
            if limiter.allow("submit|10.0.0.1"):
                allowed[k] += 1

    pool = [threading.Thread(target=hit, args=(k,)) for k in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    # 320 attempts: exactly the limit allowed, leases or not (a process refused by the
    # shared count leaves the other one its unspent lease, which it then spends)
    assert sum(allowed) == 150
    assert not limiters[0].allow("submit|10.0.0.1")
    assert not limiters[1].allow("submit|10.0.0.1")
    doc = clients[0][f"{settings.db_prefix}limits"][COLLECTION].find_one()
    assert doc["hits"] >= sum(allowed)
    for client in clients:
        client.close()


def test_one_hit_costs_one_command_and_a_busy_key_far_fewer(settings):
    listener = Commands()
    client, db = own_db(settings, listener)
    limiter = RateLimiter(db, 1_000_000, clock=FixedClock(START))
    assert limiter.allow("submit|a")
    assert listener.sent == 1
    assert db[COLLECTION].find_one({"_id": {"$regex": "^submit\\|a\\|"}})["hits"] == 1
    for _ in range(499):
        assert limiter.allow("submit|b")
    # leases of 1, 2, 4, ... 64: 13 commands for 499 hits instead of 499
    assert listener.sent == 1 + 13
    client.close()


def test_a_full_window_refuses_without_asking_until_the_next(settings):
    listener = Commands()
    client, db = own_db(settings, listener)
    clock = FixedClock(START)
    limiter = RateLimiter(db, 30, clock=clock)
    outcomes = [limiter.allow("submit|c") for _ in range(40)]
    assert outcomes == [True] * 30 + [False] * 10
    sent = listener.sent
    assert all(not limiter.allow("submit|c") for _ in range(100))
    assert listener.sent == sent  # a flood of refusals costs no command
    # the other process sees the same full window
    other_client, other_db = own_db(settings)
    assert not RateLimiter(other_db, 30, clock=clock).allow("submit|c")
    other_client.close()
    clock.advance(minutes=1)
    assert limiter.allow("submit|c")
    assert limiter.sweep() == 0  # the previous window is kept one more minute
    clock.advance(minutes=2)
    assert limiter.sweep() == 2
    client.close()
