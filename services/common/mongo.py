"""MongoDB: one client per process, one database per service, indexes declared in code.

Only what FerretDB 1.24 also supports is used (ARCHITECTURE.md, "Data stores").
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo import ASCENDING, IndexModel, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

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


# --- Per-document write locks --------------------------------------------------------
#
# FerretDB 1.24 applies an update as "read the matching documents, then write them back"
# without a transaction (FerretDB issue #3040): two concurrent conditional updates can
# both match, and concurrent $push/$inc on one document lose writes. We measured both
# (8 threads: 105 "wins" for 60 transitions; 27 of 160 pushes kept on PostgreSQL). A
# unique-index insert, however, is atomic on every backend. So on FerretDB every
# single-document write goes through a short lock: a document with a unique _id in the
# `_locks` collection. MongoDB itself needs none of this and gets the plain collection.


LOCKS = "_locks"


class LockTimeout(RuntimeError):
    """A document stayed locked for longer than any write should take."""


class DocLocks:
    def __init__(self, db: Database, *, lease: float = 30.0, timeout: float = 30.0) -> None:
        self.collection = db.client[db.name][LOCKS]
        self.lease = lease
        self.timeout = timeout

    def acquire(self, key: str, *, wait: bool = True) -> str | None:
        """The lock's owner token; None when ``wait`` is false and someone holds it."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                self.collection.insert_one({"_id": key, "owner": owner, "at": time.time()})
                return owner
            except DuplicateKeyError:
                held = self.collection.find_one({"_id": key})
                if held and held["at"] < time.time() - self.lease:
                    # The holder died mid-write; take the lock over.
                    self.collection.delete_one({"_id": key, "owner": held["owner"]})
                    continue
                if held is None:
                    continue  # released meanwhile
            if not wait:
                return None
            if time.monotonic() > deadline:
                raise LockTimeout(f"document {key} locked for over {self.timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def release(self, key: str, owner: str) -> None:
        self.collection.delete_one({"_id": key, "owner": owner})


@dataclass
class ManyResult:
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_id: object = None
    acknowledged: bool = True


def _plain_id(filter: dict) -> bool:
    return "_id" in filter and not isinstance(filter["_id"], dict)


class LockingCollection:
    """A pymongo Collection whose single-document writes are serialised per document.

    Writes whose filter names no ``_id`` first find candidate ids, then retry the
    write under each candidate's lock with ``_id`` added to the filter, so
    "claim the next due job" keeps MongoDB's semantics. Reads pass straight through.
    """

    def __init__(self, collection: Collection, locks: DocLocks) -> None:
        self._c = collection
        self._locks = locks

    def __getattr__(self, name: str):
        return getattr(self._c, name)

    def __getitem__(self, name: str):
        return self._c[name]

    @property
    def raw(self) -> Collection:
        return self._c

    def _key(self, doc_id: object) -> str:
        return f"{self._c.name}|{doc_id!r}"

    @contextmanager
    def hold(self, doc_id: object, *, wait: bool = True) -> Iterator[Collection | None]:
        """Lock one document for several writes; they go through the yielded plain
        collection, which must not write any other document. Without ``wait``, yields
        None at once when someone else holds it."""
        key = self._key(doc_id)
        owner = self._locks.acquire(key, wait=wait)
        if owner is None:
            yield None
            return
        try:
            yield self._c
        finally:
            self._locks.release(key, owner)

    def _locked(self, doc_id: object, action):
        with self.hold(doc_id):
            return action()

    def _candidates(self, filter: dict, sort=None, limit: int = 20) -> list:
        if _plain_id(filter):
            return [filter["_id"]]
        cursor = self._c.find(filter, {"_id": 1})
        if sort:
            cursor = cursor.sort(sort)
        return [d["_id"] for d in cursor.limit(limit)]

    def _first(self, filter: dict, write, sort=None):
        """Apply ``write(filter_with_id)`` to the first candidate that still matches."""
        while True:
            ids = self._candidates(filter, sort)
            if not ids:
                return None, False
            for doc_id in ids:
                result = self._locked(doc_id, lambda d=doc_id: write({**filter, "_id": d}))
                if result is not None:
                    return result, True
            if _plain_id(filter):
                return None, False
            # every candidate was taken meanwhile: look again

    def update_one(self, filter: dict, update, upsert: bool = False, **kwargs):
        if upsert and _plain_id(filter):  # one locked write, as MongoDB would do it
            return self._locked(filter["_id"], lambda: self._c.update_one(
                filter, update, upsert=True, **kwargs))

        def write(f):
            result = self._c.update_one(f, update, **kwargs)
            return result if result.matched_count else None

        result, found = self._first(filter, write)
        if found:
            return result
        if upsert:
            return self._c.update_one(filter, update, upsert=True, **kwargs)
        return self._c.update_one({"_id": {"$in": []}}, update, **kwargs)

    def find_one_and_update(self, filter: dict, update, projection=None, sort=None,
                            upsert: bool = False, return_document=ReturnDocument.BEFORE,
                            **kwargs):
        if upsert and _plain_id(filter):
            return self._locked(filter["_id"], lambda: self._c.find_one_and_update(
                filter, update, projection=projection, upsert=True,
                return_document=return_document, **kwargs))

        def write(f):
            return self._c.find_one_and_update(f, update, projection=projection,
                                               return_document=return_document, **kwargs)

        result, found = self._first(filter, write, sort)
        if found or not upsert:
            return result
        return self._c.find_one_and_update(filter, update, projection=projection, upsert=True,
                                           return_document=return_document, **kwargs)

    def replace_one(self, filter: dict, replacement, upsert: bool = False, **kwargs):
        def write(f):
            result = self._c.replace_one(f, replacement, **kwargs)
            return result if result.matched_count else None

        result, found = self._first(filter, write)
        if found:
            return result
        return self._c.replace_one(filter, replacement, upsert=upsert, **kwargs)

    def update_many(self, filter: dict, update, upsert: bool = False, **kwargs):
        total = ManyResult()
        for doc in self._c.find(filter, {"_id": 1}):
            result = self._locked(doc["_id"], lambda d=doc["_id"]: self._c.update_one(
                {**filter, "_id": d}, update, **kwargs))
            total.matched_count += result.matched_count
            total.modified_count += result.modified_count
        if not total.matched_count and upsert:
            result = self._c.update_one(filter, update, upsert=True, **kwargs)
            total.upserted_id = result.upserted_id
        return total

    def delete_one(self, filter: dict, **kwargs):
        def write(f):
            result = self._c.delete_one(f, **kwargs)
            return result if result.deleted_count else None

        result, found = self._first(filter, write)
        return result if found else self._c.delete_one({"_id": {"$in": []}})

    def find_one_and_delete(self, filter: dict, projection=None, sort=None, **kwargs):
        result, _ = self._first(filter, lambda f: self._c.find_one_and_delete(
            f, projection=projection, **kwargs), sort)
        return result


class LockingDatabase:
    """A Database whose collections are LockingCollections."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._locks = DocLocks(db)
        self._collections: dict[str, LockingCollection] = {}

    def __getitem__(self, name: str) -> LockingCollection:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = LockingCollection(self._db[name], self._locks)
        return found

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._db, name)
        return self[name] if isinstance(attr, Collection) else attr

    def get_collection(self, name: str, **kwargs) -> LockingCollection:
        return self[name]

    @property
    def raw(self) -> Database:
        return self._db


def plain(collection: Collection | LockingCollection) -> Collection:
    """The collection without per-document locks, for writes that need none (say why
    where it is used)."""
    return collection.raw if isinstance(collection, LockingCollection) else collection


@contextmanager
def hold(collection: Collection | LockingCollection, doc_id: object, *,
         wait: bool = True) -> Iterator[Collection | None]:
    """Several writes to one document with nobody else writing it in between (on
    FerretDB); on MongoDB, where each update is atomic, the collection itself. Without
    ``wait``, None when another holds it (the caller skips the document)."""
    if isinstance(collection, LockingCollection):
        with collection.hold(doc_id, wait=wait) as plain:
            yield plain
    else:
        yield collection


@contextmanager
def mutex(db: Database | LockingDatabase, *names: str,
          timeout: float = 10.0) -> Iterator[None]:
    """Exclusion between processes on any backend, MongoDB included, for a check that no
    single update can express (say, no two dialogues of one host at one time). Names
    are taken in sorted order, so two holders of overlapping sets cannot deadlock; a
    holder that died loses them after the lease (30 s)."""
    raw = db.raw if isinstance(db, LockingDatabase) else db
    locks = DocLocks(raw, timeout=timeout)
    taken: list[tuple[str, str]] = []
    try:
        for name in sorted(set(names)):
            key = f"mutex|{name}"
            taken.append((key, locks.acquire(key)))
        yield
    finally:
        for key, owner in reversed(taken):
            locks.release(key, owner)


def needs_locks(db: Database) -> bool:
    """FerretDB announces itself in buildInfo; MongoDB's own updates are atomic."""
    return "ferretdbVersion" in db.client.admin.command("buildInfo")


def guarded(db: Database, mode: str = "auto") -> Database | LockingDatabase:
    """``db`` wrapped with per-document write locks when the server needs them."""
    if mode == "on" or (mode == "auto" and needs_locks(db)):
        return LockingDatabase(db)
    return db
