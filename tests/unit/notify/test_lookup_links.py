"""Links to the look-up page carry the tracking code (``?code=``) in every channel, so a
citizen who follows one only types the last digits of their phone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify import zns
from services.notify.templates import channels_for, lookup_link, render

CODE = "NB25-4K7Q2M"
LOOKUP = "https://doithoai.ninhbinh.gov.vn/tra-cuu"
LINK = f"{LOOKUP}?code={CODE}"
AT = datetime(2025, 8, 1, 2, 0, tzinfo=UTC)
CONTEXTS = {
    "petition_received": {"tracking_code": CODE, "lookup_url": LOOKUP, "sms_number": "8077",
                          "petition_title": "Đường ngập", "received_at": AT},
    "petition_rejected": {"tracking_code": CODE, "reason": "Không thuộc thẩm quyền.",
                          "lookup_url": LOOKUP},
    # Long enough to be cut in an SMS, which then points to the page for the rest.
    "petition_answered": {"tracking_code": CODE, "answer": "Đã nạo vét cống, làm lại mặt "
                          "đường và lắp thêm hai cửa thu nước trên đường liên thôn. " * 4,
                          "lookup_url": LOOKUP, "answered_at": AT},
    "sms_status_reply": {"tracking_code": CODE, "status": "assigned", "lookup_url": LOOKUP},
}


def test_lookup_link():
    assert lookup_link(LOOKUP, CODE) == LINK
    assert lookup_link(f"{LOOKUP}?lang=vi", CODE) == f"{LOOKUP}?lang=vi&code={CODE}"
    assert lookup_link(f"{LOOKUP}?", CODE) == LINK
    assert lookup_link(f"{LOOKUP}?code=X", CODE) == f"{LOOKUP}?code=X"  # already named
    assert lookup_link(LOOKUP, "tt 7k4m") == f"{LOOKUP}?code=tt%207k4m"
    assert lookup_link(LOOKUP, None) == LOOKUP and lookup_link(LOOKUP, " ") == LOOKUP
    assert lookup_link(None, CODE) is None


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_every_petition_message_links_with_its_code(name):
    for channel in channels_for(name):
        out = render(name, channel, CONTEXTS[name])
        assert LINK in out.text, (name, channel, out.text)
        assert f"{LOOKUP} " not in out.text and not out.text.endswith(LOOKUP)
        if channel == "email":
            assert f'href="{LINK}"' in out.html


def test_help_reply_names_no_code():
    out = render("sms_help_reply", "sms", {"sms_number": "8077", "lookup_url": LOOKUP})
    assert out.text.endswith(LOOKUP)


def test_zns_link_parameter_carries_the_code():
    for name in ("petition_received", "petition_answered"):
        template = zns.parse(zns.DEV_TEMPLATES)[name]
        data = zns.template_data(template, CONTEXTS[name])
        assert data is not None and data["duong_dan"] == LINK


@pytest.mark.parametrize("base, form", [
    ("http://127.0.0.1:8000/tra-cuu", "Ma tra cuu: "),  # short: the full form fits
    (LOOKUP, "Tra cuu ma "),
    ("https://dichvucong.tinhninhbinh.gov.vn/doi-thoai/tra-cuu", "Tra cuu tai "),
])
def test_the_acknowledgement_stays_one_sms_segment(base, form):
    """The code in the link makes the text longer; a shorter form keeps it to one paid
    segment where one exists, and the code is always in the link and the TT command."""
    out = render("petition_received", "sms", {**CONTEXTS["petition_received"],
                                              "lookup_url": base})
    assert out.segments == 1 and form in out.text
    assert f"{base}?code={CODE}" in out.text and f"soan TT {CODE} gui 8077" in out.text


def test_a_form_that_fits_nowhere_in_one_segment_is_the_full_one():
    long_base = "https://dichvucong.tinhninhbinh.gov.vn/doi-thoai-voi-nhan-dan/tra-cuu"
    out = render("petition_received", "sms", {**CONTEXTS["petition_received"],
                                              "lookup_url": long_base,
                                              "petition_kind": "voters_petition"})
    assert out.segments == 2 and f"Ma tra cuu: {CODE}." in out.text


def test_without_the_flag_the_first_form_that_fits_still_wins():
    """An invitation keeps its online link in two segments although the form without it
    would fit in one: only ``one_segment_first`` templates trade words for a segment."""
    online = "https://hop.ninhbinh.gov.vn/dt-0815"
    out = render("dialogue_invitation", "sms", {
        "topic": "Ngập", "starts_at": AT, "host": "Chủ tịch xã",
        "venue": "Nhà văn hóa", "online_url": online,
        "dialogue_url": "https://doithoai.ninhbinh.gov.vn/doi-thoai/3f9a"})
    assert out.segments == 2 and online in out.text
