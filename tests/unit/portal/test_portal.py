"""The portal's own rules, without servers: form checks in Vietnamese, the .ics file,
the scoreboard's arithmetic, CSRF, redirects that stay on the site, security headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from flask import get_flashed_messages

from services.common.text import nfc
from services.portal.backend import ApiError
from services.portal.citizen import check_petition, ics, tally
from services.portal.settings import PortalSettings
from services.portal.web import create_app
from services.system import ROOT

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


class FakeBackend:
    """The services as the portal sees them: canned answers, every call recorded."""

    def __init__(self, dialogues=(), refuse: ApiError | None = None) -> None:
        self.dialogues = list(dialogues)
        self.refuse = refuse
        self.calls: list[tuple[str, str, dict]] = []

    def service_token(self) -> str:
        return "service-token"

    def get(self, service, path, token=None, client=None, **params):
        self.calls.append((service, path, params))
        if (service, path) == ("scheduling", "/api/v1/dialogues"):
            return {"items": [d for d in self.dialogues if d["state"] == params["state"]]}
        raise AssertionError(f"unexpected call {service} {path}")

    def post(self, service, path, body, token=None, client=None):
        self.calls.append((service, path, body))
        if self.refuse is not None:
            raise self.refuse
        return {}


VIEW = {"tracking_code": "7K4M-Q2XC", "title": "Đường thôn Đông Thượng ngập",
        "created_at": "2027-05-01T01:00:00+00:00",
        "locality": {"province_code": "37", "ward_code": "14464"},
        "history": [{"status": "received", "at": "2027-05-01T01:00:00+00:00"},
                    {"status": "answered", "at": "2027-06-20T03:00:00+00:00"}]}
CONCLUDED = {"id": "d1", "state": "concluded", "topic": "Chống ngập",
             "starts_at": "2027-05-10T01:00:00+00:00",
             "notice": {"number": "15/TB-UBND", "issued_at": "2027-05-11"},
             "agenda": [{"title": "Ngập", "issue_id": "i1", "petition_ids": ["p1", "p2"]}]}


def journey_with(app, view, dialogues):
    from services.portal.citizen import journey

    fake = FakeBackend(dialogues)
    app.extensions["backend"] = fake
    with app.test_request_context("/tra-cuu"):
        return journey(view), fake.calls


def test_the_journey_follows_the_petition_by_its_own_id_and_issue_never_by_title(app):
    steps, calls = journey_with(app, {**VIEW, "id": "p1", "issue_id": "i1"}, [CONCLUDED])
    assert [s["done"] for s in steps] == [True, True, True, True, True]
    assert steps[2]["dialogue"]["id"] == "d1" and steps[3]["notice"]["number"] == "15/TB-UBND"
    # Only the public dialogues of the commune are read: no officer list of petitions.
    assert {(service, path) for service, path, _ in calls} == {
        ("scheduling", "/api/v1/dialogues")}
    assert all(params["ward_code"] == "14464" for _, _, params in calls)


def test_a_petition_grouped_after_the_agenda_was_set_is_on_it_through_its_issue(app):
    steps, _ = journey_with(app, {**VIEW, "id": "p9", "issue_id": "i1"}, [CONCLUDED])
    assert steps[2]["done"] and steps[2]["dialogue"]["id"] == "d1"
    steps, _ = journey_with(app, {**VIEW, "id": "p9", "issue_id": "other"}, [CONCLUDED])
    assert [s["done"] for s in steps] == [True, True, False, False, True]


def test_without_the_ids_the_journey_says_only_what_intake_told(app):
    steps, calls = journey_with(app, {**VIEW, "history": []}, [CONCLUDED])
    assert [s["done"] for s in steps] == [True, False, False, False, False]
    assert calls == []


def test_a_link_with_the_code_alone_prefills_the_tracking_form_without_errors(app):
    app.extensions["backend"] = fake = FakeBackend()
    page = app.test_client().get("/tra-cuu?code=7k4m q2x4")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and fake.calls == []
    assert 'value="7K4M-Q2X4"' in html and 'id="tu-tin-nhan"' in html
    assert "autofocus" in html and "field-error" not in html
    # The form itself sends both fields: an empty one is named beside it.
    page = app.test_client().get("/tra-cuu?code=7K4M-Q2XC&phone_last4=")
    assert "Nhập đúng 4 chữ số cuối" in page.get_data(as_text=True)


def test_a_refused_step_shows_the_page_again_and_an_accepted_one_redirects(app):
    from services.portal.pages import send

    shown = {}

    def again(**kw):
        shown.update(kw)
        return "again"

    refusal = ApiError(422, {"detail_vi": "Chưa đủ thời hạn thông báo.",
                             "errors": {"json": {"reason": ["Cần nêu lý do."]}}})
    app.extensions["backend"] = FakeBackend(refuse=refusal)
    with app.test_request_context("/", method="POST"):
        assert send("scheduling", "/x", {}, "t", done="ok", then="/y", again=again) == "again"
    assert shown == {"errors": {"reason": "Cần nêu lý do.",
                                "form": "Chưa đủ thời hạn thông báo."}, "status": 200}
    app.extensions["backend"] = FakeBackend()
    with app.test_request_context("/", method="POST"):
        response = send("followup", "/x", {}, "t", done="Đã lưu.", then="/y", again=again)
        assert (response.status_code, response.location) == (303, "/y")
        assert get_flashed_messages() == ["Đã lưu."]


def test_one_list_of_agencies_for_the_portal_scheduling_and_the_chart(app):
    from services.common import agencies
    from services.scheduling.settings import DEFAULT_AGENCY_NAMES_FILE

    names = agencies.load()
    assert app.extensions["agencies"] == names
    # scheduling prints the same names in its documents (tests/unit/scheduling reads them)
    assert agencies.load(DEFAULT_AGENCY_NAMES_FILE) == names
    assert names["ca-37"] == "Công an tỉnh Ninh Bình"
    values = yaml.safe_load((ROOT / "deploy/helm/doithoai/values-ninhbinh.yaml").read_text())
    assert set(values["agencies"]["ids"]) <= set(names)  # every agency on Kafka has a name
    assert all(name == nfc(name) and name.strip() for name in names.values())


def test_a_province_file_may_keep_its_agencies_under_a_key(tmp_path):
    from services.common import agencies

    path = tmp_path / "agencies.yaml"
    path.write_text("agencies:\n  so-xd-01: Sở Xây dựng thành phố Hà Nội\n")
    assert agencies.load(path) == {"so-xd-01": "Sở Xây dựng thành phố Hà Nội"}
