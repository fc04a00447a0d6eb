"""A fixed-window rate limit shared by every web worker, kept in MongoDB.

The window's count lives in one document per key and window. Each process takes hits
from it in *leases*: the first hit of a key in a window takes one (one command, as
before); a key that keeps coming takes twice as many each time, up to ``max_lease`` and
never more than an eighth of what the window has left, and spends them locally. Every
hit a process allows was counted in the shared document first, so the limit holds
across processes; the price is that hits leased and not yet spent count as used, at
most an eighth of the remaining budget per process. Once the shared count has reached
the limit, the process refuses the key until the window ends without asking again
(the count of a window only grows), which also makes a flood of refused requests
cost no database command.

Why: every public submission from one address (a commune office behind one NAT, or
the bench) updated the same document, and the server applies those one at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common.clock import Clock, utcnow
from services.common.mongo import Index, asc

COLLECTION = "rate_limits"
INDEXES = [Index(COLLECTION, asc("window"), name="rate_window")]


@dataclass
class _Lease:
    left: int = 0  # hits leased by this process and not spent yet
    size: int = 0  # the last lease taken
    seen: int = 0  # the shared count after it
    full: bool = False  # the shared count reached the limit in this window


class RateLimiter:
    def __init__(self, db: Database, limit: int, window_seconds: int = 60,
                 clock: Clock = utcnow, max_lease: int = 64) -> None:
        self.collection = db[COLLECTION]
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_lease = max(1, max_lease)
        self._lock = threading.Lock()
        self._current: int | None = None  # the window the leases belong to
        self._leases: dict[str, _Lease] = {}

    def allow(self, key: str) -> bool:
        """Count one hit for ``key``; False once it is over the limit in this window."""
        window = int(self.clock().timestamp()) // self.window
        with self._lock:
            if window != self._current:  # a new window: earlier leases are void
                self._current, self._leases = window, {}
            lease = self._leases.setdefault(key, _Lease())
            if lease.left:
                lease.left -= 1
                return True
            if lease.full:
                return False
            size = self._next_size(lease)
        total = self._take(key, window, size)
        granted = max(0, min(size, self.limit - (total - size)))
        with self._lock:
            if window == self._current:
                lease = self._leases.setdefault(key, _Lease())
                lease.size, lease.seen = size, total
                lease.full = total >= self.limit
                lease.left += max(0, granted - 1)
        return granted > 0

    def _next_size(self, lease: _Lease) -> int:
        if not lease.size:
            return 1  # most keys (one citizen, one submission) never need more
        remaining = self.limit - lease.seen
        return max(1, min(self.max_lease, 2 * lease.size, remaining // 8))

    def _take(self, key: str, window: int, n: int) -> int:
        """Add ``n`` hits to the shared count; the count after them."""
        for _attempt in range(3):
            try:
                doc = self.collection.find_one_and_update(
                    {"_id": f"{key}|{window}"},
                    {"$inc": {"hits": n}, "$setOnInsert": {"window": window}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                return doc["hits"]
            except DuplicateKeyError:  # two first hits of a window at once: count again
                continue
        return n

    def sweep(self) -> int:
        """Drop old windows (no TTL indexes on FerretDB)."""
        current = int(self.clock().timestamp()) // self.window
        return self.collection.delete_many({"window": {"$lt": current - 1}}).deleted_count
