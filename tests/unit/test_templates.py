"""Every notification template, rendered from realistic data and read back for its facts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.common.contracts.intake import PETITION_STATUS_VI
from services.notify.sms import is_gsm7, segments
from services.notify.templates import (
    STATUS_NAMES,
    TEMPLATE_NAMES,
    SmsTooLongError,
    TemplateError,
    channels_for,
    check_sms,
    render,
)

# 01:30 UTC is 08:30 in Vietnam (UTC+7), a Friday.
START = datetime(2025, 8, 15, 1, 30, tzinfo=UTC)
NEW_START = datetime(2025, 8, 22, 7, 0, tzinfo=UTC)  # 14:00 VN
CODE = "NB25-4K7Q2M"
LOOKUP = "https://doithoai.ninhbinh.gov.vn/tra-cuu"
# What a citizen follows: the look-up page with their code filled in.
LINK = f"{LOOKUP}?code={CODE}"
DIALOGUE_URL = "https://doithoai.ninhbinh.gov.vn/doi-thoai/3f9a"
MEET_URL = "https://hop.ninhbinh.gov.vn/dt-giavien-0815"
COMMITMENT_URL = "https://doithoai.ninhbinh.gov.vn/ket-luan/81"
TOPIC = "Bồi thường, giải phóng mặt bằng dự án mở rộng Quốc lộ 38B qua xã Gia Viễn"
HOST = "Bí thư Đảng ủy xã Gia Viễn Trần Văn Hùng"
VENUE = "Hội trường Ủy ban nhân dân xã Gia Viễn"
REASON = (
    "Nội dung khiếu nại quyết định hành chính về đất đai đang được Tòa án nhân dân khu vực 5 "
    "– Ninh Bình thụ lý giải quyết, không thuộc thẩm quyền của Ủy ban nhân dân xã."
)
ANSWER = (
    "Ngày 20/9/2025, Sở Xây dựng đã phối hợp với UBND xã Gia Viễn khảo sát tuyến đường liên "
    "thôn Đông Chùa – Đại Hữu. Tuyến đường dài 1,8 km, mặt đường xuống cấp, nhiều đoạn ngập "
    "sâu 30–40 cm khi mưa lớn.\n\nUBND tỉnh đã bố trí 4,2 tỷ đồng từ nguồn vốn đầu tư công năm "
    "2026 để nâng cao nền đường và làm mới hệ thống rãnh thoát nước; dự kiến khởi công trong "
    "quý I/2026 và hoàn thành trước mùa mưa bão. Trong thời gian chờ thi công, UBND xã đã bố "
    "trí máy bơm tiêu úng tại điểm trũng gần nhà văn hóa thôn Đông Chùa."
)
CONCLUSION = (
    "Khảo sát, lập phương án nâng cấp tuyến đường liên thôn Đông Chùa – Đại Hữu và hệ thống "
    "rãnh thoát nước, trình UBND tỉnh bố trí vốn; hoàn thành trước mùa mưa bão năm 2026."
)
AGENCY = "Sở Xây dựng tỉnh Ninh Bình"

CONTEXTS: dict[str, dict[str, Any]] = {
    "petition_received": {
        "tracking_code": CODE,
        "lookup_url": LOOKUP,
        "sms_number": "8077",
        "recipient_name": "Nguyễn Thị Hoa",
        "petition_title": "Đường liên thôn Đông Chùa ngập sâu sau mưa lớn",
        "received_at": START,
        "due_at": date(2025, 10, 14),
    },
    "petition_rejected": {
        "tracking_code": CODE,
        "reason": REASON,
        "petition_title": "Khiếu nại quyết định thu hồi đất thửa số 215",
        "lookup_url": LOOKUP,
        "hotline": "0229 3871 234",
    },
    "petition_answered": {
        "tracking_code": CODE,
        "answer": ANSWER,
        "answered_by": AGENCY,
        "answered_at": datetime(2025, 9, 22, 9, 0, tzinfo=UTC),
        "lookup_url": LOOKUP,
        "petition_title": "Đường liên thôn Đông Chùa ngập sâu sau mưa lớn",
    },
    "dialogue_invitation": {
        "topic": TOPIC,
        "starts_at": START,
        "host": HOST,
        "venue": VENUE,
        "online_url": MEET_URL,
        "format": "hybrid",
        "kind": "thematic",
        "dialogue_url": DIALOGUE_URL,
        "tracking_code": CODE,
        "recipient_name": "Phạm Văn Đức",
    },
    "dialogue_agency_notice": {
        "agency_name": "Sở Nông nghiệp và Môi trường",
        "role": "coordinating",
        "lead_agency": "Ủy ban nhân dân xã Gia Viễn",
        "topic": TOPIC,
        "starts_at": START,
        "host": HOST,
        "venue": VENUE,
        "agenda": ["Đơn giá bồi thường đất nông nghiệp", "Bố trí tái định cư tại thôn Đại Hữu"],
        "prepare_by": date(2025, 8, 8),
        "dialogue_url": DIALOGUE_URL,
    },
    "dialogue_rescheduled": {
        "topic": TOPIC,
        "old_starts_at": START,
        "new_starts_at": NEW_START,
        "venue": VENUE,
        "reason": "Trùng lịch tiếp công dân của Tỉnh ủy.",
        "host": HOST,
        "dialogue_url": DIALOGUE_URL,
    },
    "dialogue_cancelled": {
        "topic": TOPIC,
        "starts_at": START,
        "reason": "Bão số 3 đổ bộ, tỉnh ra lệnh hạn chế tụ tập đông người.",
        "host": HOST,
    },
    "dialogue_reminder": {
        "topic": TOPIC,
        "starts_at": START,
        "hours_before": 24,
        "venue": VENUE,
        "host": HOST,
        "dialogue_url": DIALOGUE_URL,
    },
    "commitment_assigned": {
        "agency_name": AGENCY,
        "conclusion": CONCLUSION,
        "deadline": date(2025, 12, 31),
        "dialogue_topic": "Ngập úng và giao thông nông thôn",
        "dialogue_date": START,
        "notice_number": "15-TB/ĐU",
        "host": HOST,
        "coordinating_agencies": ["Ủy ban nhân dân xã Gia Viễn", "Sở Tài chính"],
        "petitions_count": 37,
        "commitment_url": COMMITMENT_URL,
    },
    "commitment_deadline_approaching": {
        "agency_name": AGENCY,
        "conclusion": CONCLUSION,
        "deadline": date(2025, 12, 31),
        "days_left": 7,
        "progress": 60,
        "commitment_url": COMMITMENT_URL,
    },
    "commitment_overdue": {
        "agency_name": AGENCY,
        "conclusion": CONCLUSION,
        "deadline": date(2025, 12, 31),
        "days_late": 12,
        "progress": 80,
        "commitment_url": COMMITMENT_URL,
    },
    "commitment_escalated": {
        "agency_name": AGENCY,
        "conclusion": CONCLUSION,
        "deadline": date(2025, 12, 31),
        "days_late": 30,
        "level": 2,
        "escalated_to": "Chủ tịch UBND tỉnh Ninh Bình",
        "dialogue_topic": "Ngập úng và giao thông nông thôn",
        "commitment_url": COMMITMENT_URL,
    },
    "dialogue_required": {
        "commune_name": "Xã Gia Viễn",
        "requesters": 1250,
        "threshold": 1104,
        "voters": 11040,
        "year": 2025,
        "request_topic": "Ô nhiễm từ cụm công nghiệp Gia Vân",
    },
    "sms_status_reply": {
        "tracking_code": CODE,
        "status": "assigned",
        "updated_at": datetime(2025, 8, 1, 2, 0, tzinfo=UTC),
        "dialogue_starts_at": START,
        "lookup_url": LOOKUP,
    },
    "sms_stop_reply": {"tracking_code": CODE, "sms_number": "8077"},
    "sms_help_reply": {"sms_number": "8077", "hotline": "0229 3871 234", "lookup_url": LOOKUP},
    "dialogue_request_code": {"code": "042917", "commune_name": "Xã Gia Viễn",
                              "expires_at": datetime(2025, 8, 1, 16, 55, tzinfo=UTC)},
}

PAIRS = [(name, channel) for name in TEMPLATE_NAMES for channel in channels_for(name)]
EMAIL_TEMPLATES = [name for name, channel in PAIRS if channel == "email"]


def email(name: str, **overrides: Any) -> Any:
    return render(name, "email", {**CONTEXTS[name], **overrides})


def sms(name: str, **overrides: Any) -> Any:
    return render(name, "sms", {**CONTEXTS[name], **overrides})


# ---------------------------------------------------------------- every template


def test_every_required_template_exists_with_its_channels() -> None:
    assert set(TEMPLATE_NAMES) == set(CONTEXTS)
    sms_only = {"sms_status_reply", "sms_stop_reply", "sms_help_reply", "dialogue_request_code"}
    for name in sms_only:
        assert channels_for(name) == ("sms",)
    for name in set(TEMPLATE_NAMES) - sms_only:
        assert channels_for(name) == ("email", "sms")


@pytest.mark.parametrize(("name", "channel"), PAIRS)
def test_renders_realistic_data(name: str, channel: str) -> None:
    out = render(name, channel, CONTEXTS[name])
    assert out.template == name
    assert out.channel == channel
    if channel == "sms":
        assert out.subject is None and out.html is None
        assert is_gsm7(out.text), out.text
        assert out.segments == segments(out.text) <= 2
        assert out.text == out.text.strip() and "  " not in out.text
    else:
        assert out.segments is None
        assert out.subject and "\n" not in out.subject
        assert "Đây là thư tự động" in out.text
        assert out.html.startswith("<!DOCTYPE html>") and 'lang="vi"' in out.html
        # Vietnamese with diacritics, in NFC, in both parts.
        assert "ả" in out.text + out.subject or "ệ" in out.text
        assert "\u0303" not in out.text and "\u0309" not in out.html


@pytest.mark.parametrize("name", EMAIL_TEMPLATES)
def test_html_escapes_user_text(name: str) -> None:
    evil = "<script>alert('x')</script>"
    context: dict[str, Any] = {}
    for key, value in CONTEXTS[name].items():
        if key in {"role", "format", "kind"}:
            context[key] = value
        elif isinstance(value, str):
            context[key] = f"{value} {evil}"
        elif isinstance(value, list):
            context[key] = [f"{v} {evil}" for v in value]
        else:
            context[key] = value
    out = render(name, "email", context)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out.html
    assert evil in out.text  # the plain-text part is not HTML and shows it as written


def test_only_web_links_become_anchors() -> None:
    out = email("petition_rejected", lookup_url="javascript:alert(1)")
    assert "href" not in out.html
    assert "javascript:alert(1)" in out.html
    out = email("petition_rejected")
    assert f'<a href="{LINK}">{LINK}</a>' in out.html


# ---------------------------------------------------------------- petitions


def test_petition_received() -> None:
    out = email("petition_received")
    assert CODE in out.subject
    assert out.text.startswith("Kính gửi Ông/Bà Nguyễn Thị Hoa,")
    assert "tiếp nhận lúc 08:30 ngày 15/08/2025" in out.text
    assert f"Mã tra cứu: {CODE}" in out.text
    assert "Hạn trả lời dự kiến: 14/10/2025" in out.text
    assert LOOKUP in out.text
    assert f"Hoặc soạn tin TT {CODE} gửi 8077." in out.text
    text = sms("petition_received").text
    # The full form ("Ma tra cuu: ...") needs two segments with this link: the shorter
    # one that fits in one is sent (see tests/unit/notify/test_lookup_links.py).
    assert text == (
        f"Kien nghi cua Ong/Ba da duoc tiep nhan. Tra cuu ma {CODE} "
        f"tai {LINK} hoac soan TT {CODE} gui 8077."
    )


def test_petition_rejected() -> None:
    out = email("petition_rejected")
    assert out.subject == f"Kiến nghị {CODE} không được thụ lý"
    assert "Khiếu nại quyết định thu hồi đất thửa số 215" in out.text
    assert f"Lý do:\n{REASON}" in out.text
    assert "0229 3871 234" in out.text
    assert "Tòa án nhân dân khu vực 5" in out.html
    text = sms("petition_rejected").text
    assert text.startswith(f"Kien nghi {CODE} khong duoc thu ly. Ly do: Noi dung khieu nai")
    assert "Toa an nhan dan khu vuc 5 - Ninh Binh thu ly" in text
    assert text.endswith(f"Chi tiet: {LINK}")


def test_petition_answered_email_carries_the_whole_answer() -> None:
    out = email("petition_answered")
    assert out.subject == f"Kiến nghị {CODE} đã có trả lời"
    assert f"đã có trả lời của {AGENCY} ngày 22/09/2025" in out.text
    assert ANSWER in out.text  # paragraphs kept
    assert "đề nghị xem xét lại kiến nghị" in out.text
    assert "4,2 tỷ đồng" in out.html and "<br>" in out.html


def test_petition_answered_sms_cuts_a_long_answer_and_points_to_the_lookup() -> None:
    out = sms("petition_answered")
    assert out.segments == 2
    assert out.text.startswith(
        f"Kien nghi {CODE} da co tra loi cua So Xay dung tinh Ninh Binh: Ngay 20/9/2025, "
        "So Xay dung da phoi hop"
    )
    assert out.text.endswith(f"... Xem day du: {LINK}")
    assert "may bom" not in out.text  # the end of the answer did not fit
    cut = out.text.split("... Xem day du:")[0]
    assert not cut.endswith((" ", ",")) and cut[-1].isalnum()  # cut at a word boundary


def test_petition_answered_sms_keeps_a_short_answer_whole() -> None:
    out = sms("petition_answered", answer="Đã sửa xong đèn đường thôn Đông Chùa ngày 10/9.")
    assert out.text == (
        f"Kien nghi {CODE} da co tra loi cua So Xay dung tinh Ninh Binh: "
        "Da sua xong den duong thon Dong Chua ngay 10/9."
    )
    assert out.segments == 1


# ---------------------------------------------------------------- dialogues


def test_dialogue_invitation_shows_vietnam_time() -> None:
    out = email("dialogue_invitation")
    assert out.subject == f"Thư mời dự đối thoại: {TOPIC} – 08:30 ngày 15/08/2025"
    assert "Thời gian: 08:30, Thứ Sáu, ngày 15/08/2025" in out.text
    assert f"Địa điểm: {VENUE}" in out.text
    assert f"Chủ trì: {HOST}" in out.text
    assert f"Tham gia trực tuyến: {MEET_URL}" in out.text
    assert "Hình thức: Trực tiếp kết hợp trực tuyến" in out.text
    assert "buổi đối thoại chuyên đề với Nhân dân" in out.text
    assert f"Kiến nghị mã {CODE} của Ông/Bà có trong chương trình" in out.text
    assert "01:30" not in out.text
    assert f'<a href="{MEET_URL}">{MEET_URL}</a>' in out.html
    text = sms("dialogue_invitation").text
    assert "Luc 08:30 ngay 15/08/2025" in text
    assert "tai Hoi truong Uy ban nhan dan xa Gia Vien" in text
    assert "Bi thu Dang uy xa Gia Vien Tran Van Hung" in text
    assert text.endswith(f"Chi tiet: {DIALOGUE_URL}")


def test_dialogue_time_crossing_midnight_shows_the_vietnamese_date() -> None:
    late_utc = datetime(2025, 8, 14, 17, 30, tzinfo=UTC)  # 00:30 on the 15th in Vietnam
    assert "00:30 ngay 15/08/2025" in sms("dialogue_invitation", starts_at=late_utc).text
    mail = email("dialogue_invitation", starts_at=late_utc)
    assert "00:30, Thứ Sáu, ngày 15/08/2025" in mail.text


def test_dialogue_times_given_as_iso_strings_are_accepted() -> None:
    out = sms("dialogue_invitation", starts_at="2025-08-15T01:30:00+00:00")
    assert "08:30 ngay 15/08/2025" in out.text


def test_online_only_dialogue_gives_the_link() -> None:
    out = sms("dialogue_invitation", venue=None, dialogue_url=None)
    assert f"truc tuyen: {MEET_URL}" in out.text
    assert "Hoi truong" not in out.text
    mail = email("dialogue_invitation", venue=None)
    assert "Địa điểm" not in mail.text and MEET_URL in mail.text


def test_dialogue_agency_notice() -> None:
    out = email("dialogue_agency_notice")
    assert out.subject == f"Phân công chuẩn bị đối thoại ngày 15/08/2025: {TOPIC}"
    assert out.text.startswith("Kính gửi: Sở Nông nghiệp và Môi trường\n")
    assert "được phân công là cơ quan phối hợp" in out.text
    assert "Cơ quan chủ trì: Ủy ban nhân dân xã Gia Viễn." in out.text
    assert "- Đơn giá bồi thường đất nông nghiệp" in out.text
    assert "<li>Bố trí tái định cư tại thôn Đại Hữu</li>" in out.html
    assert "trước ngày 08/08/2025" in out.text
    lead = email("dialogue_agency_notice", role="lead")
    assert "được phân công là cơ quan chủ trì" in lead.text
    text = sms("dialogue_agency_notice").text
    assert text.startswith("So Nong nghiep va Moi truong la co quan phoi hop buoi doi thoai ve:")
    assert "Luc 08:30 ngay 15/08/2025, tai Hoi truong" in text


def test_dialogue_rescheduled() -> None:
    out = email("dialogue_rescheduled")
    assert "sang 14:00 ngày 22/08/2025" in out.subject
    assert "Thời gian mới: 14:00, Thứ Sáu, ngày 22/08/2025" in out.text
    assert "Thời gian cũ: 08:30 ngày 15/08/2025" in out.text
    assert "Trùng lịch tiếp công dân của Tỉnh ủy." in out.text
    text = sms("dialogue_rescheduled").text
    # "doi" would read as both "đổi" and "đối" next to "doi thoai": not used.
    assert "duoc chuyen tu 08:30 ngay 15/08/2025 sang 14:00 ngay 22/08/2025" in text
    assert " doi tu " not in text
    assert "Ly do: Trung lich tiep cong dan cua Tinh uy." in text


def test_dialogue_cancelled() -> None:
    out = email("dialogue_cancelled")
    assert out.subject == f"Hủy buổi đối thoại: {TOPIC}"
    assert "dự kiến lúc 08:30, Thứ Sáu, ngày 15/08/2025, đã bị hủy" in out.text
    assert "Bão số 3 đổ bộ" in out.text
    text = sms("dialogue_cancelled").text
    assert "luc 08:30 ngay 15/08/2025 da bi huy" in text
    assert text.endswith("Ly do: Bao so 3 do bo, tinh ra lenh han che tu tap dong nguoi.")


def test_dialogue_reminder() -> None:
    out = email("dialogue_reminder")
    assert out.text.count("08:30, Thứ Sáu, ngày 15/08/2025") == 2
    assert "Còn 24 giờ nữa" in out.text
    assert f"Địa điểm: {VENUE}" in out.text
    text = sms("dialogue_reminder").text
    assert text.startswith("Nhac lich: con 24 gio nua, luc 08:30 ngay 15/08/2025")
    assert "tai Hoi truong Uy ban nhan dan xa Gia Vien" in text
    assert "con 3 ngay nua" in sms("dialogue_reminder", hours_before=72).text
    assert "con 2 gio nua" in sms("dialogue_reminder", hours_before=2).text


# ---------------------------------------------------------------- commitments


def test_commitment_assigned() -> None:
    out = email("commitment_assigned")
    assert out.subject == ("Giao nhiệm vụ theo kết luận đối thoại ngày 15/08/2025 "
                           "– hạn 31/12/2025")
    assert out.text.startswith(f"Kính gửi: {AGENCY}\n")
    assert "Theo Thông báo kết luận số 15-TB/ĐU" in out.text
    assert "“Ngập úng và giao thông nông thôn”" in out.text
    assert CONCLUSION in out.text
    assert "Hạn hoàn thành: 31/12/2025" in out.text
    assert "Cơ quan phối hợp: Ủy ban nhân dân xã Gia Viễn, Sở Tài chính" in out.text
    assert "Số kiến nghị liên quan: 37" in out.text
    text = sms("commitment_assigned").text
    assert "ket luan doi thoai ngay 15/08/2025" in text
    assert "Han: 31/12/2025" in text
    assert text.endswith(f"Chi tiet: {COMMITMENT_URL}")


def test_deadline_given_as_datetime_is_shown_as_the_vietnamese_day() -> None:
    deadline = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)  # already 1 January in Vietnam
    assert "Hạn hoàn thành: 01/01/2026" in email("commitment_assigned", deadline=deadline).text


def test_commitment_deadline_approaching() -> None:
    out = email("commitment_deadline_approaching")
    assert "còn 7 ngày" in out.subject and "31/12/2025" in out.subject
    assert "còn 7 ngày làm việc nữa là đến hạn (31/12/2025)" in out.text
    assert "Tiến độ đã báo cáo: 60%" in out.text
    text = sms("commitment_deadline_approaching").text
    assert "con 7 ngay lam viec (han 31/12/2025)" in text
    assert "So Xay dung tinh Ninh Binh" in text


def test_commitment_overdue() -> None:
    out = email("commitment_overdue")
    assert out.subject == (f"Quá hạn 12 ngày làm việc: nhiệm vụ theo kết luận đối thoại "
                           f"giao {AGENCY}")
    assert "đã quá hạn 12 ngày làm việc (hạn 31/12/2025)" in out.text
    assert "Mặt trận Tổ quốc" in out.text
    assert sms("commitment_overdue").text.startswith("Qua han 12 ngay lam viec (han 31/12/2025)")


def test_commitment_escalated() -> None:
    out = email("commitment_escalated")
    assert out.subject == f"Chuyển cấp 2: nhiệm vụ giao {AGENCY} quá hạn 30 ngày làm việc"
    assert out.text.startswith("Kính gửi: Chủ tịch UBND tỉnh Ninh Bình\n")
    assert "được chuyển lên Chủ tịch UBND tỉnh Ninh Bình" in out.text
    assert "Cấp xử lý: Cấp 2 – Chủ tịch UBND tỉnh Ninh Bình" in out.text
    assert "Số ngày làm việc quá hạn: 30" in out.text
    text = sms("commitment_escalated").text
    assert text.startswith("Chuyen cap 2 (Chu tich UBND tinh Ninh Binh)")
    assert "qua han 30 ngay lam viec (han 31/12/2025)" in text


# ---------------------------------------------------------------- compliance


def test_dialogue_required_when_threshold_reached() -> None:
    out = email("dialogue_required")
    assert out.subject == "Yêu cầu tổ chức đối thoại tại xã Gia Viễn: 1.250 cử tri đề nghị"
    assert out.text.startswith("Kính gửi: Ủy ban nhân dân xã Gia Viễn\n")
    assert "1.250 cử tri của xã Gia Viễn" in out.text
    assert "đạt ngưỡng 1.104 cử tri" in out.text
    assert "Tổng số cử tri: 11.040" in out.text
    assert "Điều 43" in out.text
    text = sms("dialogue_required").text
    assert text.startswith("Xa Gia Vien: 1.250 cu tri de nghi doi thoai, dat nguong 10% (1.104")


def test_dialogue_required_below_threshold_says_how_many_are_missing() -> None:
    out = email("dialogue_required", requesters=900)
    assert "chưa đạt ngưỡng 1.104 cử tri" in out.text
    assert "còn thiếu 204" in out.text
    assert sms("dialogue_required", requesters=900).text.startswith("Xa Gia Vien: 900/1.104 cu tri")


# ---------------------------------------------------------------- SMS replies


def test_status_names_are_the_contracts_own() -> None:
    # One vocabulary for every service: notify may not word a status its own way.
    assert STATUS_NAMES is PETITION_STATUS_VI
    assert STATUS_NAMES["answered"] == "Đã có trả lời"


def test_sms_status_reply() -> None:
    text = sms("sms_status_reply").text
    assert text == (
        f"Kien nghi {CODE}: Dang giai quyet (cap nhat 01/08/2025). "
        f"Doi thoai luc 08:30 ngay 15/08/2025. Chi tiet: {LINK}"
    )


@pytest.mark.parametrize(
    ("status", "shown"),
    [("received", "Da tiep nhan"), ("assigned", "Dang giai quyet"), ("rejected", "Khong thu ly"),
     ("answered", "Da co tra loi"), ("withdrawn", "Da rut"),
     ("reopened", "Dang xem xet lai")],
)
def test_sms_status_reply_names_each_status(status: str, shown: str) -> None:
    out = sms("sms_status_reply", status=status, dialogue_starts_at=None)
    assert out.text.startswith(f"Kien nghi {CODE}: {shown} (cap nhat 01/08/2025).")


def test_sms_status_reply_for_an_unknown_code() -> None:
    out = render("sms_status_reply", "sms", {"tracking_code": "NB25-XXXXXX", "sms_number": "8077"})
    assert out.text == (
        "Khong tim thay kien nghi ma NB25-XXXXXX. Vui long kiem tra lai ma va soan TT <ma> "
        "gui 8077."
    )


def test_sms_status_reply_cuts_a_long_note() -> None:
    out = sms("sms_status_reply", status="answered", dialogue_starts_at=None, note=ANSWER)
    assert out.segments <= 2
    assert "Da co tra loi" in out.text and out.text.endswith(f"... Chi tiet: {LINK}")


def test_sms_stop_reply() -> None:
    assert sms("sms_stop_reply").text == (
        f"Ong/Ba se khong nhan tin nhan ve kien nghi {CODE} nua. "
        f"Van tra cuu duoc: soan TT {CODE} gui 8077."
    )
    assert sms("sms_stop_reply", found=False).text == (
        f"Khong tim thay kien nghi ma {CODE} gan voi so dien thoai nay."
    )
    assert sms("sms_stop_reply", tracking_code=None).text == (
        "Ong/Ba se khong nhan tin nhan tu he thong nua."
    )


def test_sms_help_reply() -> None:
    text = sms("sms_help_reply").text
    assert "soan TT <ma> gui 8077" in text
    assert "soan HUY <ma> gui 8077" in text
    assert "0229 3871 234" in text
    assert text.endswith(LOOKUP)


# ---------------------------------------------------------------- rules and errors


def test_sms_with_diacritics_is_ucs2_and_counted_as_such() -> None:
    out = render(
        "petition_received", "sms", CONTEXTS["petition_received"],
        keep_diacritics=True, max_segments=3,
    )
    assert out.text.startswith("Kiến nghị của Ông/Bà đã được tiếp nhận.")
    assert out.segments == segments(out.text) == 3
    with pytest.raises(SmsTooLongError):
        render("petition_received", "sms", CONTEXTS["petition_received"], keep_diacritics=True)


def test_check_sms() -> None:
    assert check_sms("a" * 306) == 2
    with pytest.raises(SmsTooLongError):
        check_sms("a" * 307)
    with pytest.raises(SmsTooLongError, match="GSM-7"):
        check_sms("Đã nhận")
    assert check_sms("Đã nhận", require_gsm7=False) == 1


def test_an_sms_that_cannot_fit_is_refused() -> None:
    # A URL cannot be cut, so a 400-character one leaves nothing to shrink.
    with pytest.raises(SmsTooLongError):
        sms("petition_received", lookup_url="https://example.vn/" + "a" * 400)


def test_missing_context_names_the_key() -> None:
    context = dict(CONTEXTS["petition_received"])
    del context["tracking_code"]
    with pytest.raises(TemplateError, match="tracking_code"):
        render("petition_received", "email", context)
    with pytest.raises(TemplateError, match="venue"):
        sms("dialogue_invitation", venue=None, online_url=None)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TemplateError, match="naive"):
        sms("dialogue_invitation", starts_at=datetime(2025, 8, 15, 8, 30))


def test_unknown_template_channel_or_status() -> None:
    with pytest.raises(TemplateError):
        render("no_such_template", "sms", {})
    with pytest.raises(TemplateError):
        render("petition_received", "fax", CONTEXTS["petition_received"])
    with pytest.raises(TemplateError):
        render("sms_help_reply", "email", CONTEXTS["sms_help_reply"])
    with pytest.raises(TemplateError):
        sms("sms_status_reply", status="lost")


def test_complaints_and_denunciations_are_named_by_their_kind() -> None:
    for kind, word, plain in (("complaint", "Đơn khiếu nại", "Don khieu nai"),
                              ("denunciation", "Đơn tố cáo", "Don to cao"),
                              ("feedback", "Kiến nghị", "Kien nghi")):
        context = {**CONTEXTS["petition_received"], "petition_kind": kind}
        mail = render("petition_received", "email", context)
        assert mail.subject.startswith(f"Đã tiếp nhận {word.lower()} của Ông/Bà")
        assert f"{word} của Ông/Bà đã được tiếp nhận" in mail.text
        text = render("petition_received", "sms", context).text
        assert text.startswith(f"{plain} cua Ong/Ba da duoc tiep nhan")
        reply = render("sms_status_reply", "sms", {**CONTEXTS["sms_status_reply"],
                                                   "petition_kind": kind}).text
        assert reply.startswith(f"{plain} {CODE}:")
    rejected = render("petition_rejected", "email", {**CONTEXTS["petition_rejected"],
                                                     "petition_kind": "complaint"})
    assert "kiến nghị" not in rejected.text.lower()


def test_citizens_are_addressed_as_ong_ba_and_quotes_are_vietnamese() -> None:
    for name in TEMPLATE_NAMES:
        for channel in channels_for(name):
            out = render(name, channel, CONTEXTS[name])
            for text in (out.subject or "", out.text, out.html or ""):
                assert "Bạn" not in text and " bạn " not in text
                assert "«" not in text and "»" not in text


def test_every_template_renders_with_only_its_required_keys() -> None:
    """Optional values left out entirely (not None) must not break a template."""
    from services.notify.templates import PLACED, REQUIRED

    for name in TEMPLATE_NAMES:
        keys = set(REQUIRED[name]) | ({"venue"} if name in PLACED else set())
        keys |= {"status"} if name == "sms_status_reply" else set()
        context = {k: v for k, v in CONTEXTS[name].items() if k in keys}
        for channel in channels_for(name):
            assert render(name, channel, context).text
