"""Append-only audit trail of officers' changes: who, what, when, from where."""

from __future__ import annotations

import uuid
from typing import Any

from flask import has_request_context, request
from pymongo.database import Database

from services.common import logs
from services.common.auth import Principal
from services.common.clock import Clock, utcnow
from services.common.mongo import Index, asc

COLLECTION = "audit"
INDEXES = [
    Index(COLLECTION, asc("target_type", "target_id", "at"), name="audit_target"),
    Index(COLLECTION, asc("actor", "at"), name="audit_actor"),
]


class Audit:
    """Writes only inserts; nothing in the code base updates or deletes an entry."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self.collection = db[COLLECTION]
        self.clock = clock

    def record(self, principal: Principal | None, action: str, target_type: str,
               target_id: str, details: dict[str, Any] | None = None) -> None:
        remote = None
        user_agent = None
        if has_request_context():
            remote = request.headers.get("X-Forwarded-For", request.remote_addr)
            user_agent = request.headers.get("User-Agent")
        self.collection.insert_one({
            "_id": str(uuid.uuid4()),
            "at": self.clock(),
            "actor": principal.sub if principal else "anonymous",
            "roles": sorted(principal.roles) if principal else [],
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": details or {},
            "remote_addr": remote,
            "user_agent": user_agent,
            "request_id": logs.request_id.get(),
        })

    def trail(self, target_type: str, target_id: str) -> list[dict[str, Any]]:
        return list(self.collection.find({"target_type": target_type, "target_id": target_id},
                                         {"_id": 0}).sort("at", 1))
