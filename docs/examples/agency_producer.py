"""An agency's system reporting to the follow-up service over Kafka (kafka-python only).

It sends one progress report and then the resolution of a commitment, as
structured-mode CloudEvents, on the agency's own topic ``agency.<agency_id>.reports``,
keyed by the commitment id. See docs/agencies.md.

    KAFKA_BOOTSTRAP=kafka.tinh.gov.vn:9093 KAFKA_USERNAME=agency-so-xd-37 \\
    KAFKA_PASSWORD=... KAFKA_SSL_CAFILE=ca.pem \\
    python docs/examples/agency_producer.py --agency so-xd-37 --commitment cm-...

Environment: KAFKA_BOOTSTRAP (default 127.0.0.1:9092); KAFKA_USERNAME and KAFKA_PASSWORD,
the credentials ``python -m services.cli agency add <id>`` printed once;
KAFKA_SECURITY_PROTOCOL (default SASL_SSL, as in production; SASL_PLAINTEXT against the
local broker); KAFKA_SSL_CAFILE, the CA that signed the brokers' certificates (SASL_SSL);
TOPIC_PREFIX only in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from datetime import UTC, datetime

from kafka import KafkaProducer

SCHEMAS = "https://doithoai.github.io/contracts/schemas"


def cloudevent(type_: str, agency: str, commitment: str, data: dict) -> dict:
    """A CloudEvents 1.0 envelope; ``id`` must be unique per report: a report sent
    twice with the same id takes effect once."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"agency/{agency}",
        "type": type_,
        "subject": commitment,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMAS}/{type_}.v1.json",
        "data": {"commitment_id": commitment, "agency_id": agency, **data},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agency", required=True, help="your agency id, e.g. so-xd-37")
    parser.add_argument("--commitment", required=True, help="the commitment id")
    parser.add_argument("--percent", type=int, default=60)
    args = parser.parse_args()

    topic = os.environ.get("TOPIC_PREFIX", "") + f"agency.{args.agency}.reports"
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    tls = {"ssl_cafile": os.environ["KAFKA_SSL_CAFILE"]} if os.environ.get(
        "KAFKA_SSL_CAFILE") else {}
    producer = KafkaProducer(
        bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        security_protocol=protocol,       # SASL_SSL: encrypted, and the broker is verified
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=os.environ["KAFKA_USERNAME"],  # agency-<your agency id>
        sasl_plain_password=os.environ["KAFKA_PASSWORD"],
        **(tls if protocol == "SASL_SSL" else {}),
        acks="all",                       # wait until the report is safely stored
        enable_idempotence=True,          # no duplicates from the producer's own retries
        key_serializer=str.encode,
        value_serializer=lambda event: json.dumps(event, ensure_ascii=False).encode(),
    )
    headers = [("content-type", b"application/cloudevents+json")]
    progress = cloudevent("commitment.progress_reported", args.agency, args.commitment, {
        "note": "Đã hoàn thành khảo sát hiện trạng và lập dự toán",
        "percent": args.percent,
        "evidence": ["https://example.gov.vn/bien-ban-khao-sat.pdf"],
    })
    resolution = cloudevent("commitment.resolution_submitted", args.agency, args.commitment, {
        "answer": "Tuyến đường liên thôn đã được nâng cấp, bàn giao đưa vào sử dụng.",
        "outcome": "resolved",
    })
    for event in (progress, resolution):
        # Key = commitment id: one commitment's reports stay in order.
        producer.send(topic, key=args.commitment, value=event, headers=headers).get(timeout=30)
        print(f"sent {event['type']} {event['id']} to {topic}")
    producer.close()


if __name__ == "__main__":
    main()
