"""Helpers for integration and end-to-end tests against the real Kafka and FerretDB."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pymongo import MongoClient

from services.cli import consumer_lag as cli_consumer_lag
from services.common.clock import utcnow
from services.common.config import Settings
from services.common.kafka import Consumer, client_config


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def wait_for(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.1,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def read_topic(settings: Settings, topic: str, *, min_count: int = 1,
               timeout: float = 20) -> list[Any]:
    """Every record of a (physical) topic from the beginning, once at least ``min_count``."""
    consumer = KafkaConsumer(**client_config(settings),
                             enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        partitions = wait_for(lambda: consumer.partitions_for_topic(topic), timeout,
                              message=f"topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            if len(records) >= min_count:
                # one more short poll so that a duplicate arriving late is seen too
                for batch in consumer.poll(timeout_ms=300).values():
                    records.extend(batch)
                return records
        raise AssertionError(f"{topic}: {len(records)} records, expected {min_count}")
    finally:
        consumer.close()


def events_on(settings: Settings, logical_topic: str, *, min_count: int = 1,
              timeout: float = 20) -> list[dict[str, Any]]:
    """Decoded CloudEvent envelopes of a logical topic."""
    records = read_topic(settings, settings.topic_prefix + logical_topic,
                         min_count=min_count, timeout=timeout)
    return [json.loads(r.value) for r in records]


@contextmanager
def running(consumer: Consumer) -> Iterator[Consumer]:
    """Run a consumer in a thread for the duration of a ``with`` block."""
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        consumer.stop()
        thread.join(30)


def consumer_lag(settings: Settings, group_prefix: str) -> int:
    """Records not yet handled by the consumer groups whose names start with
    ``group_prefix``, all topics together (``services.cli.consumer_lag``)."""
    return sum(sum(topics.values()) for topics in cli_consumer_lag(settings, group_prefix).values())


def staged_events(infra: Settings, db_prefix: str) -> int:
    """Documents whose outbox still holds events, in every database of the prefix."""
    from services.common.outbox import FLAG

    client = MongoClient(infra.mongo_url)
    try:
        return sum(client[name][collection].count_documents({FLAG: True})
                   for name in client.list_database_names() if name.startswith(db_prefix)
                   for collection in client[name].list_collection_names())
    finally:
        client.close()


def wait_drained(settings: Settings, prefix: str, busy: Callable[[], int] = lambda: 0,
                 *, quiet: float = 1.5, timeout: float = 90) -> None:
    """Wait until the pipeline of one test prefix has nothing left in flight: every
    outbox empty, every consumer group of the prefix at lag 0, and ``busy()`` (work a
    service still holds, e.g. notify's due messages) 0, twice in a row at least
    ``quiet`` seconds apart, so that a timer of the services (followup sweeps each
    second in the tests) has run once more on the drained state. Count after this,
    not after a fixed sleep."""
    def idle() -> bool:
        return (staged_events(settings, f"{prefix}_") == 0
                and consumer_lag(settings, f"{prefix}.") == 0 and busy() == 0)

    def idle_twice() -> bool:
        if not idle():
            return False
        first = time.monotonic()
        while time.monotonic() - first < quiet:
            time.sleep(0.25)
            if not idle():
                return False
        return True

    wait_for(idle_twice, timeout, interval=0.3, message=f"the pipeline of {prefix} to drain")


def drop_prefix(infra: Settings, prefix: str) -> None:
    """Delete the databases and topics of one test's prefix."""
    client = MongoClient(infra.mongo_url)
    with contextlib.suppress(Exception):
        for name in client.list_database_names():
            if name.startswith(f"{prefix}_"):
                client.drop_database(name)
    client.close()
    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(**client_config(infra))
        topics = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if topics:
            admin.delete_topics(topics)
        admin.close()


def docx_text(data: bytes) -> str:
    """Every paragraph of a DOCX, tables included, one per line."""
    from docx import Document  # only the document tests need python-docx

    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                lines += [p.text for p in cell.paragraphs]
    return "\n".join(lines)


def assert_outside_scope(response: Any) -> None:
    """The kit's one answer to a list or report filtered outside the caller's scope:
    403 problem+json with a Vietnamese detail (``services.common.auth.OutsideScope``)."""
    body = response.get_json()
    assert response.status_code == 403, body
    assert response.mimetype == "application/problem+json"
    assert body["detail_vi"].startswith("Bộ lọc nằm ngoài phạm vi bạn phụ trách"), body
    assert "outside your" in body["detail"]


def petition_body(title: str = "Đường Trần Hưng Đạo ngập sâu mỗi khi mưa lớn",
                  content: str = "Mỗi khi mưa lớn, đoạn đường Trần Hưng Đạo bị ngập sâu "
                                 "40-50 cm, nước không thoát được. Đề nghị nạo vét cống "
                                 "thoát nước.", *,
                  province: str = "37", ward: str | None = "14464",
                  phone: str = "0912 345 678", name: str | None = "Phạm Văn Hùng",
                  **overrides: Any) -> dict[str, Any]:
    """A citizen's petition as intake's POST takes it (by default a flooded street in
    Gia Viễn, Ninh Bình), who consents to be told; ``overrides`` replace whole fields."""
    petitioner: dict[str, Any] = {"phone": phone, "consent_notifications": True}
    if name:
        petitioner["full_name"] = name
    body: dict[str, Any] = {"kind": "feedback", "title": title, "content": content,
                            "locality": {"province_code": province, "ward_code": ward},
                            "petitioner": petitioner}
    body.update(overrides)
    return body


class SharedClock:
    """Moves the time of every running process forward (DOITHOAI_CLOCK_OFFSET_FILE)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = timedelta()
        path.write_text("0")

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
        # written aside and renamed over: a process never reads it half-written (an
        # empty file read between the truncation and the write meant no offset at all)
        aside = self.path.with_suffix(".new")
        aside.write_text(str(self.offset.total_seconds()))
        os.replace(aside, self.path)
        time.sleep(0.05)  # let the file's mtime move on even on coarse clocks


def dump_logs(folder: Path, only_errors: bool = False) -> None:
    for path in sorted(folder.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        if only_errors:
            lines = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]
        if lines:
            print(f"----- {path.name} -----")
            print("\n".join(lines[-40:]))


@contextmanager
def started_system(infra: Settings, prefix: str, base: Path, *, env: dict[str, str],
                   portal: bool = False,
                   timeout: float = 120) -> Iterator[tuple[Any, Settings, SharedClock]]:
    """The four services (and the portal) as real processes on free ports for one test
    prefix, as the e2e and browser tests run them: the prefix's ACLs and topics made as
    an operator would, its shared clock, then everything stopped, its ACLs, topics and
    databases removed and the errors of its logs printed. Yields (System, the prefix's
    Settings, SharedClock); ``env`` adds to the environment every test run shares."""
    from services.common.kafka_security import setup, teardown
    from services.system import System, free_port

    clock = SharedClock(base / "clock-offset")
    env = {"TOPIC_PREFIX": f"{prefix}.", "DB_PREFIX": f"{prefix}_",
           "DOITHOAI_CLOCK_OFFSET_FILE": str(clock.path), "LOG_LEVEL": "INFO",
           "KAFKA_PARTITIONS": "2", "FOLLOWUP_SWEEP_SECONDS": "1",
           "NOTIFY_QUIET_START": "00:00", "NOTIFY_QUIET_END": "00:00",
           "INTAKE_TRENDING_THRESHOLD": "8", **env}
    names = ["intake", "scheduling", "followup", "notify", "smtp", "sinks"]
    ports = {name: free_port() for name in names + (["portal"] if portal else [])}
    setup(dataclasses.replace(infra, kafka_partitions=2), prefix=f"{prefix}.")
    system = System(ports=ports, env=env, log_dir=base / "logs", web_workers=1, portal=portal)
    try:
        system.start()
        system.wait_ready(timeout=timeout)
    except Exception:
        dump_logs(base / "logs")
        system.stop()
        teardown(infra, f"{prefix}.")
        raise
    settings = Settings.from_env(topic_prefix=f"{prefix}.", db_prefix=f"{prefix}_")
    try:
        yield system, settings, clock
    finally:
        system.stop()
        teardown(infra, f"{prefix}.")
        dump_logs(base / "logs", only_errors=True)
        drop_prefix(infra, prefix)
