"""The pieces every service wires together in its composition root (``bootstrap.py``):
``Kit`` (settings, clock, database, producer, audit, keys), ``ServiceApp`` (the base of
each service's ``bootstrap.App``: indexes and topics, the web app, the consumers, the
outbox relay and the timed jobs of its worker) and ``run_worker`` (each ``worker.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
from services.common.kafka import Bus, Consumer, Handler, ensure_topics, kafka_ready, topic_name
from services.common.mongo import Index, database, ensure_indexes, mongo_ready
from services.common.outbox import Outbox
from services.common.runtime import Worker
from services.common.web import create_app


class LazyBus:
    """The process's producer, made on its first send: a Kafka producer's I/O thread
    does not survive gunicorn's fork, and a web process that never publishes (or a
    test) needs none. The one way every service holds its producer (``Kit.bus``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._bus: Bus | None = None
        self._lock = threading.Lock()

    @property
    def producer(self) -> Bus:
        if self._bus is None:
            with self._lock:
                if self._bus is None:
                    self._bus = Bus(self.settings)
        return self._bus

    @property
    def started(self) -> bool:
        return self._bus is not None

    def publish(self, *args: Any, **kwargs: Any) -> None:
        self.producer.publish(*args, **kwargs)

    def publish_all(self, *args: Any, **kwargs: Any) -> None:
        self.producer.publish_all(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        return self.producer.send(*args, **kwargs)

    def topic(self, logical: str) -> str:
        return topic_name(self.settings, logical)

    def flush(self, timeout: float = 30) -> None:
        if self._bus is not None:
            self._bus.flush(timeout)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None


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
    def bus(self) -> LazyBus:
        return LazyBus(self.settings)

    def outbox(self, collections: Iterable[Any]) -> Outbox:
        """The outbox of the given collections, publishing with this process's producer."""
        return Outbox(self.bus, collections, clock=self.clock)  # type: ignore[arg-type]

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
        return Consumer(self.settings, self.bus, group, handlers,  # type: ignore[arg-type]
                        topics=topics, pattern=pattern, **options)

    def close(self) -> None:
        if "bus" in self.__dict__:
            self.bus.close()


@dataclass(frozen=True)
class Job:
    """A timed job of a service's worker: ``run`` every ``seconds``."""

    name: str
    seconds: float
    run: Callable[[], object]


class ServiceApp:
    """The base of every service's composition root (``bootstrap.App``).

    A subclass has ``settings`` and ``kit`` and says what is its own: ``TITLE``,
    ``indexes()``, ``topics()``, ``blueprints()``, ``extensions()``, ``consumers()``,
    ``outboxes()`` and ``jobs()``; the base prepares, builds the web app, and runs the
    worker (consumers, one outbox relay per second, the jobs) the same way for all.
    """

    TITLE = ""
    settings: Settings
    kit: Kit

    def indexes(self) -> Iterable[Index]:
        return ()

    def topics(self) -> Iterable[str]:
        return ()

    def upgrade(self) -> None:
        """Idempotent data migrations run after the indexes, at every start."""

    def blueprints(self) -> Iterable[Blueprint]:
        return ()

    def extensions(self) -> dict[str, Any]:
        return {}

    def install(self, app: Flask) -> None:
        """Anything the web app needs beyond blueprints and extensions."""

    def consumers(self) -> list[Consumer]:
        return []

    def outboxes(self) -> list[Outbox]:
        return []

    def jobs(self) -> list[Job]:
        return []

    def prepare(self) -> None:
        """Indexes, topics and migrations; idempotent, run by the web app and the worker."""
        self.kit.prepare(self.indexes(), self.topics())
        self.upgrade()

    def web(self) -> Flask:
        self.prepare()
        app = self.kit.app(self.TITLE, self.blueprints(), extensions=self.extensions())
        self.install(app)
        return app

    def relay(self) -> int:
        """Publish what every outbox of the service has staged (the worker, each second)."""
        return sum(outbox.relay_once() for outbox in self.outboxes())

    def worker(self) -> Worker:
        worker = Worker(self.settings.service)
        for consumer in self.consumers():
            worker.consume(consumer)
        if self.outboxes():
            worker.every(1.0, self.relay, "outbox-relay")
        for job in self.jobs():
            worker.every(job.seconds, job.run, job.name)
        return worker

    def close(self) -> None:
        self.kit.close()


def run_worker(build: Callable[[], ServiceApp]) -> None:
    """``python -m services.<name>.worker``: prepare, then run until SIGTERM or SIGINT."""
    app = build()
    app.prepare()
    try:
        app.worker().run_forever()
    finally:
        app.close()
