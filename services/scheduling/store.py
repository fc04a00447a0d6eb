"""Collections, indexes and the reads and writes of the scheduling service.

- ``dialogues``: one document per dialogue, with its agenda, notice, conclusions
  and its outbox of pending events.
- ``programmes``: annual programmes (outbox too).
- ``dialogue_requests``: one per distinct requester per commune per year; the
  requester is encrypted, a keyed fingerprint makes them countable.
- ``request_tallies``: one per (commune, year): whether ``dialogue.required`` was
  decided (outbox too), so it is published once.
- ``notice_numbers``: one per notice number taken (per issuing body and year).
- ``rendered_documents``: PDFs of the documents, by the hash of their DOCX.
- ``issues`` and ``petitions``: the agenda-candidate read model, fed by intake's events
  (each issue's latest snapshot; each petition's issue and open state).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common import outbox
from services.common.clock import from_mongo
from services.common.mongo import Index, asc
from services.common.ratelimit import INDEXES as RATE_INDEXES
from services.scheduling.read_model import AgendaReadModel
from services.scheduling.receptions import INDEXES as RECEPTION_INDEXES

DIALOGUES = "dialogues"
PROGRAMMES = "programmes"
REQUESTS = "dialogue_requests"
TALLIES = "request_tallies"
ISSUES = "issues"
PETITIONS = "petitions"
NOTICE_NUMBERS = "notice_numbers"  # _id "<unit>|<body>|<year>|<serial>": one number, once
RENDERED = "rendered_documents"  # PDFs by the hash of their DOCX (LibreOffice is slow)

INDEXES = [
    Index(DIALOGUES, asc("locality.province_code", "locality.ward_code", "starts_at"),
          name="dialogue_locality"),
    Index(DIALOGUES, asc("state", "starts_at"), name="dialogue_state"),
    Index(DIALOGUES, asc("host_key", "state"), name="dialogue_host"),
    Index(DIALOGUES, asc("venue_key", "state"), name="dialogue_venue"),
    Index(DIALOGUES, asc("locality.province_code", "held_at"), name="dialogue_held"),
    outbox.index(DIALOGUES),
    Index(PROGRAMMES, asc("locality.province_code", "locality.ward_code", "year"),
          name="programme_locality"),
    outbox.index(PROGRAMMES),
    Index(REQUESTS, asc("ward_code", "year", "fingerprint"), unique=True,
          name="request_distinct"),
    outbox.index(REQUESTS),
    Index(TALLIES, asc("province_code", "year"), name="tally_province"),
    outbox.index(TALLIES),
    Index(ISSUES, asc("locality.province_code", "locality.ward_code", "heat"),
          name="issue_locality"),
    Index(PETITIONS, asc("issue_id"), name="petition_issue"),
    *RATE_INDEXES,
    *RECEPTION_INDEXES,
]

OUTBOX_COLLECTIONS = (DIALOGUES, PROGRAMMES, TALLIES, REQUESTS)


class Store(AgendaReadModel):
    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialogues: Collection = db[DIALOGUES]
        self.programmes: Collection = db[PROGRAMMES]
        self.requests: Collection = db[REQUESTS]
        self.tallies: Collection = db[TALLIES]
        self.issues: Collection = db[ISSUES]
        self.petitions: Collection = db[PETITIONS]
        self.notice_numbers: Collection = db[NOTICE_NUMBERS]
        self.rendered: Collection = db[RENDERED]

    def outbox_collections(self) -> list[Collection]:
        return [self.db[name] for name in OUTBOX_COLLECTIONS]

    # --- dialogues -----------------------------------------------------------

    def dialogue(self, dialogue_id: str) -> dict[str, Any] | None:
        return self.dialogues.find_one({"_id": dialogue_id}, {outbox.FIELD: 0})

    def insert_dialogue(self, doc: dict[str, Any]) -> None:
        self.dialogues.insert_one(outbox.new_document(doc, [], doc["created_at"]))

    def transition(self, dialogue_id: str, states: Iterable[str], update: dict[str, Any],
                   events: list, now: datetime, extra: dict[str, Any] | None = None) -> bool:
        """Apply ``update`` and stage ``events`` only if the dialogue is still in ``states``."""
        query = {"_id": dialogue_id, "state": {"$in": list(states)}, **(extra or {})}
        result = self.dialogues.update_one(query, outbox.stage(update, events, now))
        return result.matched_count == 1

    def announced_between(self, starts_at: datetime, ends_at: datetime,
                          keys: dict[str, str]) -> list[dict[str, Any]]:
        """Announced dialogues overlapping [starts_at, ends_at) with the same host or venue."""
        ors = [{name: value} for name, value in keys.items() if value]
        return list(self.dialogues.find(
            {"state": "announced", "starts_at": {"$lt": ends_at}, "ends_at": {"$gt": starts_at},
             "$or": ors},
            {outbox.FIELD: 0}))

    def find_dialogues(self, query: dict[str, Any], page: int,
                       size: int) -> tuple[list[dict[str, Any]], int]:
        total = self.dialogues.count_documents(query)
        docs = list(self.dialogues.find(query, {outbox.FIELD: 0}).sort("starts_at", DESCENDING)
                    .skip((page - 1) * size).limit(size))
        return docs, total

    # --- programmes ----------------------------------------------------------

    def insert_programme(self, doc: dict[str, Any]) -> None:
        self.programmes.insert_one(outbox.new_document(doc, [], doc["created_at"]))

    def programme(self, programme_id: str) -> dict[str, Any] | None:
        return self.programmes.find_one({"_id": programme_id}, {outbox.FIELD: 0})

    def publish_programme(self, programme_id: str, update: dict[str, Any], events: list,
                          now: datetime) -> bool:
        result = self.programmes.update_one({"_id": programme_id, "state": "draft"},
                                            outbox.stage(update, events, now))
        return result.matched_count == 1

    def find_programmes(self, query: dict[str, Any], page: int,
                        size: int) -> tuple[list[dict[str, Any]], int]:
        total = self.programmes.count_documents(query)
        docs = list(self.programmes.find(query, {outbox.FIELD: 0}).sort("year", DESCENDING)
                    .skip((page - 1) * size).limit(size))
        return docs, total

    # --- dialogue requests ---------------------------------------------------

    def insert_request(self, doc: dict[str, Any], events: list | None = None,
                       now: datetime | None = None) -> dict[str, Any] | None:
        """Insert (with the code's event staged); on a requester who already asked this
        year, return their earlier request."""
        try:
            self.requests.insert_one(outbox.new_document(doc, events or [], now or
                                                         doc["created_at"]))
            return None
        except DuplicateKeyError:
            return self.requests.find_one({"ward_code": doc["ward_code"], "year": doc["year"],
                                           "fingerprint": doc["fingerprint"]})

    def request(self, request_id: str) -> dict[str, Any] | None:
        return self.requests.find_one({"_id": request_id}, {outbox.FIELD: 0})

    def renew_code(self, request_id: str, code: dict[str, Any], events: list,
                   now: datetime) -> None:
        self.requests.update_one({"_id": request_id, "confirmed": False},
                                 outbox.stage({"$set": {"code": code}}, events, now))

    def count_attempt(self, request_id: str) -> None:
        self.requests.update_one({"_id": request_id}, {"$inc": {"code.attempts": 1}})

    def confirm_request(self, request_id: str, code_hash: str, now: datetime) -> bool:
        return bool(self.requests.update_one(
            {"_id": request_id, "confirmed": False, "code.hash": code_hash},
            {"$set": {"confirmed": True, "confirmed_at": now}, "$unset": {"code": ""}}
        ).matched_count)

    def count_requesters(self, ward_code: str, year: int) -> int:
        """Confirmed requesters only (requests stored before confirmation existed count)."""
        return self.requests.count_documents({"ward_code": ward_code, "year": year,
                                              "confirmed": {"$ne": False}})

    def request_topics(self, ward_code: str, year: int, limit: int = 20) -> list[str]:
        topics: list[str] = []
        for doc in self.requests.find({"ward_code": ward_code, "year": year,
                                       "confirmed": {"$ne": False}},
                                      {"topic": 1}).sort("created_at", 1).limit(200):
            if doc["topic"] not in topics:
                topics.append(doc["topic"])
            if len(topics) >= limit:
                break
        return topics

    def is_required(self, ward_code: str, year: int) -> bool:
        return self.tallies.find_one({"_id": f"{ward_code}|{year}"}, {"_id": 1}) is not None

    def claim_required(self, doc: dict[str, Any], events: list, now: datetime) -> bool:
        """Insert the one (commune, year) record, with its event staged; False if it exists.

        An insert on a unique ``_id`` rather than a conditional update: FerretDB
        does not make ``update_one`` atomic with its filter under concurrency.
        """
        try:
            self.tallies.insert_one(outbox.new_document(doc, events, now))
            return True
        except DuplicateKeyError:
            return False

    # --- compliance and reports ---------------------------------------------

    def held_per_ward(self, province_code: str, year: int,
                      excluded: Iterable[str] | None = None,
                      only: Iterable[str] | None = None) -> dict[str, int]:
        """Held commune dialogues per commune; ``excluded``/``only`` filter by form
        (dialogues stored before forms existed are art. 43 conferences)."""
        match: dict[str, Any] = {"locality.province_code": province_code, "held_year": year,
                                 "level": "commune", "state": {"$in": ["held", "concluded"]}}
        if excluded:
            match["form"] = {"$nin": list(excluded)}
        if only:
            match["form"] = {"$in": list(only)}
        rows = self.dialogues.aggregate([
            {"$match": match},
            {"$group": {"_id": "$locality.ward_code", "n": {"$sum": 1}}},
        ])
        return {r["_id"]: r["n"] for r in rows}

    def late_per_ward(self, province_code: str, year: int) -> dict[str, int]:
        rows = self.dialogues.aggregate([
            {"$match": {"locality.province_code": province_code, "held_year": year,
                        "level": "commune", "state": "concluded", "late": True}},
            {"$group": {"_id": "$locality.ward_code", "n": {"$sum": 1}}},
        ])
        return {r["_id"]: r["n"] for r in rows}

    def held_unconcluded(self, province_code: str, year: int) -> list[dict[str, Any]]:
        """Commune dialogues held and not concluded yet: ``{ward_code, held_at}``."""
        return [{"ward_code": d["locality"]["ward_code"], "held_at": from_mongo(d["held_at"])}
                for d in self.dialogues.find({"locality.province_code": province_code,
                                              "held_year": year, "level": "commune",
                                              "state": "held"},
                                             {"locality.ward_code": 1, "held_at": 1})]

    def claim_notice_number(self, key: str, dialogue_id: str, now: datetime) -> bool:
        """Take a notice number for a dialogue; False if another dialogue holds it."""
        try:
            self.notice_numbers.insert_one({"_id": key, "dialogue_id": dialogue_id,
                                            "at": now})
            return True
        except DuplicateKeyError:
            held = self.notice_numbers.find_one({"_id": key}) or {}
            return held.get("dialogue_id") == dialogue_id

    def release_notice_number(self, key: str, dialogue_id: str) -> None:
        self.notice_numbers.delete_one({"_id": key, "dialogue_id": dialogue_id})

    def required_tallies(self, province_code: str, year: int) -> list[dict[str, Any]]:
        return list(self.tallies.find({"province_code": province_code, "year": year,
                                       "required": True}, {outbox.FIELD: 0}))

    def held_since(self, ward_code: str, since: datetime) -> int:
        return self.dialogues.count_documents({
            "locality.ward_code": ward_code, "level": "commune",
            "state": {"$in": ["held", "concluded"]}, "held_at": {"$gte": since}})

    def dialogue_counts(self, province_code: str, start: datetime,
                        end: datetime) -> list[dict[str, Any]]:
        return list(self.dialogues.aggregate([
            {"$match": {"locality.province_code": province_code,
                        "state": {"$in": ["held", "concluded"]},
                        "held_at": {"$gte": start, "$lt": end}}},
            {"$group": {"_id": {"unit": "$unit_code", "level": "$level", "kind": "$kind"},
                        "n": {"$sum": 1}}},
        ]))

    # --- documents --------------------------------------------------------------

    def issued_notices(self, query: dict[str, Any], page: int,
                       size: int) -> tuple[list[dict[str, Any]], int]:
        """Concluded dialogues for the public register, the latest notice first."""
        total = self.dialogues.count_documents(query)
        docs = list(self.dialogues.find(query, {outbox.FIELD: 0})
                    .sort([("notice.issued_at", DESCENDING), ("_id", 1)])
                    .skip((page - 1) * size).limit(size))
        return docs, total

    def issue_titles(self, issue_ids: list[str]) -> dict[str, str]:
        if not issue_ids:
            return {}
        return {d["_id"]: d["title"] for d in self.issues.find(
            {"_id": {"$in": list(dict.fromkeys(issue_ids))}}, {"title": 1}) if d.get("title")}

    def rendered_pdf(self, key: str) -> bytes | None:
        found = self.rendered.find_one({"_id": key})
        return bytes(found["pdf"]) if found is not None else None

    def keep_pdf(self, key: str, data: bytes, now: datetime) -> None:
        # Replace rather than insert: two requests may render the same document at once.
        self.rendered.replace_one({"_id": key}, {"_id": key, "pdf": Binary(data),
                                                 "created_at": now}, upsert=True)
