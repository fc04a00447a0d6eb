"""docs/agencies.md's second client: Kafka's own console producer and consumer (Java), run
with the properties file `services.cli agency add --properties` writes, against the secured
broker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaProducer

from services.cli import main
from services.common.config import Settings
from services.common.kafka import client_config, ensure_topics
from services.common.kafka_security import revoke_agency
from tests.helpers import unique

pytestmark = pytest.mark.integration

PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"


def tool(settings: Settings, main_class: str, *args: str,
         stdin: str = "") -> subprocess.CompletedProcess:
    lib = Path(settings.var_dir).resolve() / "kafka" / "lib" / "*"
    return subprocess.run(
        # log4j's default configuration: errors on the console, where the test reads them
        ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", str(lib), main_class,
         "--bootstrap-server", settings.kafka_bootstrap, *args],
        input=stdin, capture_output=True, text=True, timeout=90,
        env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx128m"})


def test_console_tools_with_the_agency_properties_file(settings, monkeypatch, capsys,
                                                       tmp_path):
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    ensure_topics(settings, ["followup.commitments"])
    agency = unique("so-c-")
    props = tmp_path / f"{agency}.properties"
    assert main(["agency", "add", agency, "--properties", str(props)]) == 0
    capsys.readouterr()
    assert 'username="agency-' in props.read_text()
    own = f"{settings.topic_prefix}agency.{agency}.reports"
    report = '{"specversion": "1.0", "type": "commitment.progress_reported"}'
    try:
        sent = tool(settings, PRODUCER, "--producer.config", str(props), "--topic", own,
                    "--property", "parse.key=true", "--property", "key.separator=|",
                    stdin=f"cm-1|{report}\n")
        assert sent.returncode == 0, sent.stderr[-2000:]

        # its feed of commitments (created by `agency add`), written as followup would
        feed = f"{settings.topic_prefix}agency.{agency}.commitments"
        assigned = '{"specversion": "1.0", "type": "commitment.assigned"}'
        producer = KafkaProducer(**client_config(settings), acks="all", retries=30)
        try:
            producer.send(feed, key=b"cm-1", value=assigned.encode()).get(timeout=20)
        finally:
            producer.close(timeout=5)
        read = tool(settings, CONSUMER, "--consumer.config", str(props), "--topic", feed,
                    "--group", f"{settings.topic_prefix}{agency}.commitments",
                    "--from-beginning", "--max-messages", "1", "--timeout-ms", "30000",
                    "--property", "print.key=true")
        assert f"cm-1\t{assigned}" in read.stdout, read.stderr[-2000:]

        refused = tool(settings, PRODUCER, "--producer.config", str(props), "--topic",
                       settings.topic_prefix + "followup.commitments",
                       "--producer-property", "max.block.ms=15000",
                       stdin=f"{report}\n")
        assert "TopicAuthorizationException" in refused.stdout + refused.stderr
    finally:
        revoke_agency(settings, agency)
