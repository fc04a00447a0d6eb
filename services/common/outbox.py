"""The transactional outbox, inside each aggregate document.

A state change and the events it causes are one ``update_one``: the events are
pushed onto the document's ``outbox`` array by the same update (MongoDB and
FerretDB make single-document updates atomic). The web process publishes them
at once for latency (``flush``); a relay in the worker publishes whatever is
left, in order per aggregate, and only then pulls them off. A crash between
publishing and pulling publishes again: at least once, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo.collection import Collection

from services.common.clock import Clock, utcnow
from services.common.events import Event
from services.common.kafka import Bus
from services.common.mongo import Index, asc

log = logging.getLogger(__name__)

FIELD = "outbox"
PENDING = "outbox_since"
FLAG = "outbox_pending"  # equality is what FerretDB pushes down to its backend


def entry(event: Event) -> dict[str, Any]:
    # The serialised envelope is stored as a string: event data may hold keys
    # that MongoDB forbids, and the relay must publish exactly what was decided.
    return {"id": event.id, "topic": event.topic, "key": event.subject,
            "value": event.to_json().decode()}


def stage(update: dict[str, Any], events: Iterable[Event], now: datetime) -> dict[str, Any]:
    """Add ``events`` to a MongoDB update document, to be applied with the state change."""
    entries = [entry(e) for e in events]
    if not entries:
        return update
    staged = {k: dict(v) for k, v in update.items()}
    staged.setdefault("$push", {})[FIELD] = {"$each": entries}
    staged.setdefault("$set", {}).setdefault(PENDING, now)
    staged["$set"][FLAG] = True
    return staged


def new_document(doc: dict[str, Any], events: Iterable[Event], now: datetime) -> dict[str, Any]:
    """A document to insert together with its first events."""
    entries = [entry(e) for e in events]
    return {**doc, FIELD: entries, PENDING: now, FLAG: True} if entries else {**doc, FIELD: []}


def index(collection: str) -> Index:
    """The index the relay needs on every collection that has an outbox."""
    return Index(collection, asc(FLAG), name="outbox_flag")


class Outbox:
    """Publishes staged events of one or more collections."""

    def __init__(self, bus: Bus, collections: Iterable[Collection], *, clock: Clock = utcnow,
                 grace: timedelta = timedelta(seconds=2)) -> None:
        self.bus = bus
        self.collections = list(collections)
        self.clock = clock
        self.grace = grace

    def flush(self, collection: Collection, doc_id: Any,
              doc: dict[str, Any] | None = None) -> None:
        """Publish one aggregate's pending events now (the web process, after its update).
        ``doc``: the aggregate as just written (with its outbox), to spare a read.

        A failure here loses nothing: the relay will publish them.
        """
        try:
            if doc is None:
                doc = collection.find_one({"_id": doc_id}, {FIELD: 1})
            if doc:
                self._publish(collection, doc)
        except Exception:
            log.warning("immediate publish failed; the relay will retry", exc_info=True)

    def relay_once(self, limit: int = 200) -> int:
        """Publish events staged more than ``grace`` ago; return how many were sent."""
        sent = 0
        cutoff = self.clock() - self.grace
        for collection in self.collections:
            docs = collection.find({FLAG: True}, {FIELD: 1, PENDING: 1}).limit(limit)
            for doc in docs:
                if doc.get(PENDING) is None or doc[PENDING] <= cutoff:
                    sent += self._publish(collection, doc)
        return sent

    def _publish(self, collection: Collection, doc: dict[str, Any]) -> int:
        entries = doc.get(FIELD) or []
        futures = [self.bus.send(self.bus.topic(e["topic"]), e["key"], e["value"].encode(),
                                 wait=False) for e in entries]
        for future in futures:
            future.get(timeout=30)
        return self._clear(collection, doc["_id"], entries)

    def _clear(self, collection: Collection, doc_id: Any, entries: list[Any]) -> int:
        if entries:
            # Nothing staged since we read it (the usual case): empty it in one write.
            cleared = collection.update_one(
                {"_id": doc_id, FIELD: entries},
                {"$set": {FIELD: []}, "$unset": {PENDING: "", FLAG: ""}})
            if cleared.matched_count:
                return len(entries)
            # $pullAll matches whole entries: FerretDB has no $pull by condition.
            collection.update_one({"_id": doc_id}, {"$pullAll": {FIELD: entries}})
        # Clear the marker only if nothing was staged meanwhile.
        collection.update_one({"_id": doc_id, FIELD: {"$size": 0}},
                              {"$unset": {PENDING: "", FLAG: ""}})
        return len(entries)

    def flush_many(self, collection: Collection, docs: list[dict[str, Any]]) -> None:
        """``flush`` of several aggregates as just written: every event handed to the
        producer at once and awaited together (a web process's publisher catching up
        under load), then each document cleared as ``flush`` does. Not one bulk write:
        FerretDB 1.24 keeps a PostgreSQL connection per statement of an update command
        until the whole command ends, so bulk clears exhausted its pool and hung it.
        A failure here loses nothing either."""
        try:
            staged = [(doc["_id"], doc.get(FIELD) or []) for doc in docs]
            futures = [self.bus.send(self.bus.topic(e["topic"]), e["key"], e["value"].encode(),
                                     wait=False) for _, entries in staged for e in entries]
            for future in futures:
                future.get(timeout=30)
            for doc_id, entries in staged:
                self._clear(collection, doc_id, entries)
        except Exception:
            log.warning("immediate publish failed; the relay will retry", exc_info=True)
