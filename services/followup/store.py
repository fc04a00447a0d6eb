"""The ``commitments`` collection: documents, indexes and conditional updates."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common import outbox
from services.common.events import Event
from services.common.mongo import Index, asc
from services.followup.domain import ACTIVE, Change

COMMITMENTS = "commitments"

INDEXES = [
    Index(COMMITMENTS, asc("conclusion_id"), unique=True, name="conclusion_unique"),
    Index(COMMITMENTS, asc("agency_id", "status"), name="by_agency"),
    Index(COMMITMENTS, asc("dialogue_id"), name="by_dialogue"),
    Index(COMMITMENTS, asc("locality.province_code", "locality.ward_code"), name="by_locality"),
    Index(COMMITMENTS, asc("deadline"), name="by_deadline"),
    Index(COMMITMENTS, asc("remind_at", "reminded"), name="sweep_remind"),
    Index(COMMITMENTS, asc("due_at", "overdue"), name="sweep_overdue"),
    Index(COMMITMENTS, asc("next_escalation_at"), name="sweep_escalate"),
    outbox.index(COMMITMENTS),
]


class Store:
    def __init__(self, db: Database) -> None:
        self.commitments: Collection = db[COMMITMENTS]

    def insert(self, doc: dict[str, Any], events: Iterable[Event], now: datetime) -> bool:
        """Insert a new commitment with its first events; False if it already exists."""
        try:
            self.commitments.insert_one(outbox.new_document(doc, events, now))
            return True
        except DuplicateKeyError:
            return False

    def get(self, commitment_id: str) -> dict[str, Any] | None:
        return self.commitments.find_one({"_id": commitment_id}, {"outbox": 0})

    def apply(self, doc: dict[str, Any], change: Change, events: list[Event], now: datetime,
              *, applied: str | None = None, expect: dict[str, Any] | None = None) -> bool:
        """Apply ``change`` and stage its events in one update, if nobody changed the
        document since it was read (same version) and ``applied`` was not applied yet.

        Returns False when the filter did not match (a race or a replay): nothing changed.
        """
        query: dict[str, Any] = {"_id": doc["_id"], "version": doc.get("version", 0),
                                 **(expect or {})}
        update: dict[str, Any] = {"$inc": {"version": 1}}
        if change.set:
            update["$set"] = dict(change.set)
        if change.push:
            update["$push"] = dict(change.push)
        if applied:
            query["applied"] = {"$ne": applied}
            update["$addToSet"] = {"applied": applied}
        return self.commitments.update_one(query, outbox.stage(update, events, now)) \
            .matched_count == 1

    def sweep_step(self, doc: dict[str, Any], change: Change, events: list[Event],
                   now: datetime, expect: dict[str, Any]) -> bool:
        """A timed transition: ``expect`` is the not-yet-done state, so that of several
        sweepers exactly one matches. The version is not checked (an officer's change
        meanwhile does not undo the passage of time) but is bumped."""
        query = {"_id": doc["_id"], "status": {"$in": list(ACTIVE)}, **expect}
        update: dict[str, Any] = {"$set": dict(change.set), "$inc": {"version": 1}}
        return self.commitments.update_one(query, outbox.stage(update, events, now)) \
            .matched_count == 1

    def due(self, field: str, now: datetime, extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Active commitments whose ``field`` time has come, for a sweep."""
        query = {field: {"$lte": now}, "status": {"$in": list(ACTIVE)}, **extra}
        return self.commitments.find(query, {"outbox": 0, "progress": 0, "history": 0})

    def page(self, query: dict[str, Any], page: int, size: int) -> tuple[list[dict], int]:
        total = self.commitments.count_documents(query)
        docs = list(self.commitments.find(query, {"outbox": 0, "progress": 0, "history": 0,
                                                  "applied": 0})
                    .sort([("deadline", 1), ("_id", 1)]).skip((page - 1) * size).limit(size))
        return docs, total

    def of_dialogue(self, dialogue_id: str) -> list[dict[str, Any]]:
        return list(self.commitments.find({"dialogue_id": dialogue_id},
                                          {"outbox": 0, "applied": 0, "history": 0})
                    .sort([("created_at", 1), ("_id", 1)]))

    def counts(self, query: dict[str, Any], by: str) -> list[dict[str, Any]]:
        """Counts per ``by`` and state; only $match/$group/$sum (FerretDB)."""
        return list(self.commitments.aggregate([
            {"$match": query},
            {"$group": {"_id": {"key": f"${by}", "status": "$status", "overdue": "$overdue",
                                "on_time": "$on_time"},
                        "n": {"$sum": 1}}},
        ]))
