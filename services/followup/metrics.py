"""What followup publishes on ``/metrics`` beyond the kit's request metrics.

``followup_commitments_overdue`` is counted by the deadline sweep (in the worker, which
serves no ``/metrics``) into one small document; a scrape reads that document and nothing
else, so scraping costs one indexed read however many commitments there are, and every
web replica reports the same figures. They are as fresh as the last sweep
(``FOLLOWUP_SWEEP_SECONDS``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from services.followup.store import Store


class OverdueCommitments:
    """``followup_commitments_overdue{agency_id}``: commitments past their deadline and not
    resolved, by responsible agency (the Grafana dashboard's panel)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("followup_commitments_overdue",
                                  "Commitments past their deadline and not resolved",
                                  labels=["agency_id"])
        for agency, n in sorted(self.store.overdue_counts().items()):
            gauge.add_metric([agency], n)
        yield gauge
