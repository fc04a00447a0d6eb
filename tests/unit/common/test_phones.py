"""Vietnamese phone numbers to E.164, masking."""

from __future__ import annotations

import pytest

from services.common.phones import InvalidPhone, is_mobile, last_digits, mask, normalize


@pytest.mark.parametrize("raw", ["0912 345 678", "+84 912345678", "84912345678",
                                 "(+84) 91-234-5678", " 0912.345.678 ", "0912345678"])
def test_mobile_forms_normalise_to_e164(raw):
    assert normalize(raw) == "+84912345678"


def test_landline():
    assert normalize("024 3825 3535") == "+842438253535"
    assert normalize("+84 24 3825 3535") == "+842438253535"


def test_mobile_or_not():
    assert is_mobile(normalize("0912 345 678"))
    assert not is_mobile(normalize("024 3825 3535"))


@pytest.mark.parametrize("raw", ["12345", "+1 650 253 0000", "+1 (202) 555-0123",
                                 "không có số", "abc-def-ghij", "", "0912 345 67"])
def test_rejects_what_is_not_a_vietnamese_number(raw):
    with pytest.raises(InvalidPhone):
        normalize(raw)


def test_invalid_phone_is_a_value_error():
    assert issubclass(InvalidPhone, ValueError)


def test_mask_hides_the_middle():
    assert mask("+84912345678") == "+8491****678"
    masked = mask("+842438253535")
    assert masked.startswith("+8424") and masked.endswith("535")
    assert "3825" not in masked
    assert len(masked) == len("+842438253535")
    assert mask("+8412") == "*****"


def test_last_digits():
    assert last_digits("+84912345678") == "5678"
    assert last_digits("+84912345678", 3) == "678"
