"""The kit's scope rule on scheduling's lists and reports: a filter outside the officer's
area is 403 problem+json with a Vietnamese detail, whatever the endpoint."""

from __future__ import annotations

from tests.helpers import assert_outside_scope
from tests.integration.scheduling.conftest import dialogue_body

LISTS = ("/api/v1/dialogues", "/api/v1/programmes", "/api/v1/agenda-candidates")
REPORTS = ("/api/v1/compliance?year=2026&", "/api/v1/reports/dialogues?",
           "/api/v1/reception-compliance?month=2026-03&")


def test_every_list_and_report_refuses_a_filter_outside_the_area(api):
    assert api.post("/api/v1/dialogues", dialogue_body()).status_code == 201
    for path in LISTS:
        assert_outside_scope(api.get(f"{path}?province_code=01"))
        assert_outside_scope(api.get(f"{path}?ward_code=00004"))  # Hà Nội's commune
        assert_outside_scope(api.get(f"{path}?ward_code=14428", ward="14464"))
        assert api.get(f"{path}?ward_code=14464").status_code == 200
    for path in REPORTS:
        assert_outside_scope(api.get(f"{path}province_code=01"))
        assert api.get(f"{path}province_code=37").status_code == 200
    mine = api.get("/api/v1/dialogues?ward_code=14464", ward="14464").json
    assert mine["total"] == 1
    assert api.get("/api/v1/dialogues?province_code=01", province=None,
                   roles=("admin",)).json["total"] == 0
