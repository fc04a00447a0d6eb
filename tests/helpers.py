"""Helpers for integration and end-to-end tests against the real Kafka and FerretDB."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from pymongo import MongoClient

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
