"""MongoDB: one client per process, one database per service, indexes declared in code.

Only what FerretDB 1.24 also supports is used (docs/ARCHITECTURE.md, "Data stores").
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from services.common.config import Settings

_clients: dict[tuple[int, str], MongoClient] = {}
_lock = threading.Lock()


def client(settings: Settings) -> MongoClient:
    """The process's client. Keyed by pid too: a client must not cross a fork (gunicorn)."""
    key = (os.getpid(), settings.mongo_url)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = MongoClient(settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000,
                                appname=settings.service)
            _clients[key] = found
        return found


def database(settings: Settings, name: str) -> Database:
    return client(settings)[settings.db_prefix + name]


@dataclass(frozen=True)
class Index:
    """An index a query needs, declared next to that query."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    name: str | None = None
    options: dict = field(default_factory=dict)

    def model(self) -> IndexModel:
        name = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(list(self.keys), unique=self.unique, name=name, **self.options)


def asc(*names: str) -> tuple[tuple[str, int], ...]:
    return tuple((n, ASCENDING) for n in names)


def ensure_indexes(db: Database, indexes: Iterable[Index]) -> None:
    """Create every declared index; cheap when they already exist."""
    by_collection: dict[str, list[IndexModel]] = {}
    for index in indexes:
        by_collection.setdefault(index.collection, []).append(index.model())
    for name, models in by_collection.items():
        # FerretDB 1.24 panics (closing the connection) when one createIndexes call
        # names indexes that exist already, which is also what happens when a web
        # process and a worker start together: create only the missing ones, one at
        # a time, and look again after a failure.
        for attempt in range(8):
            try:
                existing = {ix["name"] for ix in db[name].list_indexes()}
                for model in models:
                    if model.document["name"] not in existing:
                        db[name].create_indexes([model])
                break
            except PyMongoError:
                if attempt == 7:
                    raise
                time.sleep(0.2 * (attempt + 1))


def mongo_ready(settings: Settings) -> bool:
    try:
        client(settings).admin.command("ping")
        return True
    except PyMongoError:
        return False


# --- Named mutexes -------------------------------------------------------------------
#
# Every single-document update is atomic with its filter, on MongoDB and on the embedded
# FerretDB alike (deploy/ferretdb serialises read-modify-write commands; the conformance
# suite in tests/integration/conformance proves it), so services write with plain
# pymongo. Only a rule that spans documents (no two dialogues of one host at one time)
# needs exclusion between processes: a named lock, a document with a unique _id in
# `_locks`, taken by an insert, which is atomic on every server.


LOCKS = "_locks"


class LockTimeout(RuntimeError):
    """A name stayed locked for longer than any holder should keep it."""


def _acquire(locks: Collection, key: str, lease: float, timeout: float) -> str:
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            locks.insert_one({"_id": key, "owner": owner, "at": time.time()})
            return owner
        except DuplicateKeyError:
            held = locks.find_one({"_id": key})
            if held is None:
                continue  # released meanwhile
            if held["at"] < time.time() - lease:
                # The holder died while holding it: take it over.
                locks.delete_one({"_id": key, "owner": held["owner"]})
                continue
        if time.monotonic() > deadline:
            raise LockTimeout(f"{key} locked for over {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@contextmanager
def mutex(db: Database, *names: str, timeout: float = 10.0,
          lease: float = 30.0) -> Iterator[None]:
    """Exclusion between processes, for a check that no single update can express (say,
    no two dialogues of one host at one time). Names are taken in sorted order, so two
    holders of overlapping sets cannot deadlock; a holder that died loses them after
    the lease."""
    locks = db[LOCKS]
    taken: list[tuple[str, str]] = []
    try:
        for name in sorted(set(names)):
            key = f"mutex|{name}"
            taken.append((key, _acquire(locks, key, lease, timeout)))
        yield
    finally:
        for key, owner in reversed(taken):
            locks.delete_one({"_id": key, "owner": owner})


# Bulk writes go in commands of at most this many statements. FerretDB 1.24 alone held
# a PostgreSQL connection per statement until the command ended and hung past its pool
# (50); deploy/ferretdb's proxy now splits such commands, holding the command's locks
# until its last statement, so small commands keep other writers' waits short. On
# MongoDB the chunks cost a round trip each and change nothing else.
BULK_CHUNK = 10


@dataclass
class BulkResult:
    matched_count: int = 0
    upserted_count: int = 0


def bulk_write(collection: Collection, ops: list, *, ordered: bool = True) -> BulkResult:
    """``collection.bulk_write(ops)`` in commands of at most ``BULK_CHUNK`` statements
    (in order, one after the other); the counts summed."""
    total = BulkResult()
    for start in range(0, len(ops), BULK_CHUNK):
        result = collection.bulk_write(ops[start:start + BULK_CHUNK], ordered=ordered)
        total.matched_count += result.matched_count
        total.upserted_count += result.upserted_count
    return total


def insert_new(collection: Collection, docs: list[dict]) -> set[int]:
    """Insert ``docs`` in one unordered command: the positions of those whose key was
    taken (duplicate key, code 11000), for the caller to update instead; any other
    error is raised. New documents are the usual case of a read model fed by events,
    and an insert costs one statement where an upsert costs a read and a write each on
    FerretDB (and a batch of inserts is one statement)."""
    if not docs:
        return set()
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if not errors or any(e.get("code") != 11000 for e in errors):
            raise
        return {e["index"] for e in errors}
    return set()
