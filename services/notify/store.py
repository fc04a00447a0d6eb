"""Notify's collections, indexes and the reads and conditional writes on them.

- ``notifications``: one document per (cause, recipient, template) with its attempts and
  an outbox for ``notification.sent`` / ``notification.failed``;
- ``petitions``: the read model of petitions (tracking code, sealed contact token as
  received, consent, status, stop flag);
- ``dialogues``: the read model of dialogues (facts for invitations, reminders and
  commitment e-mails, and the agenda petitions);
- ``directory``: contacts of agencies and of each locality's host, secretariat and Front,
  the contact itself encrypted at rest.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common import outbox
from services.common.events import Event
from services.common.mongo import Index, asc
from services.common.ratelimit import INDEXES as RATE_INDEXES
from services.notify.domain import CANCELLED, SENDING, WAITING, code_key_of

NOTIFICATIONS = "notifications"
PETITIONS = "petitions"
DIALOGUES = "dialogues"
DIRECTORY = "directory"
# Petitions whose petitioner asked for no more messages (inbound HUY), one document
# each, apart from the petition read model so that the read model has one writer.
STOPS = "stops"
# Provider credentials (Zalo's OAuth tokens), encrypted, one document per provider.
CREDENTIALS = "credentials"

INDEXES = [
    Index(NOTIFICATIONS, asc("key"), unique=True, name="notification_key"),
    Index(NOTIFICATIONS, asc("state", "due_at"), name="notification_due"),
    Index(NOTIFICATIONS, asc("petition_id", "created_at"), name="notification_petition"),
    Index(NOTIFICATIONS, asc("dialogue_id", "template", "state"), name="notification_dialogue"),
    Index(NOTIFICATIONS, asc("commitment_id", "created_at"), name="notification_commitment"),
    Index(NOTIFICATIONS, asc("created_at"), name="notification_created"),
    # Delivery reports name the provider's message id (Zalo's msg_id).
    Index(NOTIFICATIONS, asc("provider_message_id"), name="notification_provider_id"),
    Index(NOTIFICATIONS, asc("channel", "state", "sent_at"), name="notification_zns_wait"),
    outbox.index(NOTIFICATIONS),
    Index(PETITIONS, asc("tracking_code"), name="petition_code"),
    Index(PETITIONS, asc("code_key"), name="petition_code_key"),
    Index(PETITIONS, asc("phone_fp"), name="petition_phone"),
    Index(DIALOGUES, asc("petition_ids"), name="dialogue_petitions"),
    Index(DIRECTORY, asc("kind", "province_code", "ward_code", "role"), name="directory_place"),
    *RATE_INDEXES,
]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifications = db[NOTIFICATIONS]
        self.petitions = db[PETITIONS]
        self.stops = db[STOPS]
        self.dialogues = db[DIALOGUES]
        self.directory = db[DIRECTORY]

    # ------------------------------------------------------------ notifications

    def insert_notification(self, doc: dict[str, Any], events: list[Event] = (),
                            now: datetime | None = None) -> bool:
        """Insert once; False when the key exists (a replayed event, a second path)."""
        if events:
            doc = outbox.new_document(doc, events, now)
        try:
            self.notifications.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    def due(self, now: datetime, limit: int) -> list[tuple[str, str, str]]:
        """(id, state, time field) of notifications due now, pending before deferred
        before abandoned claims, each oldest first.

        One query per state: FerretDB pushes an equality on a top-level field down to
        its backend but scans every document for ``$or``/``$in``. A sender reads them
        once and claims them one by one, rather than searching again for every claim
        (which grew with the backlog it was meant to drain).
        """
        found: list[tuple[str, str, str]] = []
        for state, field in [*((s, "due_at") for s in WAITING), (SENDING, "lease_until")]:
            docs = self.notifications.find({"state": state, field: {"$lte": now}},
                                           {"_id": 1}).sort(field, 1).limit(limit - len(found))
            found += [(d["_id"], state, field) for d in docs]
            if len(found) >= limit:
                break
        return found

    def claim_one(self, doc_id: str, state: str, field: str, now: datetime, lease: timedelta,
                  token: str, notes: Any = None) -> dict[str, Any] | None:
        """Take one due notification, unless another sender took it meanwhile;
        ``notes``: the collection to write through (held by the caller)."""
        return (self.notifications if notes is None else notes).find_one_and_update(
            {"_id": doc_id, "state": state, field: {"$lte": now}},
            {"$set": {"state": SENDING, "lease_until": now + lease, "lease_token": token,
                      "updated_at": now}},
            return_document=ReturnDocument.AFTER)

    def claim(self, now: datetime, lease: timedelta, token: str) -> dict[str, Any] | None:
        """Take the next due notification; a claim whose lease ran out can be taken again."""
        for doc_id, state, field in self.due(now, 20):
            doc = self.claim_one(doc_id, state, field, now, lease, token)
            if doc is not None:
                return doc
        return None

    def finish(self, doc_id: str, token: str, update: dict[str, Any],
               notes: Any = None) -> bool:
        """Apply the sender's outcome only if this sender still holds the claim."""
        found = (self.notifications if notes is None else notes).update_one(
            {"_id": doc_id, "state": SENDING, "lease_token": token}, update)
        return found.matched_count == 1

    def cancel_waiting(self, query: dict[str, Any], reason: str, now: datetime) -> int:
        return self.notifications.update_many(
            {**query, "state": {"$in": list(WAITING)}},
            {"$set": {"state": CANCELLED, "reason": reason, "updated_at": now}},
        ).modified_count

    def get_notification(self, doc_id: str) -> dict[str, Any] | None:
        return self.notifications.find_one({"_id": doc_id})

    def list_notifications(self, query: dict[str, Any], page: int,
                           size: int) -> tuple[list[dict[str, Any]], int]:
        total = self.notifications.count_documents(query)
        docs = list(self.notifications.find(query).sort("created_at", DESCENDING)
                    .skip((page - 1) * size).limit(size))
        return docs, total

    # ------------------------------------------------------------ petitions

    def petition(self, petition_id: str) -> dict[str, Any] | None:
        return self.petitions.find_one({"_id": petition_id})

    def petition_by_code(self, code: str) -> dict[str, Any] | None:
        """By the code as typed: its 8 symbols whatever prefix was typed, else as is."""
        key = code_key_of(code)
        found = self.petitions.find_one({"code_key": key}) if key else None
        return found or self.petitions.find_one({"tracking_code": code.upper()})

    def upsert_petition(self, petition_id: str, fields: dict[str, Any],
                        on_insert: dict[str, Any] | None = None) -> None:
        update: dict[str, Any] = {"$set": fields}
        if on_insert:
            update["$setOnInsert"] = on_insert
        self.petitions.update_one({"_id": petition_id}, update, upsert=True)

    def stop_petitions(self, query: dict[str, Any], now: datetime) -> int:
        """Record that no more messages go out about the petitions matching ``query``."""
        ids = [p["_id"] for p in self.petitions.find(query, {"_id": 1})]
        for pid in ids:
            with contextlib.suppress(DuplicateKeyError):  # stopped before
                self.stops.insert_one({"_id": pid, "at": now})
        return len(ids)

    def stopped(self, petition_id: str) -> bool:
        return self.stops.find_one({"_id": petition_id}) is not None

    # ------------------------------------------------------------ dialogues

    def dialogue(self, dialogue_id: str) -> dict[str, Any] | None:
        return self.dialogues.find_one({"_id": dialogue_id})

    def save_dialogue(self, dialogue_id: str, fields: dict[str, Any], at: datetime,
                      add_petitions: list[str] = ()) -> bool:
        """Store facts unless newer facts are already there; False for a stale event."""
        update: dict[str, Any] = {"$set": {**fields, "facts_at": at}}
        if add_petitions:
            update["$addToSet"] = {"petition_ids": {"$each": list(add_petitions)}}
        found = self.dialogues.update_one(
            {"_id": dialogue_id, "$or": [{"facts_at": {"$lte": at}},
                                         {"facts_at": {"$exists": False}}]}, update)
        if found.matched_count:
            return True
        if self.dialogues.count_documents({"_id": dialogue_id}, limit=1):
            return False
        try:
            self.dialogues.insert_one({"_id": dialogue_id, "petition_ids": list(add_petitions),
                                       **fields, "facts_at": at})
            return True
        except DuplicateKeyError:  # another consumer was first: try once more
            return self.save_dialogue(dialogue_id, fields, at, add_petitions)

    def set_dialogue(self, dialogue_id: str, fields: dict[str, Any]) -> None:
        """Fields that come from other events (held, concluded): no ordering needed."""
        self.dialogues.update_one({"_id": dialogue_id}, {"$set": fields}, upsert=True)

    def dialogues_awaiting(self, petition_id: str, now: datetime) -> list[dict[str, Any]]:
        return list(self.dialogues.find({"petition_ids": petition_id,
                                         "status": {"$in": ["announced", "rescheduled"]},
                                         "starts_at": {"$gt": now}}))

    # ------------------------------------------------------------ directory

    def directory_entry(self, entry_id: str) -> dict[str, Any] | None:
        return self.directory.find_one({"_id": entry_id})

    def put_directory(self, entry_id: str, doc: dict[str, Any]) -> None:
        self.directory.replace_one({"_id": entry_id}, {"_id": entry_id, **doc}, upsert=True)

    def delete_directory(self, entry_id: str) -> bool:
        return self.directory.delete_one({"_id": entry_id}).deleted_count == 1

    def list_directory(self, query: dict[str, Any], page: int,
                       size: int) -> tuple[list[dict[str, Any]], int]:
        total = self.directory.count_documents(query)
        docs = list(self.directory.find(query).sort("_id", 1).skip((page - 1) * size).limit(size))
        return docs, total
