"""Notify's collections, indexes and every read and conditional write on them.

- ``notifications``: one document per (cause, recipient, template) with its attempts;
  ``queue``/``wake_at`` mark those a sender still has to look at (waiting, or claimed
  with a lease), so that finding what is due is one query on an indexed equality;
- ``petitions``: the read model of petitions (tracking code, sealed contact token as
  received, consent, status, the stop flag set by an inbound ``HUY``, the dialogues that
  listed it);
- ``dialogues``: the read model of dialogues (facts for invitations, reminders and
  commitment e-mails, and the agenda petitions);
- ``directory``: contacts of agencies and of each locality's host, secretariat and Front,
  the contact itself encrypted at rest;
- ``rate_limits``: the providers' per-minute quotas, taken by senders in chunks.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common import outbox
from services.common.events import Event
from services.common.mongo import Index, asc, bulk_write, insert_new
from services.common.ratelimit import COLLECTION as RATE_LIMITS
from services.common.ratelimit import INDEXES as RATE_INDEXES
from services.notify.domain import CANCELLED, PENDING, SENDING, WAITING, code_key_of

NOTIFICATIONS = "notifications"
PETITIONS = "petitions"
DIALOGUES = "dialogues"
DIRECTORY = "directory"
# Provider credentials (Zalo's OAuth tokens), encrypted, one document per provider.
CREDENTIALS = "credentials"
HELD_REPORTS = "held_reports"  # delivery reports that came before their message id

INDEXES = [
    Index(NOTIFICATIONS, asc("key"), unique=True, name="notification_key"),
    # What a sender looks at: FerretDB pushes the equality on ``queue`` down to its
    # backend, so only unfinished notifications are read, whatever the history holds.
    Index(NOTIFICATIONS, asc("queue", "wake_at"), name="notification_queue"),
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
    Index(DIRECTORY, asc("kind", "province_code", "ward_code", "role"), name="directory_place"),
    *RATE_INDEXES,
]

# What leaves the queue when a notification reaches a final state.
DEQUEUE = {"queue": "", "wake_at": ""}


def queued(doc: dict[str, Any], events: list[Event] = (),
           now: datetime | None = None) -> dict[str, Any]:
    """A notification as inserted: a waiting one queued for the sender at its
    ``due_at``, one already ``sending`` (claimed by its creator) at its lease's end."""
    if doc.get("state") in WAITING:
        doc = {**doc, "queue": True, "wake_at": doc["due_at"]}
    elif doc.get("state") == SENDING:
        doc = {**doc, "queue": True, "wake_at": doc["lease_until"]}
    if events:
        doc = outbox.new_document(doc, events, now)
    return doc


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifications = db[NOTIFICATIONS]
        self.petitions = db[PETITIONS]
        self.dialogues = db[DIALOGUES]
        self.directory = db[DIRECTORY]
        self.rate_limits = db[RATE_LIMITS]

    # ------------------------------------------------------------ notifications

    def insert_notification(self, doc: dict[str, Any], events: list[Event] = (),
                            now: datetime | None = None) -> bool:
        """Insert once; False when the key exists (a replayed event, a second path).
        A waiting notification is queued for the sender at its ``due_at``; one inserted
        already ``sending`` (claimed by its creator) is queued at its lease's end."""
        try:
            self.notifications.insert_one(queued(doc, events, now))
            return True
        except DuplicateKeyError:
            return False

    def insert_outcome(self, doc: dict[str, Any], events: list[Event] = (),
                       now: datetime | None = None) -> bool:
        """A notification written only once its writer tried to send it (see
        ``Dispatch.petition_received``). Should a replay of its cause have written it
        meanwhile for a sender, still untouched, this outcome replaces it; False when a
        sender had taken it already."""
        if self.insert_notification(doc, events, now):
            return True
        return self._replace_untouched(doc, events, now)

    def insert_outcomes(self, docs: list[dict[str, Any]]) -> None:
        """``insert_outcome`` for several: one insert, then a replace for each whose key
        a replay wrote meanwhile."""
        for i in sorted(insert_new(self.notifications, [queued(d) for d in docs])):
            self._replace_untouched(docs[i])

    def _replace_untouched(self, doc: dict[str, Any], events: list[Event] = (),
                           now: datetime | None = None) -> bool:
        """An outcome over the copy a replay wrote, if no sender has taken that yet."""
        return self.notifications.replace_one(
            {"_id": doc["_id"], "state": PENDING, "attempt_count": 0},
            queued(doc, events, now)).matched_count == 1

    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Notifications due now, oldest first: waiting ones whose time came and claims
        whose lease ran out. One query; the sender claims them one by one."""
        return list(self.notifications.find({"queue": True, "wake_at": {"$lte": now}},
                                            {"_id": 1, "recipient": 1}
                                            ).sort("wake_at", 1).limit(limit))

    def claim(self, doc_id: str, now: datetime, lease: timedelta,
              token: str) -> dict[str, Any] | None:
        """Take one due notification unless another sender took it meanwhile; the claimed
        document as it now is (no second read)."""
        until = now + lease
        return self.notifications.find_one_and_update(
            {"_id": doc_id, "queue": True, "wake_at": {"$lte": now}},
            {"$set": {"state": SENDING, "lease_until": until, "lease_token": token,
                      "wake_at": until, "updated_at": now}},
            return_document=ReturnDocument.AFTER)

    def finish(self, doc_id: str, token: str, update: dict[str, Any]) -> bool:
        """Apply the sender's outcome only if this sender still holds the claim."""
        found = self.notifications.update_one(
            {"_id": doc_id, "state": SENDING, "lease_token": token}, update)
        return found.matched_count == 1

    def cancel_waiting(self, query: dict[str, Any], reason: str, now: datetime) -> int:
        return self.notifications.update_many(
            {**query, "state": {"$in": list(WAITING)}},
            {"$set": {"state": CANCELLED, "reason": reason, "updated_at": now},
             "$unset": DEQUEUE},
        ).modified_count

    def requeue(self, doc_id: str, expect: dict[str, Any], fields: dict[str, Any],
                now: datetime) -> bool:
        """A waiting or failed notification made due again (officer's retry, a held
        e-mail completed), if it is still as ``expect`` says."""
        found = self.notifications.update_one(
            {"_id": doc_id, **expect},
            {"$set": {**fields, "state": PENDING, "due_at": now, "queue": True,
                      "wake_at": now, "updated_at": now}})
        return found.matched_count == 1

    def held_for_dialogue(self, dialogue_id: str) -> list[dict[str, Any]]:
        """Commitment e-mails waiting for this dialogue's facts."""
        return list(self.notifications.find({"dialogue_id": dialogue_id,
                                             "template": "commitment_assigned",
                                             "state": "deferred", "awaiting_dialogue": True}))

    def set_fields(self, doc_id: str, fields: dict[str, Any]) -> None:
        self.notifications.update_one({"_id": doc_id}, {"$set": fields})

    def get_notification(self, doc_id: str,
                         scope: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return self.notifications.find_one({"_id": doc_id, **(scope or {})})

    def record_report(self, match: dict[str, Any], fields: dict[str, Any],
                      report: dict[str, Any], *, keep_late: bool = True
                      ) -> tuple[dict[str, Any] | None, bool]:
        """A delivery report for the notification ``match`` names (by ``_id`` or
        ``provider_message_id``): the first one moves the state, later ones are only
        kept in the history, with ``keep_late``. The notification as it is after, or
        None when none matches (or, without ``keep_late``, none moved); and whether the
        state moved. The usual report is one command."""
        doc = self.notifications.find_one_and_update(
            {**match, "delivery": None}, {"$set": fields, "$push": {"reports": report}},
            return_document=ReturnDocument.AFTER)
        if doc is not None or not keep_late:
            return doc, doc is not None
        return self.notifications.find_one_and_update(
            match, {"$push": {"reports": report}}, return_document=ReturnDocument.AFTER), False

    def unreported_zns(self, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
        return list(self.notifications.find(
            {"channel": "zalo", "state": "sent", "delivery": None,
             "sent_at": {"$lte": cutoff}}).limit(limit))

    def list_notifications(self, query: dict[str, Any], page: int,
                           size: int) -> tuple[list[dict[str, Any]], int]:
        total = self.notifications.count_documents(query)
        docs = list(self.notifications.find(query).sort("created_at", DESCENDING)
                    .skip((page - 1) * size).limit(size))
        return docs, total

    def delivery_groups(self) -> list[dict[str, Any]]:
        """Counts by (channel, state, delivery); summed in Python (FerretDB's $group)."""
        return list(self.notifications.aggregate([
            {"$group": {"_id": {"channel": "$channel", "state": "$state",
                                "delivery": "$delivery"}, "n": {"$sum": 1}}}]))

    def migrate_queue(self) -> int:
        """Queue notifications written before ``queue``/``wake_at`` existed; run at start,
        idempotent (a no-op once done)."""
        moved = 0
        for state, field in [*((s, "due_at") for s in WAITING), (SENDING, "lease_until")]:
            for doc in self.notifications.find({"state": state, "queue": {"$exists": False}},
                                               {"_id": 1, field: 1}):
                moved += self.notifications.update_one(
                    {"_id": doc["_id"], "state": state, "queue": {"$exists": False}},
                    {"$set": {"queue": True, "wake_at": doc.get(field)}}).modified_count
        return moved

    def migrate_stops(self) -> int:
        """Stops recorded in the former ``stops`` collection become the petitions' flag."""
        moved = 0
        for stop in self.db["stops"].find():
            moved += self.petitions.update_one(
                {"_id": stop["_id"]}, {"$set": {"stopped": True, "stopped_at": stop.get("at")}},
                upsert=True).modified_count
        return moved

    # ------------------------------------------------------------ quotas

    def take_quota(self, key: str, window: int, n: int) -> int:
        """Count ``n`` more sends in a fixed window; the window's total after them."""
        for _attempt in range(3):
            try:
                doc = self.rate_limits.find_one_and_update(
                    {"_id": f"{key}|{window}"},
                    {"$inc": {"hits": n}, "$setOnInsert": {"window": window}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                return doc["hits"]
            except DuplicateKeyError:  # two first takes of a window at once: again
                continue
        return n

    def sweep_quotas(self, before_window: int) -> int:
        return self.rate_limits.delete_many({"window": {"$lt": before_window}}).deleted_count

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

    def receive_petition(self, petition_id: str, fields: dict[str, Any],
                         on_insert: dict[str, Any]) -> dict[str, Any]:
        """Store a received petition and return its read model as it now is (the stop
        flag, the dialogues that listed it before it arrived): one command."""
        return self.petitions.find_one_and_update(
            {"_id": petition_id}, {"$set": fields, "$setOnInsert": on_insert},
            upsert=True, return_document=ReturnDocument.AFTER)

    def listed_on(self, petition_id: str, dialogue_id: str) -> dict[str, Any]:
        """Note that a dialogue lists this petition, and return the petition as it now
        is. Written before it is read, as ``receive_petition`` is, so whichever of the
        two comes second sees the other: no invitation waits for ever."""
        return self.petitions.find_one_and_update(
            {"_id": petition_id}, {"$addToSet": {"dialogue_ids": dialogue_id}},
            upsert=True, return_document=ReturnDocument.AFTER)

    def stop_petitions(self, query: dict[str, Any], now: datetime) -> int:
        """No more messages about the petitions matching ``query`` (inbound HUY)."""
        return self.petitions.update_many(
            {**query, "stopped": {"$ne": True}},
            {"$set": {"stopped": True, "stopped_at": now}}).matched_count

    def stopped(self, petition_id: str) -> bool:
        return self.petitions.find_one({"_id": petition_id, "stopped": True},
                                       {"_id": 1}) is not None

    def petition_ids_of_phone(self, fp: str) -> list[str]:
        return [p["_id"] for p in self.petitions.find({"phone_fp": fp}, {"_id": 1})]

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

    def receive_claiming(self, petition_id: str, fields: dict[str, Any],
                         on_insert: dict[str, Any], until: datetime
                         ) -> tuple[dict[str, Any], bool]:
        """``receive_petition`` that also claims the petition's acknowledgement for this
        consumer until ``until``, in the same command: the read model as it now is, and
        whether the claim is ours. Only a petition never received before can be claimed
        (no status yet: unknown, or only listed by a dialogue); on a replay the filter
        misses, the upsert collides, and the claim is not ours."""
        try:
            return self.petitions.find_one_and_update(
                {"_id": petition_id, "ack_until": None, "status": None},
                {"$set": {**fields, **on_insert, "ack_until": until}},
                upsert=True, return_document=ReturnDocument.AFTER), True
        except DuplicateKeyError:  # claimed already: the filter missed, the insert collided
            return self.receive_petition(petition_id, fields, on_insert), False

    def receive_claiming_many(self, writes: dict[str, tuple[dict[str, Any], dict[str, Any]]],
                              until: datetime) -> dict[str, tuple[dict[str, Any], bool]]:
        """``receive_claiming`` for many petitions (id: (fields, on_insert)): one find,
        one insert of the petitions new here (claimed as they are written), one bulk
        write of the same conditional updates for the others, no read back unless one
        of them missed (the read model changed in between: then the claim is ours where
        it carries this call's token). Each petition's consumer is the one owning its
        partition, so a miss is rare."""
        ids = list(writes)
        token = uuid.uuid4().hex
        found = {d["_id"]: d for d in self.petitions.find({"_id": {"$in": ids}})}
        fresh, ops, after, ours = [], [], {}, set()
        for pid, (fields, on_insert) in writes.items():
            doc = found.get(pid)
            if doc is None or (doc.get("ack_until") is None and doc.get("status") is None):
                claim = {**fields, **on_insert, "ack_until": until, "ack_by": token}
                if doc is None:  # the usual case: all of a poll's new ones in one insert
                    fresh.append({**claim, "_id": pid})
                else:
                    ops.append(UpdateOne({"_id": pid, "ack_until": None, "status": None},
                                         {"$set": claim}))
                after[pid] = {**(doc or {"_id": pid}), **claim}
                ours.add(pid)
            else:  # received before: a replay, no claim
                ops.append(UpdateOne({"_id": pid}, {"$set": fields, "$setOnInsert": on_insert},
                                     upsert=True))
                after[pid] = {**doc, **fields}
        taken = insert_new(self.petitions, fresh)  # by another consumer meanwhile: read back
        result = bulk_write(self.petitions, ops, ordered=False)
        if not taken and result.matched_count + result.upserted_count == len(ops):
            return {pid: (after[pid], pid in ours) for pid in ids}
        docs = {d["_id"]: d for d in self.petitions.find({"_id": {"$in": ids}})}
        return {pid: (docs[pid], docs[pid].get("ack_by") == token) for pid in ids}

    # ------------------------------------------------------------ early reports

    def hold_report(self, provider: str, message_id: str, report: dict[str, Any],
                    now: datetime) -> None:
        """Keep a report whose message id is not stored yet: the provider reported
        delivery before the sender had written the answer to its send."""
        self.db[HELD_REPORTS].update_one(
            {"_id": f"{provider}|{message_id}"},
            {"$setOnInsert": {"provider": provider, "message_id": message_id,
                              "report": report, "held_at": now}}, upsert=True)

    def held_reports(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.db[HELD_REPORTS].find().sort("held_at", 1).limit(limit))

    def drop_held(self, held_id: str) -> None:
        self.db[HELD_REPORTS].delete_one({"_id": held_id})
