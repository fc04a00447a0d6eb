"""Collections of the intake service, the indexes their queries need, and every query."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.cursor import Cursor
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common import outbox
from services.common.mongo import Index, asc, bulk_write, insert_new
from services.common.outbox import FIELD
from services.common.ratelimit import INDEXES as RATE_INDEXES

PETITIONS = "petitions"
ISSUES = "issues"
# Where each issue's clustering centroid was kept before it moved into the issue
# document itself (``Store.upgrade_centroids``): counting a petition into an issue and
# moving its centroid are one write. Views project the centroid out.
CENTROIDS = "issue_centroids"
# (issue_id, petitioner fingerprint) pairs, one document each: counts distinct
# petitioners of an issue without a growing array in the issue document.
PETITIONERS = "issue_petitioners"
META = "meta"
OPEN = "open"
# Set while a petition waits to be grouped, unset in the same write that groups it:
# FerretDB cannot find ``issue_id: null`` by index, but finds this flag by one.
UNGROUPED = "ungrouped"

INDEXES = [
    Index(PETITIONS, asc("tracking_code"), unique=True, name="tracking_code"),
    Index(PETITIONS, asc("source_system", "external_ref"), name="external_ref"),
    Index(PETITIONS, asc("province_code", "ward_code", "category", "created_at"),
          name="petition_filters"),
    Index(PETITIONS, asc("status", "created_at"), name="petition_status"),
    Index(PETITIONS, asc("issue_id", "created_at"), name="petition_issue"),
    Index(PETITIONS, asc("ungrouped"), name="petition_ungrouped"),
    # the newest-first walk (services/common/paging.py) and word search
    Index(PETITIONS, asc("day"), name="petition_day"),
    Index(PETITIONS, asc("month"), name="petition_month"),
    # an array of words: GIN only (see deploy/postgres/tuning.sql)
    Index(PETITIONS, asc("terms"), name="gin_only_terms"),
    outbox.index(PETITIONS),
    Index(ISSUES, asc("province_code", "ward_code", "status", "heat"), name="issue_filters"),
    Index(ISSUES, asc("locality.province_code", "status", "heat"), name="issue_heat"),
    Index(ISSUES, asc("status", "last_petition_at"), name="issue_recent"),
    Index(ISSUES, asc("trending"), name="issue_trending"),
    # the hottest-first and newest-first walks (services/common/paging.py)
    Index(ISSUES, asc("heat_band"), name="issue_heat_band"),
    Index(ISSUES, asc("heat_tier"), name="issue_heat_tier"),
    Index(ISSUES, asc("day"), name="issue_day"),
    # the centroids changed lately (each grouping process's walk, services/intake/grouping.py)
    Index(ISSUES, asc("slot"), name="issue_slot"),
    Index(ISSUES, asc("month"), name="issue_month"),
    outbox.index(ISSUES),
    Index(PETITIONERS, asc("issue_id", "fingerprint"), unique=True, name="issue_fingerprint"),
    *RATE_INDEXES,
]


class Bounds:
    """Bounds kept in ``meta``: the oldest petition's day, where newest-first walks
    end; the highest heat band, where hottest-first walks start. Each process
    remembers the furthest it has seen, so the database is asked only when a value
    goes further."""

    def __init__(self, meta: Collection) -> None:
        self.meta = meta
        self._known: dict[str, Any] = {}

    def widen(self, marker: str, value: Any, *, lower: bool) -> None:
        """Move ``marker`` out to ``value`` when it lies beyond."""
        known = self._known.get(marker)
        if known is not None and (value >= known if lower else value <= known):
            return
        beyond = {"$gt": value} if lower else {"$lt": value}
        moved = self.meta.update_one({"_id": marker, "value": beyond},
                                     {"$set": {"value": value}})
        if not moved.matched_count and known is None:
            with contextlib.suppress(DuplicateKeyError):  # further already, or the first
                self.meta.insert_one({"_id": marker, "value": value})
        self._known[marker] = value if known is None else (min if lower else max)(known,
                                                                                 value)

    def value(self, marker: str) -> Any:
        doc = self.meta.find_one({"_id": marker})
        return doc["value"] if doc else None


def slot(at: datetime) -> int:
    """When a centroid last changed, in 10-second steps (an equality to filter on)."""
    return int(at.timestamp()) // 10


def bucket_key(ward: str, category: str) -> str:
    """The clustering bucket of an issue: its commune and category."""
    return f"{ward}|{category}"


def bucket_of(key: str) -> tuple[str, str]:
    """Inverse of ``bucket_key``."""
    ward, _, category = key.partition("|")
    return ward, category


# What the grouping reads of an issue to cluster petitions into it.
CENTROID_FIELDS = {"centroid": 1, "cv": 1, "status": 1, "bucket": 1}
# What the views and counting read: everything but the outbox and the centroid.
NO_CENTROID = {FIELD: 0, "centroid": 0}


class Store:
    """Every query of intake: petitions, issues, their centroids and petitioners."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.petitions = db[PETITIONS]
        self.issues = db[ISSUES]
        self.centroids = db[CENTROIDS]  # legacy, read only by upgrade_centroids
        self.petitioners = db[PETITIONERS]
        self.meta = db[META]
        self.bounds = Bounds(self.meta)

    # --- petitions ---------------------------------------------------------------------
    def petition(self, pid: str, projection: dict[str, int] | None = None
                 ) -> dict[str, Any] | None:
        return self.petitions.find_one({"_id": pid}, projection or {FIELD: 0})

    def petition_with_outbox(self, pid: str) -> dict[str, Any] | None:
        return self.petitions.find_one({"_id": pid})

    def petition_by_code(self, code: str) -> dict[str, Any] | None:
        return self.petitions.find_one({"tracking_code": code}, {FIELD: 0})

    def insert_petition(self, doc: dict[str, Any]) -> None:
        self.petitions.insert_one(doc)

    def change_petition(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        """One conditional update of one petition; whether it matched."""
        return bool(self.petitions.update_one(query, update).matched_count)

    def claim_grouping(self, pid: str, update: dict[str, Any]) -> dict[str, Any] | None:
        """Group a petition not yet grouped; the petition as written (with its outbox)."""
        return self.petitions.find_one_and_update(
            {"_id": pid, "issue_id": None, UNGROUPED: True}, update,
            return_document=ReturnDocument.AFTER)

    def ungrouped(self, limit: int) -> Iterator[dict[str, Any]]:
        return self.petitions.find({UNGROUPED: True}, {"_id": 1, "updated_at": 1}).limit(limit)

    def member_ids(self, issue_id: str) -> list[str]:
        return [p["_id"] for p in self.petitions.find({"issue_id": issue_id}, {"_id": 1})]

    def members(self, issue_id: str) -> list[dict[str, Any]]:
        """What rebuilding an issue reads of its petitions, oldest first."""
        return list(self.petitions.find(
            {"issue_id": issue_id},
            {"title": 1, "content": 1, "petitioner_fingerprint": 1, "created_at": 1}
        ).sort("created_at", 1))

    def petitions_of(self, ids: list[str], issue_id: str) -> list[dict[str, Any]]:
        return list(self.petitions.find({"_id": {"$in": ids}, "issue_id": issue_id},
                                        {FIELD: 0}).sort("created_at", 1))

    def move_petitions(self, query: dict[str, Any], issue_id: str, now: datetime) -> None:
        self.petitions.update_many(query, {"$set": {"issue_id": issue_id, "updated_at": now}})

    def find_petitions(self, query: dict[str, Any]) -> Cursor:
        return self.petitions.find(query, {FIELD: 0, "content": 0, "terms": 0})

    # --- issues -----------------------------------------------------------------------
    def issue(self, issue_id: str) -> dict[str, Any] | None:
        return self.issues.find_one({"_id": issue_id}, NO_CENTROID)

    def issue_with_centroid(self, issue_id: str) -> dict[str, Any] | None:
        return self.issues.find_one({"_id": issue_id}, {FIELD: 0})

    def find_issues(self, query: dict[str, Any]) -> Cursor:
        return self.issues.find(query, {**NO_CENTROID, "daily": 0})

    def insert_issue(self, issue: dict[str, Any]) -> None:
        self.issues.insert_one(issue)

    def change_issue(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        return bool(self.issues.update_one(query, update).matched_count)

    def recount_issue(self, issue_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Rewrite an issue's counts and centroid (a rebuild): a new version and ``cv``."""
        # FerretDB's findAndModify takes no projection: the centroid is left out here.
        doc = self.issues.find_one_and_update(
            {"_id": issue_id}, {"$set": fields, "$inc": {"version": 1, "cv": 1}},
            return_document=ReturnDocument.AFTER)
        return {k: v for k, v in doc.items() if k not in NO_CENTROID}

    def heated(self, since: datetime) -> list[str]:
        """Issues whose heat may change with time: trending, or with recent petitions."""
        query = {"status": OPEN, "$or": [{"trending": True},
                                         {"last_petition_at": {"$gte": since}}]}
        return [i["_id"] for i in self.issues.find(query, {"_id": 1})]

    # --- centroids (inside the issues) -------------------------------------------------
    def open_centroids(self) -> Cursor:
        """Every open issue's centroid: a grouping process's index, read whole."""
        return self.issues.find({"status": OPEN}, CENTROID_FIELDS)

    def centroids_changed(self, slots: range) -> Iterator[dict[str, Any]]:
        """The centroids changed (or closed) in ``slots``: one equality query each, which
        FerretDB hands to its backend's index."""
        for at in slots:
            yield from self.issues.find({"slot": at}, CENTROID_FIELDS)

    def change_centroid(self, query: dict[str, Any], fields: dict[str, Any],
                        now: datetime) -> bool:
        """Change what the grouping reads of an issue (its status, say): marked in its
        ``slot`` and ``cv`` so that every grouping process sees it."""
        return bool(self.issues.update_one(
            query, {"$set": {**fields, "slot": slot(now), "updated_at": now},
                    "$inc": {"cv": 1}}).matched_count)

    def upgrade_centroids(self) -> int:
        """Centroids kept in their own collection (before they moved into the issues) go
        into their issues; idempotent, run at every start."""
        moved = 0
        found = False
        for doc in self.centroids.find():
            found = True
            moved += self.issues.update_one(
                {"_id": doc["_id"], "centroid": None},
                {"$set": {"centroid": doc["centroid"], "cv": doc.get("cv", 1),
                          "bucket": doc["bucket"], "slot": doc.get("slot", 0)}}).modified_count
        if found:
            self.db.drop_collection(CENTROIDS)
        return moved

    # --- petitioners --------------------------------------------------------------------
    def count_petitioner(self, issue_id: str, fingerprint: str) -> bool:
        """Record that this petitioner wrote about the issue; True the first time."""
        try:
            self.petitioners.insert_one({"_id": f"{issue_id}|{fingerprint}",
                                         "issue_id": issue_id, "fingerprint": fingerprint})
        except DuplicateKeyError:
            return False
        return True

    def count_petitioners(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """``count_petitioner`` for several (issue, fingerprint) pairs, each once, in
        one command: True where new."""
        taken = insert_new(self.petitioners, [
            {"_id": f"{issue_id}|{fp}", "issue_id": issue_id, "fingerprint": fp}
            for issue_id, fp in pairs])
        return [n not in taken for n in range(len(pairs))]

    def uncount_petitioner(self, issue_id: str, fingerprint: str) -> None:
        """Undo ``count_petitioner`` (the petition went to another issue after all)."""
        self.petitioners.delete_one({"_id": f"{issue_id}|{fingerprint}"})

    def reset_petitioners(self, issue_id: str, fingerprints: set[str]) -> None:
        self.petitioners.delete_many({"issue_id": issue_id})
        if fingerprints:
            self.petitioners.insert_many([
                {"_id": f"{issue_id}|{fp}", "issue_id": issue_id, "fingerprint": fp}
                for fp in fingerprints])

    # --- grouping a poll's petitions at once ---------------------------------------------
    def petitions_with_outbox(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Petitions by id, with their outbox: one ``$in`` find for a poll's events."""
        return {d["_id"]: d for d in self.petitions.find({"_id": {"$in": list(set(ids))}})}

    def group_petitions(self, writes: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """Conditional updates of petitions (query, update), one bulk write; how many
        matched."""
        if not writes:
            return 0
        result = bulk_write(self.petitions, [UpdateOne(q, u) for q, u in writes],
                            ordered=False)
        return result.matched_count
