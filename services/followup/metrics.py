"""What followup publishes on ``/metrics`` beyond the kit's request metrics: figures read
from its database when Prometheus scrapes, so every web replica reports the same truth and
nothing is counted twice (the sweeps that mark commitments overdue run in the worker, which
serves no ``/metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from pymongo.collection import Collection

from services.followup.domain import ACTIVE


class OverdueCommitments:
    """``followup_commitments_overdue{agency_id}``: commitments past their deadline and not
    resolved, by responsible agency (the Grafana dashboard's panel)."""

    def __init__(self, commitments: Collection) -> None:
        self.commitments = commitments

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("followup_commitments_overdue",
                                  "Commitments past their deadline and not resolved",
                                  labels=["agency_id"])
        rows = self.commitments.aggregate([
            {"$match": {"overdue": True, "status": {"$in": list(ACTIVE)}}},
            {"$group": {"_id": "$agency_id", "n": {"$sum": 1}}}])
        for row in sorted(rows, key=lambda r: str(r["_id"])):
            gauge.add_metric([str(row["_id"])], row["n"])
        yield gauge
