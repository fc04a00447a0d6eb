"""Newest-first pages of a large collection on FerretDB.

FerretDB 1.24 filters by equality in its backend, but sorts, skips and limits in Go
after decoding every document the filter matched: a page of the newest petitions
among a million would decode a million documents. So documents carry the ``day`` and
``month`` they were created (UTC), and a page is gathered bucket by bucket, newest
first - the last 31 days one day at a time, older ones a month at a time - until it is
full. Each step is an equality the backend answers with an index, and a page costs
what it shows plus one partly read bucket, however many documents match in all.

The price: the total is exact only when the walk reached the oldest bucket; otherwise
it is how many were seen, and the caller says "more than".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

DAYS = 31


def time_keys(at: datetime) -> dict[str, str]:
    """The bucket fields of a document created ``at``."""
    utc = at.astimezone(UTC)
    return {"day": utc.date().isoformat(), "month": utc.strftime("%Y-%m")}


def buckets(newest: date, oldest: date) -> Iterator[tuple[str, str, str | None]]:
    """(field, value, days before which to keep) from ``newest`` back to ``oldest``."""
    day = newest
    end = max(oldest, newest - timedelta(days=DAYS - 1))
    while day >= end:
        yield "day", day.isoformat(), None
        day -= timedelta(days=1)
    if day < oldest:
        return
    below = (day + timedelta(days=1)).isoformat()  # the first day already walked
    month = date(day.year, day.month, 1)
    while month >= date(oldest.year, oldest.month, 1):
        yield "month", month.strftime("%Y-%m"), below
        month = (month - timedelta(days=1)).replace(day=1)


def newest_first(find: Callable[[dict[str, Any]], Iterable[dict[str, Any]]],
                 query: dict[str, Any], *, newest: date, oldest: date, need: int,
                 key: Callable[[dict[str, Any]], Any]) -> tuple[list[dict[str, Any]], bool]:
    """At least ``need + 1`` documents matching ``query``, newest first by ``key``,
    or all of them; and whether that is all of them. ``find`` must return ``day``."""
    found: list[dict[str, Any]] = []
    for field, value, below in buckets(newest, oldest):
        batch = [d for d in find({**query, field: value}) if below is None or d["day"] < below]
        batch.sort(key=key, reverse=True)
        found.extend(batch)
        if len(found) > need:
            return found, False
    return found, True
