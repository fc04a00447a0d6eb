"""Exit 0 when a server answers a real request: `probe.py kafka|mongo HOST:PORT`.

Kafka is asked as the principal the environment names (KAFKA_USERNAME, KAFKA_PASSWORD or
KAFKA_PASSWORD_FILE; deploy/infra.sh passes the admin's): the broker answers nobody else.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def kafka(addr: str) -> None:
    from kafka import KafkaAdminClient

    from services.common.config import Settings
    from services.common.kafka import client_config

    settings = Settings.from_env(kafka_bootstrap=addr)
    admin = KafkaAdminClient(**client_config(settings), request_timeout_ms=3000)
    try:
        admin.list_topics()  # a metadata request, answered only once the broker is ready
    finally:
        admin.close()


def mongo(addr: str) -> None:
    from pymongo import MongoClient

    client = MongoClient(f"mongodb://{addr}/", serverSelectionTimeoutMS=2000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


if __name__ == "__main__":
    {"kafka": kafka, "mongo": mongo}[sys.argv[1]](sys.argv[2])
