"""Documents over HTTP against real FerretDB: DOCX read back with python-docx, PDF/A made
by LibreOffice read back with pypdf, first pages rendered with pdftoppm into
docs/screenshots/, the public register of notices and its link from compliance."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pikepdf
from pypdf import PdfReader

from services.scheduling.documents import render
from tests.helpers import docx_text
from tests.integration.scheduling.conftest import dialogue_body

D = "/api/v1/dialogues"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
EVERY_DIACRITIC = "Tôn Nữ Ấu Bằng Đường Ơn Khuê Thị Ngọc Hải Trâm"
STATE_HOST = {"name": EVERY_DIACRITIC, "title": "Chủ tịch UBND xã"}


def flat(text: str) -> str:
    """NFC, one space between words: how the extractor's lines and spacing are compared."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def pdf_text(data: bytes) -> list[str]:
    return [flat(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def first_page_png(data: bytes, name: str) -> Path:
    """The first page as PNG (poppler's pdftoppm), kept in docs/screenshots/ for the README."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(data)
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                        str(source), str(SCREENSHOTS / name)], check=True, timeout=60)
    out = SCREENSHOTS / f"{name}.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


def concluded(api, clock, conclusions, days_after=3, **overrides):
    """A dialogue taken through announce, hold and conclude; returns its id."""
    number = overrides.pop("number", "12/TB-UBND")
    start = clock() + timedelta(days=10)
    overrides.setdefault("starts_at", start.isoformat())
    overrides.setdefault("ends_at", (start + timedelta(hours=3)).isoformat())
    overrides.setdefault("lead_agency_id", "so-xd-37")
    overrides.setdefault("coordinating_agency_ids", ["so-nnmt-37", "so-nv-37"])
    r = api.post(D, dialogue_body(**overrides))
    assert r.status_code == 201, r.json
    did = r.json["id"]
    api.post(f"{D}/{did}/agenda-items", {"title": "Bồi thường đất nông nghiệp",
                                         "issue_id": "iss-1", "petition_ids": ["p1", "p2"]})
    api.post(f"{D}/{did}/agenda-items", {"title": "Ngập úng thôn Đông", "petition_ids": ["p3"]})
    assert api.post(f"{D}/{did}/announce", {}).status_code == 200
    clock.advance(days=10)
    r = api.post(f"{D}/{did}/hold", {"attendance": {"total": 120, "citizens": 90, "front": 10,
                                                    "organisations": 5, "agencies": 15},
                                     "minutes": "Người dân nêu 5 ý kiến; lãnh đạo xã trả lời."})
    assert r.status_code == 200, r.json
    clock.advance(days=days_after)
    if conclusions is None:
        return did
    r = api.post(f"{D}/{did}/conclude", {
        "notice_number": number, "issued_at": clock().isoformat(),
        "signed_by": (overrides.get("host") or {}).get("name", "Nguyễn Văn An"),
        "conclusions": conclusions})
    assert r.status_code == 200, r.json
    return did


CONCLUSIONS = [
    {"text": "Hoàn thành chi trả bồi thường đất nông nghiệp cho các hộ thôn Đông",
     "responsible_agency_id": "so-nnmt-37", "coordinating_agency_ids": ["so-xd-37"],
     "deadline": "2026-06-30", "petition_ids": ["p1", "p2"]},
    {"text": "Nạo vét kênh thoát nước thôn Đông", "responsible_agency_id": "so-xd-37",
     "working_days": 20, "petition_ids": ["p3"]},
]


def test_notice_as_docx_and_pdf_a_with_header_number_date_conclusions_and_recipients(api, clock):
    did = concluded(api, clock, CONCLUSIONS, host=STATE_HOST)

    r = api.get(f"{D}/{did}/documents/notice.docx", roles=("auditor",))
    assert r.status_code == 200, r.data[:300]
    assert r.mimetype == render.DOCX_TYPE
    assert "thong-bao-ket-luan-12-TB-UBND-Xa-Gia-Vien.docx" in r.headers["Content-Disposition"]
    text = docx_text(r.data)
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "XÃ GIA VIỄN", "Số: 12/TB-UBND", "Gia Viễn, ngày 15 tháng 3 năm 2026",
                     "1. Hoàn thành chi trả bồi thường", "2. Nạo vét kênh thoát nước thôn Đông",
                     "- Thời hạn: hoàn thành trước ngày 30 tháng 6 năm 2026.",
                     "- Sở Nông nghiệp và Môi trường tỉnh Ninh Bình;", "- Lưu: VT.",
                     EVERY_DIACRITIC):
        assert expected in text, expected

    r = api.get(f"{D}/{did}/documents/notice.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pdf = r.data
    whole = " ".join(pdf_text(pdf))
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "ỦY BAN NHÂN DÂN", "XÃ GIA VIỄN", "Số: 12/TB-UBND",
                     "Gia Viễn, ngày 15 tháng 3 năm 2026", "THÔNG BÁO",
                     "Kết luận của Chủ tịch Ủy ban nhân dân xã Gia Viễn",
                     "1. Hoàn thành chi trả bồi thường đất nông nghiệp cho các hộ thôn Đông",
                     "Cơ quan chủ trì thực hiện: Sở Nông nghiệp và Môi trường tỉnh Ninh Bình",
                     "Cơ quan phối hợp: Sở Xây dựng tỉnh Ninh Bình",
                     "2. Nạo vét kênh thoát nước thôn Đông",
                     "trong 20 ngày làm việc kể từ ngày ban hành Thông báo này",
                     "Nơi nhận:", "- Sở Xây dựng tỉnh Ninh Bình;",
                     "- Ủy ban Mặt trận Tổ quốc Việt Nam xã Gia Viễn;", "- Lưu: VT.",
                     "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", EVERY_DIACRITIC):
        assert expected in whole, expected
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert str(doc.docinfo["/CreationDate"]) == "D:20260315080000+07'00'"
        assert doc.pages[0].mediabox[2:] == [595, 842] or \
            [round(float(x)) for x in doc.pages[0].mediabox[2:]] == [595, 842]  # A4
        fonts = {str(f.get("/BaseFont")) for page in doc.pages
                 for f in page.Resources.Font.values()}
        assert any("LiberationSerif" in f for f in fonts), fonts  # Times-compatible, embedded
    first_page_png(pdf, "notice-first-page")

    # Repeatable: a fresh conversion of the same DOCX gives the same bytes.
    again = api.get(f"{D}/{did}/documents/notice.docx").data
    assert again == api.get(f"{D}/{did}/documents/notice.docx").data
    issued = api.get(f"{D}/{did}").json["notice"]["issued_at"]
    fresh = render.pdf(again, datetime.fromisoformat(issued),
                       "Thông báo kết luận - Giải phóng mặt bằng đường ĐT477",
                       "Ủy ban nhân dân xã Gia Viễn")
    assert fresh == pdf


def test_minutes_in_the_party_format_record_the_dialogue(api, clock):
    did = concluded(api, clock, CONCLUSIONS, number="15-TB/ĐU")  # hosted by the Party secretary
    r = api.get(f"{D}/{did}/documents/minutes.pdf")
    assert r.status_code == 200, r.data[:300]
    whole = " ".join(pdf_text(r.data))
    for expected in ("ĐẢNG CỘNG SẢN VIỆT NAM", "ĐẢNG BỘ TỈNH NINH BÌNH", "ĐẢNG ỦY XÃ GIA VIỄN",
                     "BIÊN BẢN", "Gia Viễn, ngày 12 tháng 3 năm 2026",
                     "Thời gian: từ 08 giờ 00 phút đến 11 giờ 00 phút, ngày 12 tháng 3 năm 2026",
                     "Địa điểm: Hội trường UBND xã Gia Viễn",
                     "Chủ trì: đồng chí Nguyễn Văn An, Bí thư Đảng ủy xã Gia Viễn",
                     "Số người tham dự: 120 người, trong đó có 90 người dân",
                     "1. Bồi thường đất nông nghiệp (vấn đề mã iss-1, 2 kiến nghị của người dân)",
                     "Trả lời, tiếp thu: Hoàn thành chi trả bồi thường",
                     "2. Ngập úng thôn Đông (1 kiến nghị của người dân)",
                     "Trả lời, tiếp thu: Nạo vét kênh thoát nước thôn Đông",
                     "Người dân nêu 5 ý kiến; lãnh đạo xã trả lời.",
                     "Thông báo số 15-TB/ĐU ngày 15 tháng 3 năm 2026", "CHỦ TRÌ"):
        assert expected in whole, expected
    first_page_png(r.data, "minutes-first-page")
    # the notice of a Party secretary's dialogue is the Party committee's
    text = docx_text(api.get(f"{D}/{did}/documents/notice.docx").data)
    assert "Số 15-TB/ĐU" in text and "T/M ĐẢNG ỦY" in text and "ĐẢNG CỘNG SẢN VIỆT NAM" in text


def test_a_long_notice_runs_across_pages_with_every_conclusion(api, clock):
    many = [{"text": f"Nội dung kết luận số {n}: rà soát, giải quyết dứt điểm kiến nghị của "
                     f"người dân về đất đai, môi trường và hạ tầng giao thông nông thôn tại "
                     f"thôn {n}, báo cáo kết quả với Thường trực Ủy ban nhân dân xã",
             "responsible_agency_id": "so-nnmt-37" if n % 2 else "so-xd-37",
             "coordinating_agency_ids": ["so-nv-37"], "working_days": 10 + n}
            for n in range(1, 41)]
    did = concluded(api, clock, many, host=STATE_HOST)
    r = api.get(f"{D}/{did}/documents/notice.pdf")
    assert r.status_code == 200
    pages = pdf_text(r.data)
    assert len(pages) >= 4, len(pages)
    whole = " ".join(pages)
    for n in range(1, 41):
        assert f"{n}. Nội dung kết luận số {n}:" in whole, n
    assert "Nội dung kết luận số 40" not in pages[0]
    # numbered from the second page on, in the top margin (NĐ 30/2020, Phụ lục I)
    assert [p.split(" ", 1)[0] for p in pages[1:3]] == ["2", "3"]
    assert not pages[0].startswith("1 ")
    assert EVERY_DIACRITIC in pages[-1] and "Nơi nhận:" in " ".join(pages[-2:])


def test_a_cancelled_dialogue_has_no_notice_and_a_clear_error(api):
    r = api.post(D, dialogue_body())
    did = r.json["id"]
    assert api.post(f"{D}/{did}/cancel", {"reason": "Mưa bão"}).status_code == 200
    r = api.get(f"{D}/{did}/documents/notice.pdf")
    assert r.status_code == 409
    assert r.json["detail_vi"] == ("Không có thông báo kết luận vì cuộc đối thoại đã bị hủy.")
    r = api.get(f"{D}/{did}/documents/minutes.docx")
    assert r.status_code == 409
    assert r.json["detail_vi"] == "Không có biên bản vì cuộc đối thoại đã bị hủy."
    r = api.get(f"/api/v1/notices/{did}/pdf", roles=())
    assert r.status_code == 404
    assert r.json["detail_vi"] == "Không tìm thấy thông báo kết luận đã ban hành."
    assert api.get(f"{D}/{did}/documents/notice.odt").status_code == 404


def test_documents_need_a_token_in_scope(api, clock):
    did = concluded(api, clock, None)
    assert api.get(f"{D}/{did}/documents/minutes.docx", roles=()).status_code == 401
    assert api.get(f"{D}/{did}/documents/minutes.docx", province="01").status_code == 403
    assert api.get(f"{D}/{did}/documents/minutes.docx", ward="14500").status_code == 403
    assert api.get(f"{D}/{did}/documents/minutes.docx", ward="14464").status_code == 200


def test_register_of_notices_is_public_and_shows_publication_within_10_days(api, clock):
    on_time = concluded(api, clock, CONCLUSIONS, days_after=3, topic="Đường liên thôn",
                        host=STATE_HOST)
    late = concluded(api, clock, CONCLUSIONS[:1], days_after=12, number="13/TB-UBND",
                     topic="Bãi rác tạm", venue="Nhà văn hóa thôn Đông",
                     host={"name": "Lê Văn Cường", "title": "Chủ tịch UBND xã"})
    r = api.get("/api/v1/notices?province_code=37&ward_code=14464", roles=())
    assert r.status_code == 200, r.json
    assert r.json["total"] == 2
    by_id = {i["dialogue_id"]: i for i in r.json["items"]}
    assert by_id[on_time]["published_within_10_days"] is True
    assert by_id[on_time]["days_after_dialogue"] == 3
    assert by_id[on_time]["number_display"] == "Số: 12/TB-UBND"
    assert by_id[on_time]["issuer"] == "Ủy ban nhân dân xã Gia Viễn"
    assert by_id[late]["published_within_10_days"] is False and by_id[late]["late"] is True
    assert by_id[late]["days_after_dialogue"] == 12
    assert r.json["items"][0]["dialogue_id"] == late  # newest first

    # The compliance report counts the late notice and links to it.
    row = next(i for i in api.get("/api/v1/compliance?province_code=37&year=2026").json["items"]
               if i["ward_code"] == "14464")
    assert row["late_notices"] == 1
    linked = api.get(row["late_notices_url"], roles=())
    assert [i["dialogue_id"] for i in linked.json["items"]] == [late]

    assert api.get("/api/v1/notices?province_code=37&ward_code=14500", roles=()).json[
        "total"] == 0
    assert api.get("/api/v1/notices?province_code=99", roles=()).status_code == 422
    pdf = api.get(by_id[late]["pdf_url"], roles=())
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Số: 13/TB-UBND" in " ".join(pdf_text(pdf.data))


def test_programme_document_lists_the_dialogues_by_quarter(api):
    r = api.post("/api/v1/programmes", {
        "locality": {"province_code": "37", "ward_code": "14464"}, "year": 2026,
        "items": [{"period": "2026-Q4", "kind": "periodic", "topic": "Tổng kết năm"},
                  {"period": "2026-05", "kind": "thematic", "topic": "Đất đai, môi trường"},
                  {"period": "2026-Q1", "kind": "periodic", "topic": "Đối thoại đầu năm"}]})
    pid = r.json["id"]
    r = api.get(f"/api/v1/programmes/{pid}/document.pdf")
    assert r.status_code == 409
    assert r.json["detail_vi"] == "Chương trình chưa được công bố nên chưa có văn bản."
    assert api.post(f"/api/v1/programmes/{pid}/publish").status_code == 200
    r = api.get(f"/api/v1/programmes/{pid}/document.pdf")
    assert r.status_code == 200
    whole = " ".join(pdf_text(r.data))
    positions = [whole.index(s) for s in (
        "CHƯƠNG TRÌNH", "Quý I", "1. Quý I năm 2026: đối thoại định kỳ về Đối thoại đầu năm",
        "Quý II", "2. Tháng 5 năm 2026: đối thoại chuyên đề về Đất đai, môi trường",
        "Quý IV", "3. Quý IV năm 2026: đối thoại định kỳ về Tổng kết năm")]
    assert positions == sorted(positions)
    assert "Gia Viễn, ngày 02 tháng 3 năm 2026" in whole
    first_page_png(r.data, "programme-first-page")
