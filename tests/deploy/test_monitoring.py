"""Every metric the Grafana dashboard queries is one the services define or one Strimzi's
Kafka Exporter publishes; every web Service has a ServiceMonitor."""

from __future__ import annotations

import json
import re

from deploy.helm.dashboard import EXPORTER_METRICS, OUT
from tests.deploy.chart import ROOT, of_kind, rendered

# Panels whose metric the services do not define yet (see docs/deploy.md, "Monitoring").
# The test fails once one of them is defined, so the list cannot go stale.
PENDING: set[str] = set()

DEFINED = re.compile(
    r"""(?:Counter|Gauge|Histogram|Summary)(?:MetricFamily)?\(\s*["']([a-z_:]+)["']""")
# Metrics a service writes in the exposition format itself (notify's delivery counts).
WRITTEN = re.compile(r"# TYPE ([a-z_:]+) (?:counter|gauge|histogram|summary)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def defined_metrics() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(DEFINED.findall(text)) | set(WRITTEN.findall(text))
    return names


def queried_metrics() -> set[str]:
    dashboard = json.loads(OUT.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    words = set()
    for expr in exprs:
        expr = re.sub(r'\{[^}]*\}', "", expr)  # label matchers
        expr = re.sub(r'\b(?:by|without)\s*\([^)]*\)', "", expr)  # grouping labels
        words |= set(re.findall(r"\b[a-z_]+_[a-z_]+\b", expr))
    return {w for w in words if w not in {"histogram_quantile"}}


def base(name: str, defined: set[str]) -> str:
    if name in defined:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in defined:
            return name.removesuffix(suffix)
    return name


def test_every_dashboard_metric_exists():
    defined = defined_metrics()
    assert "http_requests_total" in defined and "http_request_seconds" in defined
    unknown = {q for q in queried_metrics()
               if base(q, defined) not in defined and q not in EXPORTER_METRICS}
    assert unknown == PENDING, f"undefined metrics on the dashboard: {unknown - PENDING}"


def test_dashboard_covers_what_operators_watch():
    queried = queried_metrics()
    assert {"http_requests_total", "http_request_seconds_bucket", "kafka_consumergroup_lag",
            "kafka_topic_partition_current_offset"} <= queried
    assert queried >= PENDING
    assert "followup_commitments_overdue" in queried
    # Failed deliveries come from notify's own counts by channel and delivery state.
    exprs = [t["expr"] for p in json.loads(OUT.read_text(encoding="utf-8"))["panels"]
             for t in p["targets"]]
    assert any('notify_notifications{delivery="failed"}' in e for e in exprs)


def test_every_web_service_has_a_service_monitor():
    objects = rendered("ninhbinh")
    monitors = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
                for m in of_kind(objects, "ServiceMonitor")}
    services = {s["metadata"]["labels"]["app.kubernetes.io/name"]
                for s in of_kind(objects, "Service")
                if s["metadata"]["labels"].get("app.kubernetes.io/component") == "web"}
    assert services == monitors == {"intake", "scheduling", "followup", "notify", "portal"}
    (dashboard,) = [c for c in of_kind(objects, "ConfigMap")
                    if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert json.loads(dashboard["data"]["doithoai.json"])["panels"]
