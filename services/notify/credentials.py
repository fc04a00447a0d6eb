"""Providers' credentials in notify's database: every read and conditional write on the
``credentials`` collection (one document per provider, secrets encrypted by the caller).

Zalo's OAuth pair is the one user: :class:`services.notify.providers.ZaloTokens` keeps
its rules (who may refresh, when a token is stale), this store only its documents. A
refresh is guarded by a lease: the process whose conditional update on the read
``version`` takes it is the only one to spend the refresh token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.notify.store import CREDENTIALS


class Credentials:
    """The ``credentials`` collection, by provider id (``"zalo"``)."""

    def __init__(self, db: Database) -> None:
        self.col = db[CREDENTIALS]

    def get(self, provider: str) -> dict[str, Any] | None:
        return self.col.find_one({"_id": provider})

    def seed(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Store the first document of a provider unless one exists; the stored one."""
        try:
            self.col.insert_one(doc)
        except DuplicateKeyError:
            pass  # another process seeded it first
        return self.get(doc["_id"])

    def expire(self, provider: str, version: int, at: datetime) -> bool:
        """Mark the access token of ``version`` expired at ``at``; False if it moved on."""
        return self.col.update_one({"_id": provider, "version": version},
                                   {"$set": {"expires_at": at}}).modified_count == 1

    def claim(self, doc: dict[str, Any], lease: str, until: datetime) -> bool:
        """Take the refresh lease on the version that was read, if nobody took it since."""
        found = self.col.update_one(
            {"_id": doc["_id"], "version": doc["version"], "lease_token": doc.get("lease_token")},
            {"$set": {"lease_token": lease, "lease_until": until}})
        return found.modified_count == 1

    def renew(self, provider: str, lease: str, fields: dict[str, Any]) -> bool:
        """Store a refreshed pair under the lease ``lease``, next version, lease freed."""
        found = self.col.update_one(
            {"_id": provider, "lease_token": lease},
            {"$set": {**fields, "lease_token": None, "lease_until": None},
             "$inc": {"version": 1, "refreshes": 1}})
        return found.modified_count == 1

    def release(self, provider: str, lease: str) -> None:
        """Give the lease back after a failed refresh (the pair is unchanged)."""
        self.col.update_one({"_id": provider, "lease_token": lease},
                            {"$set": {"lease_token": None, "lease_until": None}})
