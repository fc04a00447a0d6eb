"""The portal's own rules, without servers: form checks in Vietnamese, the .ics file,
the scoreboard's arithmetic, CSRF, redirects that stay on the site, security headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.portal.citizen import check_petition, ics, tally
from services.portal.settings import PortalSettings
from services.portal.web import create_app

GOOD = {"kind": "feedback", "title": "Đường thôn Đông Thượng ngập",
        "content": "Mỗi khi mưa lớn đường ngập nửa mét.", "province_code": "37",
        "ward_code": "14464", "full_name": "Nguyễn Văn An", "phone": "0912345678",
        "email": "", "address": "", "consent": "yes"}


@pytest.fixture
def app():
    app = create_app(PortalSettings.from_env({}, env="test"))
    app.config["TESTING"] = True
    return app


def test_a_good_petition_passes_and_each_bad_field_is_named_in_vietnamese():
    assert check_petition(GOOD) == {}
    errors = check_petition({**GOOD, "title": "Ngập", "phone": "12", "ward_code": "01001",
                             "consent": ""})
    assert errors["title"] == "Tiêu đề cần từ 5 đến 200 ký tự."
    assert errors["phone"].startswith("Số điện thoại không hợp lệ")
    assert errors["ward_code"] == "Xã, phường đã chọn không thuộc tỉnh, thành phố này."
    assert "đồng ý" in errors["consent"]
    assert set(errors) == {"title", "phone", "ward_code", "consent"}


def test_a_petition_needs_some_way_to_reach_the_citizen():
    errors = check_petition({**GOOD, "phone": "", "email": ""})
    assert set(errors) == {"phone"}
    assert check_petition({**GOOD, "phone": "", "email": "an@example.vn"}) == {}


def test_the_ics_file_escapes_folds_and_gives_utc_times():
    dialogue = {"id": "d1", "state": "announced", "topic": "Chống ngập; đường, cống",
                "venue": "Hội trường UBND xã Gia Viễn", "online_url": None,
                "starts_at": "2027-05-10T08:00:00+07:00", "ends_at": "2027-05-10T10:00:00+07:00",
                "agenda": [{"title": "Ngập đường liên thôn Đông Thượng " * 3}]}
    text = ics(dialogue, "http://127.0.0.1:8000/doi-thoai/d1", datetime(2027, 5, 1, tzinfo=UTC))
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20270510T010000Z" in text and "DTEND:20270510T030000Z" in text
    assert "SUMMARY:Đối thoại: Chống ngập\\; đường\\, cống" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    unfolded = text.replace("\r\n ", "")
    assert "Ngập đường liên thôn Đông Thượng Ngập" in unfolded  # folding kept every byte


def test_tally_counts_on_time_late_open_and_overdue():
    items = [
        {"agency_id": "a", "status": "resolved", "resolution": {"on_time": True}},
        {"agency_id": "a", "status": "resolved", "resolution": {"on_time": False}},
        {"agency_id": "a", "status": "open", "overdue": True},
        {"agency_id": "b", "status": "in_progress", "overdue": False},
    ]
    rows = {r["key"]: r for r in tally(items, lambda c: c["agency_id"])}
    assert rows["a"] | {} == {"key": "a", "on_time": 1, "late": 1, "open": 1, "overdue": 1,
                              "total": 3, "rate": 50}
    assert rows["b"]["rate"] is None and rows["b"]["open"] == 1


def test_a_form_without_its_csrf_token_is_refused_in_vietnamese(app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = app.test_client().post("/gui-kien-nghi", data=GOOD)
    assert response.status_code == 400
    assert "Biểu mẫu đã quá hạn" in response.get_data(as_text=True)


def test_sign_in_never_redirects_off_the_site(app):
    from services.portal.auth import _safe_next

    with app.test_request_context():
        assert _safe_next("/can-bo/van-de?ward_code=14464") == "/can-bo/van-de?ward_code=14464"
        assert _safe_next("https://evil.example/x") == "/can-bo/"
        assert _safe_next("//evil.example/x") == "/can-bo/"


def test_officer_pages_send_the_anonymous_to_sign_in_and_pages_carry_security_headers(app):
    client = app.test_client()
    response = client.get("/can-bo/van-de")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dang-nhap?next=/can-bo/van-de")
    page = client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert '<html lang="vi"' in page.get_data(as_text=True)
