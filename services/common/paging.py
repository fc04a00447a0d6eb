"""Newest-first pages of a large collection on FerretDB.

FerretDB 1.24 filters by equality in its backend, but sorts, skips and limits in Go
after decoding every document the filter matched: a page of the newest petitions
among a million would decode a million documents. So documents carry the ``day`` and
``month`` they were created (UTC), and a page is gathered bucket by bucket, newest
first, until it is full: day by day while matches are dense, then - once a few days
show that a month holds few - a month at a time, so that a rare filter is not asked
once for every day of several years. Each step is an equality the backend answers
with an index, and a page costs about what it shows, however many documents match.

The price: the total is exact only when the walk reached the oldest bucket; otherwise
it is how many were seen, and the caller says "more than".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

Doc = dict[str, Any]

# A month is read whole once the days walked so far say it holds at most this many.
MONTH_MAX = 300
PROBE_DAYS = 3


def time_keys(at: datetime) -> dict[str, str]:
    """The bucket fields of a document created ``at``."""
    utc = at.astimezone(UTC)
    return {"day": utc.date().isoformat(), "month": utc.strftime("%Y-%m")}


def _month_start(day: date) -> date:
    return day.replace(day=1)


def newest_first(find: Callable[[Doc], Iterable[Doc]], query: Doc, *, newest: date,
                 oldest: date, need: int, key: Callable[[Doc], Any],
                 month_max: int = MONTH_MAX) -> tuple[list[Doc], bool]:
    """At least ``need + 1`` documents matching ``query``, newest first by ``key``,
    or all of them; and whether that is all of them. ``find`` must return ``day``."""
    found: list[Doc] = []

    def take(batch: Iterable[Doc]) -> bool:
        found.extend(sorted(batch, key=key, reverse=True))
        return len(found) > need

    day, walked = newest, 0
    while day >= oldest:
        if take(find({**query, "day": day.isoformat()})):
            return found, False
        day -= timedelta(days=1)
        walked += 1
        if walked >= PROBE_DAYS and len(found) * 30 <= month_max * walked:
            break
    else:
        return found, True
    below = (day + timedelta(days=1)).isoformat()  # days from here on were walked
    month = _month_start(day)
    while month >= _month_start(oldest):
        batch = (d for d in find({**query, "month": month.strftime("%Y-%m")})
                 if d["day"] < below)
        if take(batch):
            return found, False
        month = _month_start(month - timedelta(days=1))
    return found, True
