"""The senders' share of a provider's per-minute limit, taken in chunks (no servers: the
store here only adds up, as the database's $inc would)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.clock import FixedClock
from services.notify.delivery import Quota


class Counts:
    def __init__(self) -> None:
        self.hits: dict[tuple[str, int], int] = {}
        self.calls = 0

    def take_quota(self, key: str, window: int, n: int) -> int:
        self.calls += 1
        self.hits[key, window] = self.hits.get((key, window), 0) + n
        return self.hits[key, window]


def test_a_chunk_costs_one_command_and_two_senders_never_exceed_the_limit():
    clock = FixedClock(datetime(2027, 3, 9, 3, 0, 5, tzinfo=UTC))
    store = Counts()
    a, b = (Quota(store, {"sms": 105}, clock, chunk=10) for _ in range(2))
    allowed = [q.allow("sms", "sms:esms") for q in (a, b) * 70]
    assert sum(allowed) == 105  # both senders together, whichever sends more
    # a command per chunk of 10 sends, and one each to learn the minute is spent
    assert store.calls == 11 + 1
    clock.advance(minutes=1)  # a new minute, a new allowance
    assert a.allow("sms", "sms:esms")


def test_a_small_limit_is_taken_one_by_one():
    clock = FixedClock(datetime(2027, 3, 9, 3, 0, 5, tzinfo=UTC))
    store = Counts()
    quota = Quota(store, {"email": 3}, clock)
    assert [quota.allow("email", "email:smtp") for _ in range(5)] == [True] * 3 + [False] * 2
