"""Documents without servers: the prescribed form (NĐ 30/2020, HD 36-HD/VPTW), the
content built from a dialogue, and the DOCX read back with python-docx."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, date, datetime, timedelta

import pytest
from docx import Document

from services.common.errors import Conflict
from services.scheduling.documents import content, render
from services.scheduling.documents import format as f
from services.scheduling.documents.service import AgencyNames
from services.scheduling.settings import DEFAULT_AGENCY_NAMES_FILE
from tests.helpers import docx_text

HELD = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 08:00 on 20/11/2026 in Vietnam
ISSUED = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
# Every Vietnamese tone (sắc, huyền, hỏi, ngã, nặng) and every modified letter (ă â đ ê ô ơ ư).
EVERY_DIACRITIC = "Tôn Nữ Ấu Bằng Đường Ơn Khuê Thị Ngọc Hải Trâm"
NAMES = AgencyNames(DEFAULT_AGENCY_NAMES_FILE)


def dialogue(**overrides) -> dict:
    doc = {
        "_id": "d-1", "state": "concluded", "kind": "periodic", "level": "commune",
        "locality": {"province_code": "37", "ward_code": "14464"},
        "host": {"name": "Nguyễn Văn An", "title": "Chủ tịch UBND xã"},
        "co_chairs": [{"name": "Trần Thị Bình", "title": "Chủ tịch Ủy ban MTTQ Việt Nam xã"}],
        "lead_agency_id": "so-xd-37", "coordinating_agency_ids": ["so-nnmt-37"],
        "format": "in_person", "venue": "Hội trường UBND xã Gia Viễn", "online_url": None,
        "starts_at": HELD, "ends_at": HELD + timedelta(hours=2, minutes=30), "held_at": HELD,
        "topic": "Ngập úng thôn Đông & bãi rác <tạm>",
        "agenda": [{"item_id": "i-1", "title": "Ngập úng đường liên thôn", "issue_id": "iss-1",
                    "petition_ids": ["p-1", "p-2"]},
                   {"item_id": "i-2", "title": "Bãi rác tạm", "issue_id": None,
                    "petition_ids": []}],
        "discussed_item_ids": ["i-1"],
        "attendance": {"total": 140, "citizens": 110, "front": 8, "organisations": 12,
                       "agencies": 10},
        "minutes": "Người dân trình bày ý kiến.\nLãnh đạo xã trả lời, tiếp thu.",
        "notice": {"number": "12-TB/UBND", "issued_at": ISSUED, "signed_by": "Nguyễn Văn An"},
        "late": False,
        "conclusions": [
            {"conclusion_id": "c-1", "text": "Nạo vét kênh tiêu thôn Đông",
             "responsible_agency_id": "so-nnmt-37", "coordinating_agency_ids": ["so-xd-37"],
             "deadline": "2027-02-05", "working_days": None, "petition_ids": ["p-1"]},
            {"conclusion_id": "c-2", "text": "Di dời bãi rác tạm",
             "responsible_agency_id": "ubnd-14464", "coordinating_agency_ids": [],
             "deadline": None, "working_days": 15, "petition_ids": []}],
    }
    doc.update(overrides)
    return doc


text_of = docx_text


def test_date_line_adds_a_zero_to_days_below_10_and_to_january_and_february():
    assert f.date_words(date(2026, 11, 28)) == "ngày 28 tháng 11 năm 2026"
    assert f.date_words(date(2027, 2, 5)) == "ngày 05 tháng 02 năm 2027"
    assert f.date_words(date(2027, 1, 10)) == "ngày 10 tháng 01 năm 2027"
    assert f.date_words(date(2027, 3, 9)) == "ngày 09 tháng 3 năm 2027"


def test_state_and_party_forms_of_a_commune_and_a_province():
    state = f.form({"province_code": "37", "ward_code": "14464"}, party=False)
    assert state.body_lines == ["ỦY BAN NHÂN DÂN", "XÃ GIA VIỄN"] and state.superior == ""
    assert state.number_line("12/TB-UBND", "TB") == "Số: 12/TB-UBND"
    assert state.number_line("12-TB/UBND", "TB") == "Số: 12/TB-UBND"  # NĐ 30 order
    assert state.date_line(date(2026, 11, 28)) == "Gia Viễn, ngày 28 tháng 11 năm 2026"
    assert state.body == "Ủy ban nhân dân xã Gia Viễn" and state.lu() == "- Lưu: VT."

    party = f.form({"province_code": "37", "ward_code": "14464"}, party=True)
    assert party.superior == "ĐẢNG BỘ TỈNH NINH BÌNH"
    assert party.body_lines == ["ĐẢNG ỦY XÃ GIA VIỄN"]
    assert party.number_line("12-TB/ĐU", "TB") == "Số 12-TB/ĐU"  # no colon in Party documents
    assert party.lu() == "- Lưu Văn phòng Đảng ủy."

    province = f.form({"province_code": "37", "ward_code": None}, party=False)
    assert province.body_lines == ["ỦY BAN NHÂN DÂN", "TỈNH NINH BÌNH"]
    assert province.date_line(date(2026, 1, 2)) == "Ninh Bình, ngày 02 tháng 01 năm 2026"
    hanoi = f.form({"province_code": "01", "ward_code": None}, party=True)
    assert hanoi.body_lines == ["THÀNH ỦY HÀ NỘI"] and hanoi.symbol == "ThU"


def test_signature_authority_follows_the_host():
    state = f.form({"province_code": "37", "ward_code": "14464"}, party=False)
    party = f.form({"province_code": "37", "ward_code": "14464"}, party=True)
    assert f.sign_lines("Chủ tịch UBND xã", state, True) == ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    assert f.sign_lines("Phó Chủ tịch UBND xã", state, True) == [
        "TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]
    assert f.sign_lines("Bí thư Đảng ủy xã", party, True) == ["T/M ĐẢNG ỦY", "BÍ THƯ"]
    assert f.sign_lines("Bí thư Tỉnh ủy", party, False) == ["T/M BAN THƯỜNG VỤ", "BÍ THƯ"]
    assert f.is_party("Bí thư Đảng ủy xã") and not f.is_party("Chủ tịch UBND xã")
    where = f.place({"province_code": "37", "ward_code": "14464"})
    assert f.full_title("Chủ tịch UBND xã", where) == "Chủ tịch Ủy ban nhân dân xã Gia Viễn"


def test_programme_periods_fall_into_quarters():
    assert [f.quarter_of(p) for p in ("2027-Q1", "2027-03", "2027-04", "2027-Q4", "2027-12")] \
        == [1, 1, 2, 4, 4]
    assert f.period_words("2027-Q2") == "Quý II năm 2027"
    assert f.period_words("2027-05") == "Tháng 5 năm 2027"


def test_notice_docx_has_the_header_number_date_every_conclusion_and_the_recipients():
    ctx = content.notice(dialogue(), NAMES)
    data = render.docx("notice", ctx, ISSUED, "Thông báo", ctx["issuer"])
    text = text_of(data)
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "ỦY BAN NHÂN DÂN", "XÃ GIA VIỄN", "Số: 12/TB-UBND",
                     "Gia Viễn, ngày 28 tháng 11 năm 2026", "THÔNG BÁO",
                     "Kết luận của Chủ tịch Ủy ban nhân dân xã Gia Viễn",
                     "1. Nạo vét kênh tiêu thôn Đông",
                     "- Cơ quan chủ trì thực hiện: Sở Nông nghiệp và Môi trường tỉnh Ninh Bình.",
                     "- Cơ quan phối hợp: Sở Xây dựng tỉnh Ninh Bình.",
                     "- Thời hạn: hoàn thành trước ngày 05 tháng 02 năm 2027.",
                     "2. Di dời bãi rác tạm",
                     # an agency the names file does not know is printed by its id
                     "- Cơ quan chủ trì thực hiện: UBND xã Gia Viễn.",
                     # 15 working days from 28/11/2026 (a Saturday): 18/12/2026
                     "trong 15 ngày làm việc kể từ ngày ban hành Thông báo này "
                     "(đến ngày 18 tháng 12 năm 2026)",
                     "Nơi nhận:", "- Sở Xây dựng tỉnh Ninh Bình;",
                     "- Ủy ban Mặt trận Tổ quốc Việt Nam xã Gia Viễn;", "- Lưu: VT.",
                     "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "Nguyễn Văn An",
                     "Ngập úng thôn Đông & bãi rác <tạm>"):
        assert expected in text, expected
    assert "{{" not in text and "{%" not in text


def test_party_notice_uses_the_party_heading_and_number():
    doc = dialogue(host={"name": EVERY_DIACRITIC, "title": "Bí thư Đảng ủy xã"},
                   notice={"number": "12-TB/ĐU", "issued_at": ISSUED,
                           "signed_by": EVERY_DIACRITIC})
    ctx = content.notice(doc, NAMES)
    text = text_of(render.docx("notice", ctx, ISSUED, "Thông báo", ctx["issuer"]))
    for expected in ("ĐẢNG CỘNG SẢN VIỆT NAM", "ĐẢNG BỘ TỈNH NINH BÌNH", "ĐẢNG ỦY XÃ GIA VIỄN",
                     "Số 12-TB/ĐU", "Gia Viễn, ngày 28 tháng 11 năm 2026", "T/M ĐẢNG ỦY",
                     "BÍ THƯ", "- Lưu Văn phòng Đảng ủy.", EVERY_DIACRITIC,
                     f"đồng chí {EVERY_DIACRITIC}, Bí thư Đảng ủy xã Gia Viễn"):
        assert expected in text, expected
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in text
    marks = {unicodedata.name(c) for c in unicodedata.normalize("NFD", EVERY_DIACRITIC)
             if unicodedata.combining(c)}
    assert {"COMBINING ACUTE ACCENT", "COMBINING GRAVE ACCENT", "COMBINING HOOK ABOVE",
            "COMBINING TILDE", "COMBINING DOT BELOW", "COMBINING BREVE",
            "COMBINING CIRCUMFLEX ACCENT", "COMBINING HORN"} <= marks
    assert "Đ" in EVERY_DIACRITIC


def test_minutes_record_time_venue_host_attendance_questions_and_answers():
    ctx = content.minutes(dialogue(), NAMES)
    text = text_of(render.docx("minutes", ctx, HELD, "Biên bản", ctx["issuer"]))
    for expected in ("BIÊN BẢN", "Số:       /BB-UBND", "Gia Viễn, ngày 20 tháng 11 năm 2026",
                     "Thời gian: từ 08 giờ 00 phút đến 10 giờ 30 phút, ngày 20 tháng 11 năm 2026.",
                     "Địa điểm: Hội trường UBND xã Gia Viễn.",
                     "Chủ trì: đồng chí Nguyễn Văn An, Chủ tịch Ủy ban nhân dân xã Gia Viễn.",
                     "Số người tham dự: 140 người, trong đó có 110 người dân",
                     "1. Ngập úng đường liên thôn (vấn đề mã iss-1, 2 kiến nghị của người dân).",
                     "Trả lời, tiếp thu: Nạo vét kênh tiêu thôn Đông (giao Sở Nông nghiệp và Môi "
                     "trường tỉnh Ninh Bình chủ trì thực hiện).",
                     "2. Bãi rác tạm: không được đưa ra thảo luận tại buổi đối thoại.",
                     "Lãnh đạo xã trả lời, tiếp thu.",
                     "Thông báo số 12/TB-UBND ngày 28 tháng 11 năm 2026", "CHỦ TRÌ"):
        assert expected in text, expected


def test_questions_link_to_their_issue_by_short_code_and_title():
    uid = "3f2a9c1e-58a4-4b7e-9f0c-5a2c3e7d9b41"
    doc = dialogue(agenda=[{"item_id": "i-1", "title": "Ngập úng", "issue_id": uid,
                            "petition_ids": ["p-1"]}])
    text = "\n".join(line for s in content.minutes(doc, NAMES, {uid: "Ngập úng thôn Đông"})[
        "sections"] for line in s["lines"])
    assert "1. Ngập úng (vấn đề «Ngập úng thôn Đông», mã 3f2a9c1e, 1 kiến nghị" in text
    same = content.minutes(doc, NAMES, {uid: "ngập úng"})["sections"][2]["lines"][0]
    assert same.startswith("1. Ngập úng (vấn đề mã 3f2a9c1e, 1 kiến nghị")


def test_programme_lists_its_dialogues_by_quarter():
    doc = {"_id": "pr-1", "state": "published", "year": 2027, "title": None,
           "locality": {"province_code": "37", "ward_code": "14464"},
           "published_at": datetime(2027, 1, 4, 2, 0, tzinfo=UTC),
           "items": [{"period": "2027-05", "kind": "thematic", "topic": "Đất đai"},
                     {"period": "2027-Q1", "kind": "periodic", "topic": "Định kỳ quý I"},
                     {"period": "2027-Q4", "kind": "periodic", "topic": "Tổng kết năm"}]}
    ctx = content.programme(doc)
    text = text_of(render.docx("programme", ctx, doc["published_at"], "CT", ctx["issuer"]))
    assert "CHƯƠNG TRÌNH" in text and "Gia Viễn, ngày 04 tháng 01 năm 2027" in text
    assert "Số:       /CTr-UBND" in text
    order = [text.index(s) for s in ("Quý I", "1. Quý I năm 2027: đối thoại định kỳ về Định kỳ",
                                     "Quý II", "2. Tháng 5 năm 2027: đối thoại chuyên đề về Đất",
                                     "Quý IV", "3. Quý IV năm 2027: đối thoại định kỳ")]
    assert order == sorted(order)
    assert "Quý III" not in text
    with pytest.raises(Conflict) as raised:
        content.programme({**doc, "state": "draft"})
    assert raised.value.detail_vi == "Chương trình chưa được công bố nên chưa có văn bản."


def test_a_cancelled_dialogue_has_no_notice_and_says_why_in_vietnamese():
    for state, why in (("cancelled", "đã bị hủy"), ("held", "chưa ban hành thông báo kết luận"),
                       ("announced", "chưa tổ chức")):
        with pytest.raises(Conflict) as raised:
            content.notice(dialogue(state=state, notice=None), NAMES)
        assert raised.value.detail_vi.startswith("Không có thông báo kết luận vì cuộc đối thoại")
        assert why in raised.value.detail_vi
    with pytest.raises(Conflict) as raised:
        content.minutes(dialogue(state="cancelled"), NAMES)
    assert raised.value.detail_vi == "Không có biên bản vì cuộc đối thoại đã bị hủy."


def test_the_same_data_gives_the_same_docx_bytes():
    ctx = content.notice(dialogue(), NAMES)
    first = render.docx("notice", ctx, ISSUED, "Thông báo", ctx["issuer"])
    second = render.docx("notice", content.notice(dialogue(), NAMES), ISSUED, "Thông báo",
                         ctx["issuer"])
    assert first == second
    other = render.docx("notice", content.notice(dialogue(topic="Khác"), NAMES), ISSUED,
                        "Thông báo", ctx["issuer"])
    assert other != first
    core = Document(io.BytesIO(first)).core_properties
    assert core.created == ISSUED  # the notice's date, not the time it was rendered
