"""The kit's scope rule on followup's list and report: a filter outside the caller's area
(or, for an agency officer, agency) is 403, where the list used to answer nothing."""

from __future__ import annotations

from datetime import date

from tests.helpers import assert_outside_scope
from tests.integration.followup.conftest import concluded, conclusion

PATHS = ("/api/v1/commitments", "/api/v1/reports/commitments")


def test_list_and_report_refuse_a_filter_outside_the_scope(followup, web, token):
    followup.service.on_dialogue_concluded(concluded("dl-1", [
        conclusion("so-xd-37", conclusion_id="kl-1", deadline=date(2027, 3, 31))]))
    province = token("secretariat", province_code="37")
    commune = token("host", province_code="37", ward_code="14470")
    agency = token("agency_officer", agency_id="so-xd-37")
    for path in PATHS:
        assert_outside_scope(web.get(f"{path}?province_code=01", headers=province))
        assert_outside_scope(web.get(f"{path}?ward_code=14464", headers=commune))
        assert_outside_scope(web.get(f"{path}?agency_id=so-gtvt-37", headers=agency))
        assert web.get(f"{path}?ward_code=14464", headers=province).status_code == 200
        assert web.get(f"{path}?agency_id=so-xd-37", headers=agency).status_code == 200
    listed = web.get("/api/v1/commitments?ward_code=14464", headers=province).get_json()
    assert [i["conclusion_id"] for i in listed["items"]] == ["kl-1"]
    # an agency officer's scope is the agency, in any area
    report = web.get("/api/v1/reports/commitments?province_code=37", headers=agency)
    assert report.get_json()["totals"]["total"] == 1
