"""Writes the chart's Grafana dashboard, ``files/dashboard.json``:
``python -m deploy.helm.dashboard`` (``--check`` only compares).

Kept as code so the panels' queries sit next to the metric names they rely on;
``tests/deploy`` checks that every metric a panel queries is one the services define
(``services/``) or one Strimzi's Kafka Exporter publishes.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "doithoai" / "files" / "dashboard.json"

# Metrics published by Strimzi's Kafka Exporter (Kafka.spec.kafkaExporter), not by our code.
EXPORTER_METRICS = ("kafka_consumergroup_lag", "kafka_topic_partition_current_offset",
                    "kafka_topic_partition_oldest_offset")

# The dead-letter topics, with or without a TOPIC_PREFIX.
DLQ = '{topic=~"(.*\\\\.)?dlq\\\\..*"}'

PANELS = [
    # (title, unit, [(legend, PromQL)], description)
    ("Requests per second by service", "reqps",
     [("{{service}}", 'sum by (service) (rate(http_requests_total[5m]))')],
     "Every HTTP request the web processes answered."),
    ("Server errors (5xx) per second", "reqps",
     [("{{service}} {{route}}",
       'sum by (service, route) (rate(http_requests_total{status=~"5.."}[5m]))')],
     "Requests answered with a 5xx status."),
    ("Latency p50 / p95 by service", "s",
     [("p50 {{service}}", 'histogram_quantile(0.5, sum by (service, le) '
                          '(rate(http_request_seconds_bucket[5m])))'),
      ("p95 {{service}}", 'histogram_quantile(0.95, sum by (service, le) '
                          '(rate(http_request_seconds_bucket[5m])))')],
     "From the http_request_seconds histogram of every web process."),
    ("Consumer lag by group and topic", "short",
     [("{{consumergroup}} / {{topic}}",
       'sum by (consumergroup, topic) (kafka_consumergroup_lag)')],
     "Records not yet consumed (Strimzi Kafka Exporter). A lag that keeps growing means the "
     "workers cannot keep up; they cannot usefully outnumber the partitions."),
    ("Dead-lettered records held (dlq.*)", "short",
     [("{{topic}}", f"sum by (topic) (kafka_topic_partition_current_offset{DLQ}) "
                    f"- sum by (topic) (kafka_topic_partition_oldest_offset{DLQ})")],
     "Records a consumer rejected, still within the dead-letter topics' retention "
     "(python -m services.cli dlq list|replay)."),
    ("Dead-lettered in the last hour", "short",
     [("{{topic}}", 'sum by (topic) (increase(kafka_topic_partition_current_offset'
                   f"{DLQ}[1h]))")],
     "New dead letters: any value above zero needs an operator."),
    ("Overdue commitments", "short",
     [("{{agency_id}}", 'sum by (agency_id) (followup_commitments_overdue)')],
     "Commitments past their deadline without a resolution, by responsible agency."),
    # notify_notifications is counted from notify's database, so every web pod reports the
    # same totals: max, not sum, across pods; a gauge, hence delta rather than increase.
    ("Failed deliveries in the last hour (SMS, Zalo, e-mail)", "short",
     [("{{channel}}", 'max by (channel) (delta(notify_notifications{delivery="failed"}[1h]))')],
     "Messages the provider refused, that failed after every retry, or that it reported "
     "undelivered. A Zalo failure falls back to SMS once."),
]


def panel(index: int, title: str, unit: str, targets: list[tuple[str, str]], desc: str) -> dict:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (legend, expr) in enumerate(targets)],
    }


def dashboard() -> dict:
    return {
        "uid": "doithoai-overview",
        "title": "Đối thoại — tổng quan vận hành",
        "tags": ["doithoai"],
        "timezone": "Asia/Ho_Chi_Minh",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
    }


def render() -> str:
    return json.dumps(dashboard(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUT.read_text(encoding="utf-8") == render() else 1)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
