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
from datetime import UTC, datetime, timedelta
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
DUE = datetime(2000, 1, 1, tzinfo=UTC)  # PENDING for "relay at once"
LOOK_EVERY = timedelta(seconds=1)  # a shorter grace is looked at on every relay pass


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
                 grace: timedelta = timedelta(seconds=2),
                 graces: dict[str, timedelta] | None = None) -> None:
        self.bus = bus
        self.collections = list(collections)
        self.clock = clock
        self.grace = grace
        # A longer grace for some collections (by name), whose events are published by
        # ``publish`` and cleared by their consumer's own next write (intake's petitions).
        self.graces = dict(graces or {})
        self._next_pass: dict[str, datetime] = {}

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
            self._due(collection, doc_id)

    def publish(self, collection: Collection, docs: list[dict[str, Any]]) -> None:
        """Publish the staged events of ``docs`` (as just written) without clearing them:
        the service that consumes them clears them in its own next write of the document
        (intake's grouping, the ``petition.received`` it handles), which spares a write.
        Every event is handed to the producer at once and awaited together (a web
        process's publisher catching up under load). Until they are cleared the relay
        leaves them alone for the collection's grace; past it, it publishes them again (a
        duplicate, which consumers tolerate) and clears them. A failure here makes them
        due for the relay at once."""
        try:
            futures = [self.bus.send(self.bus.topic(e["topic"]), e["key"],
                                     e["value"].encode(), wait=False)
                       for doc in docs for e in doc.get(FIELD) or []]
            for future in futures:
                future.get(timeout=30)
        except Exception:
            log.warning("immediate publish failed; the relay will retry", exc_info=True)
            for doc in docs:
                self._due(collection, doc["_id"])

    def _due(self, collection: Collection, doc_id: Any) -> None:
        """Hand a document's staged events to the relay's next pass, whatever its grace."""
        try:
            collection.update_one({"_id": doc_id, FLAG: True}, {"$set": {PENDING: DUE}})
        except Exception:  # the grace runs out anyway
            log.warning("could not hand the outbox to the relay", exc_info=True)

    def relay_once(self, limit: int = 200) -> int:
        """Publish events staged more than ``grace`` ago; return how many were sent.

        A collection with a long grace is looked at every twentieth of it (30 s for
        600 s), not at every pass (one a second): FerretDB 1.24 pushes only the equality on ``FLAG``
        down to its backend, so a pass reads every flagged document, and within a long
        grace that is every document of the last minutes (thousands when its consumer
        lags, read once a second). Its entries made due at once (``_due``) wait for
        that look, at most a twentieth of the grace."""
        sent = 0
        now = self.clock()
        for collection in self.collections:
            grace = self.graces.get(collection.name, self.grace)
            if now < self._next_pass.get(collection.name, now):
                continue
            cutoff = now - grace
            # the cutoff in the query: documents within a long grace never crowd the
            # due ones out of the limit
            docs = list(collection.find(
                {FLAG: True, "$or": [{PENDING: {"$lte": cutoff}}, {PENDING: None}]},
                {FIELD: 1, PENDING: 1}).limit(limit))
            for doc in docs:
                sent += self._publish(collection, doc)
            # more than one pass's worth: the next pass goes on at once
            spacing = grace / 20 if len(docs) < limit else timedelta(0)
            if spacing >= LOOK_EVERY:
                self._next_pass[collection.name] = now + spacing
            else:
                self._next_pass.pop(collection.name, None)
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
