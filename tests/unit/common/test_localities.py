"""Official locality codes after the 2025 reform: provinces and communes."""

from __future__ import annotations

import pytest

from services.common import localities
from services.common.localities import UnknownLocality


def test_ninh_binh_has_129_communes():
    wards = localities.wards_of("37")
    assert len(wards) == 129
    assert all(w.province_code == "37" for w in wards)
    assert all(len(w.code) == 5 and w.code.isdigit() for w in wards)
    assert len({w.code for w in wards}) == 129


def test_province():
    unit = localities.province("37")
    assert unit.code == "37"
    assert "Ninh Bình" in unit.name
    assert unit.kind == "tỉnh"
    assert localities.province("01").kind == "thành phố trung ương"


def test_gia_vien_commune():
    unit = localities.ward("14464")
    assert unit.name == "Xã Gia Viễn"
    assert unit.kind == "xã"
    assert unit.province_code == "37"
    assert unit in localities.wards_of("37")


def test_validate_accepts_matching_codes():
    localities.validate("37")
    localities.validate("37", "14464")
    localities.validate("37", None)


def test_validate_rejects_commune_of_another_province():
    hanoi_commune = localities.wards_of("01")[0].code
    localities.validate("01", hanoi_commune)
    with pytest.raises(UnknownLocality, match="not in province"):
        localities.validate("37", hanoi_commune)
    with pytest.raises(UnknownLocality):
        localities.validate("01", "14464")


@pytest.mark.parametrize("code", ["3", "037", "ab", "", "3a"])
def test_bad_province_shapes(code):
    with pytest.raises(UnknownLocality, match="two digits"):
        localities.validate(code)


@pytest.mark.parametrize("code", ["1446", "144640", "abcde", "1446a", ""])
def test_bad_commune_shapes(code):
    with pytest.raises(UnknownLocality, match="five digits"):
        localities.validate("37", code)


def test_unknown_codes():
    with pytest.raises(UnknownLocality, match="no province"):
        localities.validate("99")
    with pytest.raises(UnknownLocality, match="no commune"):
        localities.validate("37", "99999")
    with pytest.raises(UnknownLocality):
        localities.wards_of("99")


def test_unknown_locality_is_a_value_error():
    assert issubclass(UnknownLocality, ValueError)


def test_search_ignores_case_and_diacritics():
    for text in ("gia vien", "GIA VIỄN", "Gia Viễn", "xa gia vien"):
        found = localities.search("37", text)
        assert "14464" in {u.code for u in found}, text
    many = localities.search("37", "gia")
    assert len(many) > 1
    assert all("gia" in u.name.lower() for u in many)
    assert localities.search("37", "khong co xa nay") == []
