"""Issue 19: pre-2025 commune codes mapped to 2025 communes, or reported."""

from __future__ import annotations

from services.intake import historic

# Hà Nam (now Ninh Bình): an old commune that became Xã Gia Viễn alone, one split in two.
MAPPING = {"13999": ["14464"], "13998": ["14464", "14482"], "13997": ["99999"]}


def test_one_target_maps_and_the_rest_is_reported():
    assert historic.map_locality({"district_code": "349", "ward_code": "13999"}, MAPPING) == (
        {"province_code": "37", "ward_code": "14464"}, None)
    assert historic.map_locality({"ward_code": 13999}, MAPPING)[0]["ward_code"] == "14464"
    loc, why = historic.map_locality({"ward_code": "13998"}, MAPPING)
    assert loc is None and why == "commune 13998 was split between 14464, 14482"
    assert historic.map_locality({"ward_code": "12345"}, MAPPING)[1] == \
        "commune 12345 is not in the conversion table"
    assert historic.map_locality({}, MAPPING)[1] == "no commune code"
    assert "unknown in the 2025 list" in historic.map_locality({"ward_code": "13997"},
                                                               MAPPING)[1]


def test_csv_mapping_and_what_the_package_ships(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("old_ward_code,new_ward_code\n13999,14464\n13998,14464\n13998,14482\n",
                    encoding="utf-8")
    assert historic.csv_mapping(str(path)) == {"13999": ["14464"],
                                               "13998": ["14464", "14482"]}
    # vietnam-provinces 2025.10.1 (pinned) has no conversion table; later releases do
    shipped = historic.package_mapping()
    assert shipped is None or all(len(k) == 5 for k in shipped)
