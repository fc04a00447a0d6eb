"""The newest-first walk over day and month buckets (services/common/paging.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from services.common import paging


def test_buckets_walk_days_then_older_months_without_overlap():
    steps = list(paging.buckets(date(2026, 11, 28), date(2026, 8, 15)))
    days = [v for f, v, _ in steps if f == "day"]
    assert days[0] == "2026-11-28" and days[-1] == "2026-10-29" and len(days) == 31
    months = [(v, below) for f, v, below in steps if f == "month"]
    # October is read again for its first 28 days only, then whole older months
    assert months == [("2026-10", "2026-10-29"), ("2026-09", "2026-10-29"),
                      ("2026-08", "2026-10-29")]


def test_buckets_of_a_short_span_are_days_only():
    steps = list(paging.buckets(date(2026, 11, 28), date(2026, 11, 26)))
    assert [v for _, v, _ in steps] == ["2026-11-28", "2026-11-27", "2026-11-26"]
    assert list(paging.buckets(date(2026, 1, 5), date(2026, 1, 5))) == [
        ("day", "2026-01-05", None)]


def test_time_keys_are_utc():
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert paging.time_keys(late) == {"day": "2026-11-30", "month": "2026-11"}


def stored(n: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)
    docs = []
    for i in range(n):
        at = start - timedelta(minutes=rng.randrange(200 * 24 * 60))
        docs.append({"_id": f"p{i}", "created_at": at, "ward": rng.choice("ab"),
                     **paging.time_keys(at)})
    return docs


def finder(docs: list[dict], calls: list[dict]):
    def find(query: dict) -> list[dict]:
        calls.append(query)
        return [d for d in docs if all(d.get(k) == v for k, v in query.items())]
    return find


def key(d: dict):
    return (d["created_at"], d["_id"])


def test_a_page_is_the_newest_matches_in_order():
    docs = stored(600)
    calls: list[dict] = []
    found, whole = paging.newest_first(finder(docs, calls), {"ward": "a"},
                                       newest=date(2026, 11, 28), oldest=date(2026, 5, 1),
                                       need=40, key=key)
    expected = sorted((d for d in docs if d["ward"] == "a"), key=key, reverse=True)
    assert not whole and len(found) > 40
    assert found[:40] == expected[:40]
    # it stopped as soon as the page was full: far fewer steps than days in the span
    assert len(calls) < 31


def test_walking_to_the_oldest_bucket_sees_every_match_once():
    docs = stored(300)
    found, whole = paging.newest_first(finder(docs, []), {"ward": "b"},
                                       newest=date(2026, 11, 28), oldest=date(2026, 5, 1),
                                       need=10_000, key=key)
    expected = sorted((d for d in docs if d["ward"] == "b"), key=key, reverse=True)
    assert whole and found == expected
