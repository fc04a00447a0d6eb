"""Exit 0 when a server answers a real request: `probe.py kafka|mongo HOST:PORT`."""

import sys


def kafka(addr: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=3000)
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
