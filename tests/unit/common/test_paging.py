"""The newest-first walk over day and month buckets (services/common/paging.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.common import paging


def test_time_keys_are_utc():
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already 1 December in Hà Nội
    assert paging.time_keys(late) == {"day": "2026-11-30", "month": "2026-11"}


def stored(n: int, days: int = 200, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)
    docs = []
    for i in range(n):
        at = start - timedelta(minutes=rng.randrange(days * 24 * 60))
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


def walk(docs, calls, need, ward="a", oldest=date(2026, 5, 1)):
    return paging.newest_first(finder(docs, calls), {"ward": ward},
                               newest=date(2026, 11, 28), oldest=oldest, need=need, key=key)


def test_a_dense_page_is_the_newest_matches_read_day_by_day():
    docs = stored(8000)  # about 20 matches a day
    calls: list[dict] = []
    found, whole = walk(docs, calls, need=40)
    expected = sorted((d for d in docs if d["ward"] == "a"), key=key, reverse=True)
    assert not whole and found[:41] == expected[:41]
    assert all("day" in c for c in calls) and len(calls) <= 4


def test_a_sparse_filter_moves_to_months_after_a_few_days():
    docs = stored(300)  # under one match a day: months hold few
    calls: list[dict] = []
    found, whole = walk(docs, calls, need=10_000)
    expected = sorted((d for d in docs if d["ward"] == "a"), key=key, reverse=True)
    assert whole and found == expected  # every match once, in order, across the switch
    days = [c for c in calls if "day" in c]
    months = [c["month"] for c in calls if "month" in c]
    assert len(days) == paging.PROBE
    assert months == ["2026-11", "2026-10", "2026-09", "2026-08", "2026-07", "2026-06",
                      "2026-05"]


def test_a_dense_walk_to_the_end_sees_everything_once():
    docs = stored(3000, days=20)
    found, whole = walk(docs, [], need=10_000, ward="b", oldest=date(2026, 11, 1))
    expected = sorted((d for d in docs if d["ward"] == "b"), key=key, reverse=True)
    assert whole and found == expected


def test_heat_bands_grow_with_heat_and_narrow_near_the_top():
    assert paging.heat_band(0) == 0 and paging.heat_band(-3) == 0
    bands = [paging.heat_band(h) for h in (1, 2, 5, 10, 20, 100, 1000)]
    assert bands == sorted(bands) and len(set(bands)) == len(bands)
    assert paging.heat_keys(20.0) == {"heat_band": 35, "heat_tier": 4}


def test_hottest_first_walks_heat_bands_then_tiers():
    rng = random.Random(9)
    issues = []
    for i in range(2000):
        heat = float(int(rng.expovariate(1 / 6)))  # many cold issues, a few hot ones
        issues.append({"_id": f"i{i:04d}", "heat": heat, "status": "open",
                       **paging.heat_keys(heat)})
    top = max(d["heat_band"] for d in issues)

    def hot(d):
        return (-d["heat"], d["_id"])

    expected = sorted(issues, key=hot)
    calls: list[dict] = []
    found, whole = paging.walk(finder(issues, calls), {"status": "open"}, paging.HEAT,
                               top=top, bottom=0, need=20, key=hot, reverse=False)
    assert not whole and found[:21] == expected[:21]
    everything, whole = paging.walk(finder(issues, []), {"status": "open"}, paging.HEAT,
                                    top=top, bottom=0, need=10_000, key=hot, reverse=False)
    assert whole and everything == expected


def test_a_moderate_filter_keeps_to_days_for_a_small_page():
    # about 6 matches a day: a month would be ~180 documents for a page of 20
    docs = stored(2400)
    calls: list[dict] = []
    found, whole = walk(docs, calls, need=20)
    expected = sorted((d for d in docs if d["ward"] == "a"), key=key, reverse=True)
    assert not whole and found[:21] == expected[:21]
    assert all("day" in c for c in calls)
    # a deep page at the same density reads months instead of dozens of days
    calls.clear()
    found, _ = walk(docs, calls, need=800)
    assert found[:801] == expected[:801]
    assert any("month" in c for c in calls) and len(calls) < 20


def test_day_key_is_the_utc_date():
    late = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # already the 29th in Hà Nội
    assert paging.day_key(late) == "2026-11-28"
    assert paging.day_key(late.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))) == "2026-11-28"
