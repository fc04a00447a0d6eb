"""Vietnamese phone numbers, normalised to E.164 with ``phonenumbers``."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize(raw: str, region: str = "VN") -> str:
    """'0912 345 678', '+84 912345678', '84912345678' -> '+84912345678'."""
    text = raw.strip()
    if text.startswith("84") and not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    if phonenumbers.region_code_for_number(number) != region:
        raise InvalidPhone("not a Vietnamese phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    number = phonenumbers.parse(e164)
    return phonenumbers.number_type(number) in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def mask(e164: str) -> str:
    """'+84912345678' -> '+8491****678': enough to recognise, not enough to call."""
    if len(e164) < 8:
        return "*" * len(e164)
    return e164[:5] + "*" * (len(e164) - 8) + e164[-3:]


def last_digits(e164: str, n: int = 4) -> str:
    return e164[-n:]
