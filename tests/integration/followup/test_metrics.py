"""followup_commitments_overdue on /metrics: read from the database when scraped."""

from __future__ import annotations

import re
from datetime import date

from tests.integration.followup.conftest import concluded, conclusion


def overdue(web) -> dict[str, float]:
    text = web.get("/metrics").get_data(as_text=True)
    return {m[0]: float(m[1]) for m in
            re.findall(r'^followup_commitments_overdue\{agency_id="([^"]+)"\} (\S+)$', text, re.M)}


def test_overdue_commitments_by_agency_on_metrics(followup, web, clock):
    svc = followup.service
    svc.on_dialogue_concluded(concluded("dl-m1", [
        conclusion("so-xd-37", conclusion_id="kl-m1", deadline=date(2027, 3, 31)),
        conclusion("so-xd-37", conclusion_id="kl-m2", deadline=date(2027, 3, 31)),
        conclusion("so-yt-37", conclusion_id="kl-m3", deadline=date(2027, 3, 31)),
        conclusion("so-tc-37", conclusion_id="kl-m4", deadline=date(2027, 12, 31))]))
    assert overdue(web) == {}
    clock.advance(days=40)  # 10/04/2027: the three due on 31/03 are overdue
    svc.sweep()
    assert overdue(web) == {"so-xd-37": 2.0, "so-yt-37": 1.0}
