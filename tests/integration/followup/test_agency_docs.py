"""The documented agency integration works: the example producer and the CLI, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from services import cli
from services.common.kafka import client_config
from services.common.kafka_security import add_agency, revoke_agency
from services.followup import domain
from tests.helpers import events_on, running, unique, wait_for
from tests.integration.followup.conftest import concluded, conclusion

ROOT = Path(__file__).resolve().parents[3]


def test_example_producer_is_applied(followup):
    agency = unique("so-")
    followup.service.on_dialogue_concluded(concluded("dl-x", [
        conclusion(agency, conclusion_id="kl-x")]))
    cid = domain.commitment_id("kl-x")
    # as the agency's own principal, with the credentials `agency add` prints
    user, password, _ = add_agency(followup.settings, agency)
    env = {**os.environ, "KAFKA_BOOTSTRAP": followup.settings.kafka_bootstrap,
           "TOPIC_PREFIX": followup.settings.topic_prefix, "KAFKA_USERNAME": user,
           "KAFKA_PASSWORD": password, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    with running(followup.agency_consumer(metadata_max_age_ms=1000)) as consumer:
        out = subprocess.run([sys.executable, str(ROOT / "docs/examples/agency_producer.py"),
                              "--agency", agency, "--commitment", cid, "--percent", "70"],
                             env=env, capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.count("sent commitment.") == 2
        wait_for(lambda: followup.store.get(cid)["status"] == "resolved", timeout=30,
                 message="the example's resolution applied")
        assert consumer.stats.dead_lettered == 0
    revoke_agency(followup.settings, agency)
    doc = followup.store.get(cid)
    assert doc["progress"][0]["percent"] == 70
    assert doc["resolution"]["outcome"] == "resolved"
    events = events_on(followup.settings, "followup.commitments", min_count=3)
    assert [e["type"] for e in events] == ["commitment.assigned",
                                           "commitment.progress_reported",
                                           "commitment.resolved"]


def test_cli_agency_add_creates_the_topic(followup, monkeypatch, capsys):
    monkeypatch.setenv("TOPIC_PREFIX", followup.settings.topic_prefix)
    agency = unique("so-")
    assert cli.main(["agency", "add", agency]) == 0
    topic = f"{followup.settings.topic_prefix}agency.{agency}.reports"
    out = capsys.readouterr().out
    assert f"writes:   {topic}" in out and f'username="agency-{agency}"' in out
    admin = KafkaAdminClient(**client_config(followup.settings))
    try:
        # its inbox and its feed of commitments
        assert {topic, topic.replace(".reports", ".commitments")} <= set(admin.list_topics())
    finally:
        admin.close()
    assert cli.main(["agency", "revoke", agency]) == 0
    with pytest.raises(SystemExit) as refused:
        cli.main(["agency", "add", "Sở XD"])
    assert refused.value.code == 2
    assert cli.main(["token", "--role", "secretariat", "--province", "37"]) == 0
