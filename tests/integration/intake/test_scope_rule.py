"""The kit's scope rule on intake's lists: a filter outside the officer's area is 403."""

from __future__ import annotations

from tests.helpers import assert_outside_scope
from tests.integration.intake.conftest import petition

PETITIONS, ISSUES = "/api/v1/petitions", "/api/v1/issues"


def test_a_filter_outside_the_area_is_refused_inside_it_narrows(client, token):
    assert client.post(PETITIONS, json=petition()).status_code == 201
    province = token("secretariat", province="37")
    commune = token("host", province="37", ward="14464")
    for base in (PETITIONS, ISSUES):
        assert_outside_scope(client.get(f"{base}?province_code=01", headers=province))
        # a commune of Hà Nội, named without its province
        assert_outside_scope(client.get(f"{base}?ward_code=00004", headers=province))
        assert_outside_scope(client.get(f"{base}?ward_code=14428", headers=commune))
        assert client.get(f"{base}?ward_code=14428", headers=province).status_code == 200
        assert client.get(f"{base}?province_code=01", headers=token("admin", province=None)) \
            .status_code == 200
    inside = client.get(f"{PETITIONS}?province_code=37&ward_code=14464", headers=commune)
    assert inside.status_code == 200 and inside.json["total"] == 1
    assert client.get(f"{PETITIONS}?ward_code=14428", headers=province).json["total"] == 0
