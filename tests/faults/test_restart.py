"""A broker restarted over its own log directory keeps its topics, the services' users and
the agencies (issue #14): after a SIGKILL and after a clean stop, the agency still logs in
and reads its records, and a service still logs in. ``deploy/infra.sh`` keeps the local
broker's log the same way (it formats it only when missing or configured otherwise)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.common.config import Settings
from services.common.kafka import client_config
from services.common.kafka_security import add_agency, setup
from tests.faults.cluster import Cluster


def records(settings: Settings, topic: str) -> int:
    """How many records partition 0 holds, read as ``settings``' principal."""
    consumer = KafkaConsumer(**client_config(settings), request_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, 0)
        return consumer.end_offsets([tp])[tp] - consumer.beginning_offsets([tp])[tp]
    finally:
        consumer.close()


def test_a_restarted_broker_keeps_topics_users_and_agencies(tmp_path: Path):
    cluster = Cluster(tmp_path, nodes=1)
    cluster.start()
    try:
        admin = cluster.admin_settings(topic_prefix="", kafka_partitions=1)
        setup(admin)  # the services' users, ACLs and topics, as make infra-up does
        user, password, topic = add_agency(admin, "so-restart-37")
        agency = dataclasses.replace(admin, kafka_username=user, kafka_password=password,
                                     kafka_password_file="")
        producer = KafkaProducer(**client_config(agency), acks="all", retries=30)
        producer.send(topic, key=b"cm-1", value=b"{}", partition=0).get(timeout=30)
        producer.close(timeout=5)
        followup = dataclasses.replace(admin, kafka_username="followup", kafka_password="",
                                       kafka_password_file="", service="followup")
        broker = cluster.brokers[0]
        for stop in (broker.kill, broker.stop):  # SIGKILL, then a clean SIGTERM
            stop()
            broker.start()
            cluster.wait_ready()
            assert records(agency, topic) == 1  # its credentials, ACLs and topic survived
            assert records(followup, topic) == 1  # and a service's
    finally:
        cluster.stop()
