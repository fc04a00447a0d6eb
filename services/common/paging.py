"""Pages of a large collection in order, on FerretDB.

FerretDB 1.24 filters by equality in its backend, but sorts, skips and limits in Go
after decoding every document the filter matched: a page of the newest petitions
among a million would decode a million documents. So documents carry the value they
are ordered by twice, cut into buckets: a fine one (the ``day`` they were created, the
``heat_band`` of an issue) and a coarse one (the ``month``, the ``heat_tier``). A page
is gathered bucket by bucket from the top until it is full: fine buckets while
matches are dense, then - once a few of them show that the page would take more fine
buckets than is worth against reading a coarse one whole - coarse ones, so that a rare
filter is not asked once for every day of several years.
Each step is an equality the backend answers with an index, and a page costs about
what it shows, however many documents match.

The price: the total is exact only when the walk reached the bottom; otherwise it is
how many were seen, and the caller says "more than".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

Doc = dict[str, Any]

# Asking the backend once costs about as much as reading this many documents: the walk
# moves to coarse buckets when the fine ones still to ask for the page would cost more
# than reading a coarse bucket whole (both estimated from the fine buckets walked).
QUERY_DOCS = 8
PROBE = 3


@dataclass(frozen=True)
class Scale:
    """An order cut into fine buckets (numbered: higher comes first) and coarse ones."""

    fine: str
    coarse: str
    fine_value: Callable[[int], Any]  # bucket number -> the value stored in ``fine``
    coarse_of: Callable[[int], int]  # fine number -> coarse number
    coarse_value: Callable[[int], Any]
    first_of: Callable[[int], int]  # coarse number -> its lowest fine number
    number: Callable[[Doc], int]  # a document's fine number
    per_coarse: int  # about how many fine buckets a coarse one holds


def _month_of(ordinal: int) -> int:
    day = date.fromordinal(ordinal)
    return day.year * 12 + day.month - 1


DAYS = Scale(
    fine="day", coarse="month",
    fine_value=lambda n: date.fromordinal(n).isoformat(),
    coarse_of=_month_of,
    coarse_value=lambda m: f"{m // 12:04d}-{m % 12 + 1:02d}",
    first_of=lambda m: date(m // 12, m % 12 + 1, 1).toordinal(),
    number=lambda d: date.fromisoformat(d["day"]).toordinal(),
    per_coarse=30)

HEAT = Scale(
    fine="heat_band", coarse="heat_tier",
    fine_value=lambda n: n, coarse_of=lambda n: n // 8, coarse_value=lambda t: t,
    first_of=lambda t: t * 8, number=lambda d: d["heat_band"], per_coarse=8)


@dataclass(frozen=True)
class Desc:
    """A sort key part in the other direction (ties broken by ascending id while the
    main key descends)."""

    value: Any

    def __lt__(self, other: Desc) -> bool:
        return other.value < self.value


def day_key(at: datetime) -> str:
    """The UTC date of ``at``, as stored in ``day`` fields."""
    return at.astimezone(UTC).date().isoformat()


def time_keys(at: datetime) -> dict[str, str]:
    """The ``DAYS`` bucket fields of a document created ``at`` (UTC)."""
    return {"day": day_key(at), "month": at.astimezone(UTC).strftime("%Y-%m")}


def heat_band(heat: float) -> int:
    """Eight bands per doubling of heat: near the top, a band holds few issues."""
    return int(8 * math.log2(1 + max(heat, 0.0)))


def heat_keys(heat: float) -> dict[str, int]:
    """The ``HEAT`` bucket fields of an issue with ``heat``."""
    band = heat_band(heat)
    return {"heat_band": band, "heat_tier": band // 8}


def walk(find: Callable[[Doc], Iterable[Doc]], query: Doc, scale: Scale, *, top: int,
         bottom: int, need: int, key: Callable[[Doc], Any],
         reverse: bool = True) -> tuple[list[Doc], bool]:
    """At least ``need + 1`` documents matching ``query`` in the order of ``key``
    (fine buckets ``top`` down to ``bottom``), or all of them; and whether that is all
    of them. ``find`` must return ``scale.fine``."""
    found: list[Doc] = []

    def take(batch: Iterable[Doc]) -> bool:
        found.extend(sorted(batch, key=key, reverse=reverse))
        return len(found) > need

    n, walked = top, 0
    while n >= bottom:
        if take(find({**query, scale.fine: scale.fine_value(n)})):
            return found, False
        n -= 1
        walked += 1
        if walked >= PROBE and _coarse_is_cheaper(len(found), walked, need, scale):
            break
    else:
        return found, True
    below = n + 1  # fine buckets from here up were walked
    coarse = scale.coarse_of(n)
    while coarse >= scale.coarse_of(bottom):
        batch = (d for d in find({**query, scale.coarse: scale.coarse_value(coarse)})
                 if scale.number(d) < below)
        if take(batch):
            return found, False
        coarse = scale.coarse_of(scale.first_of(coarse) - 1)
    return found, True


def _coarse_is_cheaper(found: int, walked: int, need: int, scale: Scale) -> bool:
    density = found / walked  # matches per fine bucket so far
    if density == 0:
        return True
    fine_cost = (need + 1 - found) / density * QUERY_DOCS
    return fine_cost > density * scale.per_coarse


def newest_first(find: Callable[[Doc], Iterable[Doc]], query: Doc, *, newest: date,
                 oldest: date, need: int, key: Callable[[Doc], Any]) -> tuple[list[Doc], bool]:
    """``walk`` over the days from ``newest`` back to ``oldest``."""
    return walk(find, query, DAYS, top=newest.toordinal(), bottom=oldest.toordinal(),
                need=need, key=key)
