"""Pure rules of issue 16: the channel a citizen chose, ZNS parameters, what is urgent,
the signatures of delivery reports."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common import phones
from services.notify import domain, zns
from services.notify.providers import callback_signature, zalo_signature

BOTH = {"phone": "0912 345 678", "email": "hoa@example.vn", "full_name": "Nguyễn Thị Hoa"}


def channels(contact: dict) -> list[str]:
    return [a.channel for a in domain.contact_addresses(contact, "petition:p", "petitioner",
                                                        phones.normalize)]


def test_contact_choice():
    assert channels(BOTH) == ["sms", "email"]  # nothing chosen: as before
    assert channels({**BOTH, "channel": "sms"}) == ["sms"]
    assert channels({**BOTH, "channel": "zalo"}) == ["zalo"]
    assert channels({**BOTH, "channel": "email"}) == ["email"]
    # A choice that cannot be honoured falls back to what was given.
    assert channels({"phone": "0912 345 678", "channel": "email"}) == ["sms"]
    assert channels({"email": "hoa@example.vn", "channel": "zalo"}) == ["email"]
    [zalo] = domain.contact_addresses({**BOTH, "channel": "zalo"}, "petition:p", "petitioner",
                                      phones.normalize)
    assert zalo.to == "+84912345678"


def test_zns_mapping_and_values():
    spec = zns.parse('{"petition_answered": {"template_id": "2001", "params": '
                     '{"ma": "tracking_code", "tra_loi": "answer|40", "ngay": "answered_at"}}}')
    template = spec["petition_answered"]
    data = zns.template_data(template, {
        "tracking_code": "7K4M-Q2XC", "answered_at": datetime(2027, 3, 9, 3, 0, tzinfo=UTC),
        "answer": "Ủy ban nhân dân xã đã bố trí kinh phí nạo vét toàn bộ tuyến cống thoát nước"})
    assert data["ma"] == "7K4M-Q2XC" and data["ngay"] == "10:00 ngày 09/03/2027"
    assert len(data["tra_loi"]) <= 40 and data["tra_loi"].endswith("...")
    assert " ".join(data["tra_loi"][:-3].split()) in data["tra_loi"]  # cut at a word
    assert zns.template_data(template, {"tracking_code": "X", "answer": " "}) is None
    assert zns.parse(zns.DEV_TEMPLATES)["petition_received"].template_id == "100001"
    for bad in ("[]", "{", '{"x": {"template_id": ""}}', '{"x": {"template_id": "1"}}',
                '{"x": {"template_id": "1", "params": {"a": "b|long"}}}'):
        with pytest.raises(zns.ZnsConfigError):
            zns.parse(bad)
    assert zns.template_data(zns.parse({"t": {"template_id": "1", "params": {
        "han": "deadline"}}})["t"], {"deadline": date(2027, 4, 1)}) == {"han": "01/04/2027"}


def test_what_goes_at_night():
    now = datetime(2027, 3, 9, 21, 30, tzinfo=UTC)  # 04:30 in Vietnam
    assert domain.urgent("petition_received", now, now - timedelta(minutes=2))
    assert not domain.urgent("petition_received", now, now - timedelta(hours=3))
    assert not domain.urgent("petition_received", now, None)
    for template in ("sms_status_reply", "sms_stop_reply", "sms_help_reply",
                     "dialogue_cancelled"):
        assert domain.urgent(template, now)
    for template in ("dialogue_reminder", "dialogue_invitation", "petition_answered"):
        assert not domain.urgent(template, now)


def test_signatures():
    one = callback_signature("secret", "n-1")
    assert one == callback_signature("secret", "n-1") != callback_signature("secret", "n-2")
    assert one != callback_signature("other", "n-1")
    body = b'{"event_name":"user_received_message"}'
    expected = hashlib.sha256(b"app" + body + b"123" + b"oa-secret").hexdigest()
    assert zalo_signature("app", body, "123", "oa-secret") == f"mac={expected}"


def test_codes_as_people_type_them():
    from services.common.contracts.codes import check_char, code_key, parse_code

    body = "7K4MQ2X"
    code = f"{body[:4]}-{body[4:]}{check_char(body)}"
    for typed in (code, code.lower(), code.replace("-", ""), " ".join(code.replace("-", "")),
                  f"nb {code.lower()}", f"NB{code.replace('-', '')}"):
        canonical = parse_code(typed)
        assert canonical.endswith(code) and code_key(typed) == code.replace("-", "")
    assert parse_code(f"nb {code}") == f"NB-{code}"
    for verb, kind in (("TT", "status"), ("tt", "status"), ("Huỷ", "stop"), ("HUY", "stop")):
        command = domain.parse_command(f"{verb} {code.lower().replace('-', ' ')}")
        assert command == domain.Command(kind, code)
    assert domain.parse_command(f"TT{code.replace('-', '')}") == domain.Command("status", code)
    assert domain.parse_command("HUY") == domain.Command("stop", None)
    assert domain.parse_command("HUYEN GIA VIEN").verb == "help"
    assert domain.parse_command("TT").verb == "help"
    # A code the contract cannot read is still looked up as typed (older codes).
    assert domain.parse_command("TT NB27-4K7Q2M") == domain.Command("status", "NB27-4K7Q2M")


def test_look_alikes_unaccent_and_fold():
    from services.common.text import fold, strip_diacritics
    from services.notify.sms import is_gsm7, to_sms_text

    text = to_sms_text("Ðường ðê Ɖông: nước lên ±5 cm, ½ km; gọi 1\ufe0f\u20e3 hoặc 2\u20e3")
    assert text == "Duong de Dong: nuoc len +/-5 cm, 1/2 km; goi 1 hoac 2"
    assert is_gsm7(text)
    assert fold("ÐƯỜNG ðê") == fold("Đường đê") == "duong de"
    assert strip_diacritics("Ðông ɖê") == "Dong de"
