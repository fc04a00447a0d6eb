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


def _version_claim(commitment_id: str, version: int) -> str:
    return f"{commitment_id}@{version}"

COMMITMENTS = "commitments"
# Decided changes, one document per (commitment, version) or per timed transition.
# FerretDB 1.24 does not make update_one atomic with its filter (two concurrent
# conditional updates may both match), but a unique _id is enforced atomically:
# whoever inserts the claim owns the change, and the claim carries the events
# (outbox), so each change and its events happen exactly once.
TRANSITIONS = "transitions"

INDEXES = [
    Index(COMMITMENTS, asc("conclusion_id"), unique=True, name="conclusion_unique"),
    Index(COMMITMENTS, asc("agency_id", "status"), name="by_agency"),
    Index(COMMITMENTS, asc("dialogue_id"), name="by_dialogue"),
    Index(COMMITMENTS, asc("locality.province_code", "locality.ward_code"), name="by_locality"),
    Index(COMMITMENTS, asc("deadline"), name="by_deadline"),
    Index(COMMITMENTS, asc("remind_at", "reminded"), name="sweep_remind"),
    Index(COMMITMENTS, asc("due_at", "overdue"), name="sweep_overdue"),
    Index(COMMITMENTS, asc("next_escalation_at"), name="sweep_escalate"),
    Index(TRANSITIONS, asc("commitment_id", "at"), name="transitions_of"),
    outbox.index(COMMITMENTS),
    outbox.index(TRANSITIONS),
]

_HIDDEN = {"outbox": 0}


class Store:
    def __init__(self, db: Database) -> None:
        self.commitments: Collection = db[COMMITMENTS]
        self.transitions: Collection = db[TRANSITIONS]

    def insert(self, doc: dict[str, Any], events: Iterable[Event], now: datetime) -> bool:
        """Insert a new commitment with its first events; False if it already exists."""
        try:
            self.commitments.insert_one(outbox.new_document(doc, events, now))
            return True
        except DuplicateKeyError:
            return False

    def get(self, commitment_id: str) -> dict[str, Any] | None:
        """The commitment, with any change already decided but not yet applied applied."""
        for _ in range(10):
            doc = self.commitments.find_one({"_id": commitment_id}, _HIDDEN)
            if doc is None:
                return None
            claim = self.transitions.find_one(
                {"_id": _version_claim(commitment_id, doc.get("version", 0))})
            if claim is None:
                return doc
            self._apply(claim)  # a crash or a lost write left it half done
        raise RuntimeError(f"commitment {commitment_id} keeps changing")

    def commit(self, doc: dict[str, Any], change: Change, events: list[Event],
               now: datetime, *, applied: str | None = None) -> bool:
        """Decide ``change`` on the version of ``doc`` that was read, with its events.

        Returns False if another change of that version was decided first: nothing done.
        """
        version = doc.get("version", 0)
        claim = {"_id": _version_claim(doc["_id"], version), "commitment_id": doc["_id"],
                 "version": version, "set": change.set, "push": change.push,
                 "applied": applied, "at": now}
        try:
            self.transitions.insert_one(outbox.new_document(claim, events, now))
        except DuplicateKeyError:
            return False
        self._apply(claim)
        return True

    def _apply(self, claim: dict[str, Any]) -> None:
        update: dict[str, Any] = {"$set": {**claim["set"], "version": claim["version"] + 1}}
        if claim.get("push"):
            update["$push"] = claim["push"]
        if claim.get("applied"):
            update["$addToSet"] = {"applied": claim["applied"]}
        self.commitments.update_one({"_id": claim["commitment_id"],
                                     "version": claim["version"]}, update)

    def claim_transition(self, commitment_id: str, key: str, events: list[Event],
                         now: datetime) -> bool:
        """Claim a timed transition (e.g. overdue for one deadline); True for the one
        sweeper that gets it, with its events staged in the claim."""
        try:
            self.transitions.insert_one(outbox.new_document(
                {"_id": f"{commitment_id}|{key}", "commitment_id": commitment_id, "at": now},
                events, now))
            return True
        except DuplicateKeyError:
            return False

    def set_flags(self, commitment_id: str, deadline: str, values: dict[str, Any]) -> None:
        """Record a timed transition on the commitment (idempotent: the same values)."""
        self.commitments.update_one({"_id": commitment_id, "deadline": deadline},
                                    {"$set": values})

    def due(self, field: str, now: datetime, extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Active commitments whose ``field`` time has come, for a sweep."""
        # One query per status: FerretDB pushes equality down but scans for $in.
        for status in ACTIVE:
            query = {"status": status, field: {"$lte": now}, **extra}
            yield from self.commitments.find(query, {"outbox": 0, "progress": 0, "history": 0})

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
