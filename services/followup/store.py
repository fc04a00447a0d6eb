"""The ``commitments`` collection: documents, indexes and conditional updates."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common import outbox
from services.common.events import Event
from services.common.localities import top_level
from services.common.mongo import Index, LockTimeout, asc, mutex
from services.followup.domain import ACTIVE, Change, bucket
from services.followup.feeds import with_feeds

log = logging.getLogger(__name__)


def _version_claim(commitment_id: str, version: int) -> str:
    return f"{commitment_id}@{version}"

COMMITMENTS = "commitments"
# Decided changes, one document per (commitment, version) or per timed transition.
# FerretDB 1.24 does not make update_one atomic with its filter (two concurrent
# conditional updates may both match), but a unique _id is enforced atomically:
# whoever inserts the claim owns the change, and the claim carries the events
# (outbox), so each change and its events happen exactly once.
TRANSITIONS = "transitions"
# The commitments report, counted ahead: one document per dialogue (and locality) with
# its commitments counted by agency, deadline and state. FerretDB 1.24 decodes every
# document it reads in full (~0.3 ms for a commitment, whatever the projection), so
# counting 10,000 commitments per request took seconds; a few hundred summaries do not.
# A commitment is ``report_stale`` from its creation or any change until a refresh of
# its dialogue has counted it as it is; the report counts dialogues with a stale
# commitment from the commitments themselves, so it is never behind.
REPORTS = "commitment_reports"
MIGRATIONS = "migrations"
# Figures the sweep counts for /metrics (one document), so that a scrape reads, not counts.
COUNTS = "counts"
REPORTED = ("agency_id", "deadline", "status", "overdue", "on_time")
_FEW = 20  # stale commitments the report takes dialogue by dialogue
_REPORT_FIELDS = {"dialogue_id": 1, "locality": 1, "version": 1, "report_stale": 1,
                  **{f: 1 for f in REPORTED}}

INDEXES = [
    Index(COMMITMENTS, asc("conclusion_id"), unique=True, name="conclusion_unique"),
    Index(COMMITMENTS, asc("agency_id", "status"), name="by_agency"),
    Index(COMMITMENTS, asc("dialogue_id"), name="by_dialogue"),
    Index(COMMITMENTS, asc("province_code", "ward_code"), name="by_place"),
    Index(COMMITMENTS, asc("report_stale"), name="report_stale"),
    Index(COMMITMENTS, asc("deadline"), name="by_deadline"),
    Index(COMMITMENTS, asc("remind_at", "reminded"), name="sweep_remind"),
    Index(COMMITMENTS, asc("due_at", "overdue"), name="sweep_overdue"),
    Index(COMMITMENTS, asc("next_escalation_at"), name="sweep_escalate"),
    Index(TRANSITIONS, asc("commitment_id", "at"), name="transitions_of"),
    Index(REPORTS, asc("province_code", "ward_code"), name="reports_by_place"),
    outbox.index(COMMITMENTS),
    outbox.index(TRANSITIONS),
]

_HIDDEN = {"outbox": 0}


class Store:
    def __init__(self, db: Database) -> None:
        self.commitments: Collection = db[COMMITMENTS]
        self.transitions: Collection = db[TRANSITIONS]
        self.reports: Collection = db[REPORTS]
        self.migrations: Collection = db[MIGRATIONS]
        self.counts: Collection = db[COUNTS]
        self.db = db

    def insert(self, doc: dict[str, Any], events: Iterable[Event], now: datetime) -> bool:
        """Insert a new commitment with its first events; False if it already exists."""
        try:
            self.commitments.insert_one(outbox.new_document(doc, with_feeds(events), now))
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
            self._apply(claim, doc["dialogue_id"])  # a crash or a lost write left it half done
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
            self.transitions.insert_one(outbox.new_document(claim, with_feeds(events), now))
        except DuplicateKeyError:
            return False
        self._apply(claim, doc["dialogue_id"])
        return True

    def _apply(self, claim: dict[str, Any], dialogue_id: str) -> None:
        update: dict[str, Any] = {"$set": {**claim["set"], "version": claim["version"] + 1,
                                           "report_stale": True}}
        if claim.get("push"):
            update["$push"] = claim["push"]
        if claim.get("applied"):
            update["$addToSet"] = {"applied": claim["applied"]}
        done = self.commitments.update_one({"_id": claim["commitment_id"],
                                            "version": claim["version"]}, update)
        if done.matched_count:
            self._refresh_after_write(dialogue_id)

    def claim_transition(self, commitment_id: str, key: str, events: list[Event],
                         now: datetime) -> bool:
        """Claim a timed transition (e.g. overdue for one deadline); True for the one
        sweeper that gets it, with its events staged in the claim."""
        try:
            self.transitions.insert_one(outbox.new_document(
                {"_id": f"{commitment_id}|{key}", "commitment_id": commitment_id, "at": now},
                with_feeds(events), now))
            return True
        except DuplicateKeyError:
            return False

    def set_flags(self, commitment_id: str, deadline: str, values: dict[str, Any]) -> None:
        """Record a timed transition on the commitment (idempotent: the same values).

        A change the report counts leaves it stale; ``refresh_stale`` after the sweep."""
        if set(values) & set(REPORTED):
            values = {**values, "report_stale": True}
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

    # -- the commitments report -------------------------------------------------------

    def refresh(self, dialogue_id: str) -> None:
        """Count one dialogue's commitments into its summary, and clear the stale flag of
        each commitment counted as it still is."""
        # Two refreshes of one dialogue must not interleave, or the one that read first
        # could write last and undo the other. The mutex stays because MongoDB itself would
        # need it: this reads many documents (the dialogue's commitments) and writes many
        # (a summary per place, the stale flags), a check across documents that no single
        # idempotent write or unique index covers without a multi-document transaction,
        # which FerretDB 1.24 lacks. (A version-guarded replace per summary would do on
        # MongoDB, but FerretDB does not make a filtered update atomic; see TRANSITIONS.)
        with mutex(self.db, f"report-refresh|{dialogue_id}", timeout=30.0):
            docs = list(self.commitments.find({"dialogue_id": dialogue_id}, _REPORT_FIELDS))
            places: dict[tuple, list[str]] = {}
            for (_, province, ward, agency, deadline, state), n in _count(docs).items():
                places.setdefault((province, ward), []).append(
                    json.dumps([agency, deadline, state, n]))
            for (province, ward), rows in places.items():
                self.reports.replace_one(
                    {"_id": json.dumps([dialogue_id, province, ward])},
                    {"dialogue_id": dialogue_id, "province_code": province,
                     "ward_code": ward, "rows": rows}, upsert=True)
            for doc in docs:
                if doc.get("report_stale"):
                    counted = {f: doc.get(f) for f in (*REPORTED, "version")}
                    self.commitments.update_one(
                        {"_id": doc["_id"], "report_stale": True, **counted},
                        {"$set": {"report_stale": False}})

    def _refresh_after_write(self, dialogue_id: str) -> None:
        # The change is made and its commitment stays stale until counted: a failure here
        # only leaves the work to the next sweep, so the caller's command still succeeds.
        try:
            self.refresh(dialogue_id)
        except (PyMongoError, LockTimeout):
            log.warning("report summary of dialogue %s not refreshed", dialogue_id,
                        exc_info=True)

    def refresh_stale(self) -> int:
        """Refresh every dialogue with a stale commitment (after a sweep or a crash)."""
        stale = {d["dialogue_id"] for d in self.commitments.find({"report_stale": True},
                                                                  {"dialogue_id": 1})}
        for dialogue_id in sorted(stale):
            self.refresh(dialogue_id)
        return len(stale)

    def report_rows(self, query: dict[str, Any]) -> Iterator[tuple[str, str, str, int]]:
        """(dialogue, agency, state, number) of the commitments that match ``query``."""
        # Equality on the locality codes is what FerretDB pushes down; the whole query
        # is then checked on every row.
        place = {k: v for k, v in query.items()
                 if k in ("province_code", "ward_code") and isinstance(v, str)}
        found = list(self.commitments.find({"report_stale": True, **place},
                                           {"dialogue_id": 1}).limit(_FEW + 1))
        if len(found) > _FEW:
            # Many (a bulk load): one pass over the place beats a query per dialogue.
            docs = list(self.commitments.find(place, _REPORT_FIELDS))
            stale = {d["dialogue_id"] for d in docs if d.get("report_stale")}
            live: Iterable[dict[str, Any]] = (d for d in docs if d["dialogue_id"] in stale)
        else:
            stale = {d["dialogue_id"] for d in found}
            live = (d for dialogue_id in stale
                    for d in self.commitments.find({"dialogue_id": dialogue_id}, _REPORT_FIELDS))
        counts = _count(live)
        for summary in self.reports.find(place):
            if summary["dialogue_id"] not in stale:
                for row in summary["rows"]:
                    agency, deadline, state, n = json.loads(row)
                    counts[(summary["dialogue_id"], summary["province_code"],
                            summary["ward_code"], agency, deadline, state)] += n
        for (dialogue_id, province, ward, agency, deadline, state), n in counts.items():
            if _matches(query, {"dialogue_id": dialogue_id, "province_code": province,
                                "ward_code": ward, "agency_id": agency, "deadline": deadline}):
                yield dialogue_id, agency, state, n

    def count_overdue(self, now: datetime) -> dict[str, int]:
        """Count the overdue, unresolved commitments by agency (the sweep does, after
        marking them) into the one document /metrics reads."""
        rows = self.commitments.aggregate([
            {"$match": {"overdue": True, "status": {"$in": list(ACTIVE)}}},
            {"$group": {"_id": "$agency_id", "n": {"$sum": 1}}}])
        by_agency = {str(r["_id"]): int(r["n"]) for r in rows}
        self.counts.replace_one({"_id": "overdue"}, {"by_agency": by_agency, "at": now},
                                upsert=True)
        return by_agency

    def overdue_counts(self) -> dict[str, int]:
        doc = self.counts.find_one({"_id": "overdue"})
        return dict(doc["by_agency"]) if doc else {}

    def agencies(self) -> list[str]:
        """Every agency that holds or held a commitment."""
        return sorted(a for a in self.commitments.distinct("agency_id") if a)

    def upgrade(self) -> None:
        """Commitments stored before the report summaries: top-level locality codes, and
        stale so that the next sweep counts them. Once per database."""
        if self.migrations.find_one({"_id": REPORTS}):
            return
        for doc in self.commitments.find({"report_stale": {"$exists": False}},
                                         {"locality": 1}):
            self.commitments.update_one(
                {"_id": doc["_id"]},
                {"$set": {**top_level(doc["locality"]), "report_stale": True}})
        self.migrations.update_one({"_id": REPORTS}, {"$set": {"done": True}}, upsert=True)


def _count(docs: Iterable[dict[str, Any]]) -> Counter:
    """Commitments by (dialogue, province, ward, agency, deadline, report state)."""
    return Counter(
        (d["dialogue_id"], d["locality"]["province_code"], d["locality"].get("ward_code"),
         d["agency_id"], d["deadline"],
         bucket(d["status"], bool(d.get("overdue")), d.get("on_time")))
        for d in docs)


def _matches(query: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether a report row passes a MongoDB filter, of the kinds the report builds."""
    for field, want in query.items():
        if field == "$and":
            if not all(_matches(part, row) for part in want):
                return False
            continue
        value = row[field]  # a KeyError: a filter the summaries cannot answer
        if not isinstance(want, dict):
            if value != want:
                return False
            continue
        for op, arg in want.items():
            if op == "$in":
                ok = value in arg
            elif op == "$gte":
                ok = value is not None and value >= arg
            elif op == "$lte":
                ok = value is not None and value <= arg
            else:
                raise ValueError(f"report filter {op} not supported")
            if not ok:
                return False
    return True
