"""MongoDB: one client per process, one database per service, indexes declared in code.

Only what FerretDB 1.24 also supports is used (ARCHITECTURE.md, "Data stores").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

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
        # FerretDB 1.24 panics (closes the connection) when one createIndexes call
        # names several indexes that all exist already: create only the missing ones.
        existing = {ix["name"] for ix in db[name].list_indexes()}
        missing = [m for m in models if m.document["name"] not in existing]
        if missing:
            db[name].create_indexes(missing)


def mongo_ready(settings: Settings) -> bool:
    try:
        client(settings).admin.command("ping")
        return True
    except PyMongoError:
        return False
