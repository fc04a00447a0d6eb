"""The pieces every service wires together in its composition root (``bootstrap.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from flask import Flask
from flask_smorest import Blueprint
from pymongo.database import Database

from services.common import logs
from services.common.audit import INDEXES as AUDIT_INDEXES
from services.common.audit import Audit
from services.common.clock import Clock, default_clock
from services.common.config import Settings
from services.common.crypto import KeyRing
from services.common.kafka import Bus, Consumer, Handler, ensure_topics, kafka_ready
from services.common.mongo import Index, database, ensure_indexes, mongo_ready
from services.common.web import create_app


class Kit:
    """Settings, clock, database, producer, audit trail and key ring of one service process.

    The producer is created on first use, after gunicorn has forked, because a
    Kafka producer's I/O thread does not survive a fork.
    """

    def __init__(self, settings: Settings, db_name: str, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or default_clock()
        self.db_name = db_name
        logs.setup(settings.service, settings.log_level)

    @cached_property
    def db(self) -> Database:
        return database(self.settings, self.db_name)

    @cached_property
    def bus(self) -> Bus:
        return Bus(self.settings)

    @cached_property
    def audit(self) -> Audit:
        return Audit(self.db, self.clock)

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing(self.settings.pii_keys, self.settings.fingerprint_key)

    def prepare(self, indexes: Iterable[Index], topics: Iterable[str] = ()) -> None:
        """Create indexes and topics; idempotent, run at every start."""
        ensure_indexes(self.db, [*AUDIT_INDEXES, *indexes])
        topics = list(topics)
        if topics:
            ensure_topics(self.settings, topics)

    def app(self, title: str, blueprints: Iterable[Blueprint],
            extensions: dict[str, Any] | None = None) -> Flask:
        return create_app(
            self.settings, title=title, blueprints=blueprints,
            ready_checks={"mongo": lambda: mongo_ready(self.settings),
                          "kafka": lambda: kafka_ready(self.settings)},
            extensions={"kit": self, **(extensions or {})},
        )

    def consumer(self, group: str, handlers: dict[str, Handler], *,
                 topics: Iterable[str] = (), pattern: str | None = None,
                 **options: Any) -> Consumer:
        return Consumer(self.settings, self.bus, group, handlers, topics=topics,
                        pattern=pattern, **options)

    def close(self) -> None:
        if "bus" in self.__dict__:
            self.bus.close()
