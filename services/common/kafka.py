"""Kafka: the producer, topic creation and the consumer loop.

Guarantees (docs/ARCHITECTURE.md, "Delivery guarantees"):
- the producer waits for ``acks=all`` and is idempotent; the key is the aggregate id;
- the consumer commits offsets only after its handlers have stored their effects;
- a record that cannot be parsed or fails its schema goes to ``dlq.<group>`` with
  the error, original topic, partition and offset in headers, and the loop goes on;
- any other failure is taken as transient and retried with backoff, never dead-lettered.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    ClusterAuthorizationFailedError,
    CommitFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)
from kafka.structs import OffsetAndMetadata

from services.common import logs
from services.common.clock import utcnow
from services.common.config import ConfigError, Settings, kafka_credentials
from services.common.events import Event, InvalidEvent

log = logging.getLogger(__name__)
# kafka-python warns on every SASL_PLAINTEXT login that credentials go "in the clear"; SCRAM
# never sends the password itself, and production runs SASL_SSL. The warning drowned the logs.
logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)

# How long one poll may wait for a group join already under way (see Consumer._join_wait).
JOIN_WAIT_MS = 10_000

Handler = Callable[[Event], None]
# Handles consecutive events of one type from one poll at once (one bulk write per
# collection, say); each must also have a one-event handler (see Consumer).
BatchHandler = Callable[[list[Event]], None]

# The physical topic of the record a handler is handling (e.g. to learn which
# agency's topic a report came from); None outside a consumer's handler.
record_topic: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "record_topic", default=None)


class Rejected(Exception):
    """Raised by a handler for a valid event it must refuse for good (dead-lettered)."""


def client_config(settings: Settings) -> dict[str, object]:
    """Bootstrap servers and security settings every Kafka client of ours uses."""
    config: dict[str, object] = {"bootstrap_servers": settings.kafka_bootstrap,
                                 "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol.startswith("SASL"):
        user, password = kafka_credentials(settings)
        config.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                      sasl_plain_username=user, sasl_plain_password=password)
    if settings.kafka_security_protocol.endswith("SSL"):
        config["ssl_check_hostname"] = True
        if settings.kafka_ssl_cafile:
            config["ssl_cafile"] = settings.kafka_ssl_cafile
    return config


def topic_name(settings: Settings, logical: str) -> str:
    return settings.topic_prefix + logical


def dlq_topic(settings: Settings, group: str) -> str:
    return topic_name(settings, f"dlq.{group}")


class Bus:
    """The process's producer. Thread-safe; one per process."""

    def __init__(self, settings: Settings, **overrides: object) -> None:
        self.settings = settings
        config = dict(
            **client_config(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            retries=2**31 - 1,
            request_timeout_ms=15_000,
            client_id=settings.service,
        )
        config.update(overrides)
        self._producer = KafkaProducer(**config)

    def publish(self, event: Event, *, wait: bool = True) -> None:
        """Send ``event`` to its topic, keyed by its subject; with ``wait``, until acked."""
        self.send(self.topic(event.topic), event.subject, event.to_json(), wait=wait)

    def publish_all(self, events: Iterable[Event]) -> None:
        """Send events in order and wait for all of them to be acknowledged."""
        futures = [self.send(self.topic(e.topic), e.subject, e.to_json(), wait=False)
                   for e in events]
        for future in futures:
            future.get(timeout=30)

    def send(self, topic: str, key: str | None, value: bytes, *, wait: bool = True,
             headers: list[tuple[str, bytes]] | None = None):
        headers = [("content-type", b"application/cloudevents+json"), *(headers or [])]
        future = self._producer.send(topic, key=key.encode() if key else None, value=value,
                                     headers=headers)
        if wait:
            future.get(timeout=30)
        return future

    def topic(self, logical: str) -> str:
        return topic_name(self.settings, logical)

    def flush(self, timeout: float = 30) -> None:
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self._producer.close(timeout=10)


def admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**client_config(settings),
                            client_id=f"{settings.service}-admin", request_timeout_ms=15_000)


def ensure_topics(settings: Settings, logical: Iterable[str]) -> None:
    """Create the missing topics with the configured partitions and replication.

    Services may not create topics on a secured broker (only followup, agencies' inboxes):
    the operator's ``services.cli kafka setup`` creates them first. A missing topic this
    principal may not create stops the process with one line saying so.
    """
    names = [topic_name(settings, t) for t in logical]
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        try:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                client.create_topics([NewTopic(n, settings.kafka_partitions,
                                               settings.kafka_replication) for n in missing])
        except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
            raise ConfigError(
                f"Kafka topics {', '.join(missing)} do not exist and principal "
                f"{client.config.get('sasl_plain_username')!r} may not create them; run "
                "python -m services.cli kafka setup (make infra-up does) first") from None
        log.info("created topics", extra={"topics": missing})
    finally:
        client.close()


def kafka_ready(settings: Settings) -> bool:
    """A real metadata request, for /readyz."""
    try:
        client = admin(settings)
    except KafkaError:
        return False
    try:
        client.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        client.close()


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    retries: int = 0
    skipped: int = 0


class Consumer:
    """A consumer group member that hands each event to its handler.

    ``handlers`` maps an event type to a function; types without one are
    skipped. Offsets are committed after each polled batch, once every record
    in it is handled, so a crash replays at most that batch.

    ``batch_handlers`` (optional) maps some of those types to a function taking a
    list: consecutive records of such a type in a poll go to it at once, in order.
    Should it fail, the same records go one by one to their one-event handlers,
    with the usual retries and dead letters.
    """

    def __init__(self, settings: Settings, bus: Bus, group: str, handlers: dict[str, Handler],
                 *, topics: Iterable[str] = (), pattern: str | None = None,
                 max_poll_records: int = 200, backoff_max: float = 30.0,
                 on_invalid: Callable[[str, Exception], None] | None = None,
                 batch_handlers: dict[str, BatchHandler] | None = None,
                 **overrides: object) -> None:
        topics = list(topics)
        self.settings = settings
        self.bus = bus
        self.group = topic_name(settings, group)
        self.handlers = handlers
        self.batch_handlers = batch_handlers or {}
        self.backoff_max = backoff_max
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._dlq = dlq_topic(settings, group)
        self.on_invalid = on_invalid
        config = dict(
            **client_config(settings),
            group_id=self.group,
            client_id=f"{settings.service}-{group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            metadata_max_age_ms=30_000,  # pattern subscriptions see new topics within a minute
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        config.update(overrides)
        # Topics must exist first: the broker does not create them on demand.
        ensure_topics(settings, [*topics, f"dlq.{group}"])
        self._consumer = KafkaConsumer(**config)
        self._await_metadata([topic_name(settings, t) for t in topics])
        if pattern is not None:
            self._consumer.subscribe(pattern="^" + re.escape(settings.topic_prefix) + pattern)
        else:
            self._consumer.subscribe([topic_name(settings, t) for t in topics])

    def _await_metadata(self, names: list[str], timeout: float = 30.0) -> None:
        """Wait until this client's metadata lists every topic it subscribes to.

        A topic created a moment ago may be missing from the first metadata answer;
        the group's assignor then hands out no partitions of it, and the member sits
        idle until its next metadata refresh (up to ``metadata_max_age_ms``).
        """
        deadline = time.monotonic() + timeout
        for name in names:
            while not self._consumer.partitions_for_topic(name):
                if time.monotonic() > deadline:
                    log.warning("topic metadata still missing", extra={"topic": name})
                    return
                time.sleep(0.1)

    def _join_wait(self, timeout_ms: int) -> int:
        """The poll timeout: longer while a group join is under way.

        Works around kafka-python 3.0.12 losing rebalances. poll() runs a join as a task
        and awaits it for its own timeout; a task that finishes between two polls is
        thrown away and a new join sent (under load, joins went on for ever), and a join
        that its metadata check started (a new topic for a pattern, partitions unknown at
        the first join) is not awaited at all once the leader has assigned, so its
        assignment is never applied and the member sits idle for good (the agency-report
        consumer, 2 runs in 10 with the CPU busy). So while a join is in flight, ask for
        the rejoin if nobody does and give the poll time to collect it.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        if getattr(coordinator, "_join_task", None) is None:
            return timeout_ms
        if not coordinator.need_rejoin():
            coordinator.request_rejoin()
        return max(timeout_ms, JOIN_WAIT_MS)

    def stop(self) -> None:
        """Ask the loop to finish the record in hand, commit and leave the group."""
        self._stop.set()

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Poll and handle until stopped (or until ``until()`` is true)."""
        try:
            while not self._stop.is_set() and not (until and until()):
                self.poll_once(timeout_ms=500)
        finally:
            self.close()

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Handle one polled batch and commit it; return how many records were handled."""
        batches = self._consumer.poll(timeout_ms=self._join_wait(timeout_ms))
        done: dict[TopicPartition, OffsetAndMetadata] = {}
        count = 0
        run: list[tuple[TopicPartition, Any, Event]] = []  # consecutive, one batched type
        try:
            for tp, records in batches.items():
                for record in records:
                    if self._stop.is_set():
                        return count
                    event = self._batchable(record)
                    if run and (event is None or event.type != run[0][2].type):
                        if not self._process_run(run, done):
                            return count
                        count += len(run)
                        run = []
                    if event is not None:
                        run.append((tp, record, event))
                        continue
                    if not self._process(record):
                        return count  # stopped while retrying: leave it uncommitted
                    done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
                    count += 1
            if run and self._process_run(run, done):
                count += len(run)
        finally:
            if done:
                self._commit(done)
        return count

    def _batchable(self, record) -> Event | None:
        """The record's event if a batch handler takes its type (else None: the record
        goes through ``_process``, which also deals with what cannot be read)."""
        limit = self.settings.kafka_max_event_bytes
        if not self.batch_handlers or len(record.value or b"") > limit:
            return None
        try:
            event = Event.from_json(record.value)
        except InvalidEvent:
            return None
        return event if event.type in self.batch_handlers else None

    def _process_run(self, run: list[tuple[TopicPartition, Any, Event]],
                     done: dict[TopicPartition, OffsetAndMetadata]) -> bool:
        """Handle consecutive records of one batched type; False if stopped meanwhile."""
        events = [event for _, _, event in run]
        try:
            self.batch_handlers[events[0].type](events)
            self.stats.handled += len(events)
            for tp, record, _ in run:
                done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            return True
        except Exception as exc:  # one by one: retries, dead letters, as ever
            log.warning("batch failed, handling its events one by one",
                        extra={"event_type": events[0].type, "count": len(events),
                               "error": repr(exc)})
        for tp, record, _ in run:
            if not self._process(record):
                return False
            done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        return True

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        delay = 0.2
        while True:
            try:
                self._consumer.commit(offsets)
                return
            except CommitFailedError as exc:
                # The group rebalanced: the partitions' next owner replays these records.
                log.warning("commit lost to a rebalance", extra={"error": str(exc)})
                return
            except KafkaError as exc:
                if self._stop.is_set():
                    log.warning("commit failed while stopping", extra={"error": str(exc)})
                    return
                log.warning("commit failed, retrying", extra={"error": str(exc)})
                time.sleep(delay)
                delay = min(delay * 2, 5)

    def _process(self, record) -> bool:
        size = len(record.value or b"")
        if size > self.settings.kafka_max_event_bytes:
            # Checked before parsing: a huge record would cost the loop its time and memory.
            self._dead_letter(record, f"oversized: {size} bytes, more than "
                                      f"{self.settings.kafka_max_event_bytes}", "oversized")
            return True
        try:
            event = Event.from_json(record.value)
        except InvalidEvent as exc:
            kind, reason = classify(exc)
            self._dead_letter(record, reason, kind)
            return True
        handler = self.handlers.get(event.type)
        if handler is None:
            self.stats.skipped += 1
            return True
        delay = 0.1
        while True:
            logs.correlation_id.set(event.correlation_id or event.id)
            logs.causation_id.set(event.id)
            token = record_topic.set(record.topic)
            try:
                handler(event)
                self.stats.handled += 1
                return True
            except Rejected as exc:
                self._dead_letter(record, str(exc), "rejected")
                return True
            except Exception as exc:
                self.stats.retries += 1
                log.warning("handler failed, will retry",
                            extra={"event_type": event.type, "event_id": event.id,
                                   "error": repr(exc), "retry_in": round(delay, 2)})
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.backoff_max) * random.uniform(0.8, 1.2)
            finally:
                record_topic.reset(token)
                logs.correlation_id.set(None)
                logs.causation_id.set(None)

    def _dead_letter(self, record, reason: str, kind: str) -> None:
        headers = [
            ("dlq.error", reason[:2000].encode()),
            ("dlq.reason", kind.encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.group", self.group.encode()),
            ("dlq.time", utcnow().isoformat().encode()),
        ]
        key = record.key.decode(errors="replace") if record.key else None
        self.bus.send(self._dlq, key, record.value or b"", headers=headers)
        self.stats.dead_lettered += 1
        log.warning("record dead-lettered", extra={"topic": record.topic,
                                                   "partition": record.partition,
                                                   "offset": record.offset, "reason": kind,
                                                   "error": reason})
        if self.on_invalid:
            self.on_invalid(reason, InvalidEvent(reason))

    def close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except Exception:  # closing is best-effort; the group times us out anyway
            log.exception("consumer close failed")


def classify(exc: InvalidEvent) -> tuple[str, str]:
    """(kind, reason) of a record that is no valid event: not-json, not-cloudevent,
    unknown-type (an unknown type, or a version of it we do not know) or invalid-data."""
    message = str(exc)
    if isinstance(exc.__cause__, json.JSONDecodeError | UnicodeDecodeError):
        return "not-json", f"not a CloudEvent (not JSON): {exc.__cause__}"
    if message.startswith("unknown event type") or message.startswith("unknown dataschema"):
        return "unknown-type", message
    if message.startswith("not a CloudEvent"):
        return "not-cloudevent", message
    return "invalid-data", message


def safe_name(value: str) -> str:
    """A string usable inside a topic name (agency ids come from outside)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)
