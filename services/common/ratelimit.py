"""A fixed-window rate limit shared by every web worker, kept in MongoDB."""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common.clock import Clock, utcnow
from services.common.mongo import Index, asc

COLLECTION = "rate_limits"
INDEXES = [Index(COLLECTION, asc("window"), name="rate_window")]


class RateLimiter:
    def __init__(self, db: Database, limit: int, window_seconds: int = 60,
                 clock: Clock = utcnow) -> None:
        self.collection = db[COLLECTION]
        self.limit = limit
        self.window = window_seconds
        self.clock = clock

    def allow(self, key: str) -> bool:
        """Count one hit for ``key``; False once it is over the limit in this window."""
        window = int(self.clock().timestamp()) // self.window
        for _attempt in range(3):
            try:
                doc = self.collection.find_one_and_update(
                    {"_id": f"{key}|{window}"},
                    {"$inc": {"hits": 1}, "$setOnInsert": {"window": window}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                return doc["hits"] <= self.limit
            except DuplicateKeyError:  # two first hits of a window at once: count again
                continue
        return True

    def sweep(self) -> int:
        """Drop old windows (no TTL indexes on FerretDB)."""
        current = int(self.clock().timestamp()) // self.window
        return self.collection.delete_many({"window": {"$lt": current - 1}}).deleted_count
