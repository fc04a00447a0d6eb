"""GSM-7 detection, segment counting and Vietnamese-to-SMS text conversion."""

from __future__ import annotations

import pytest

from services.notify.sms import is_gsm7, segments, to_sms_text


@pytest.mark.parametrize(
    "text",
    [
        "Kien nghi NB25-4K7Q2M da duoc tiep nhan.",
        "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà",
        "Dong 1\nDong 2\r",
        "{[~]} ^ \\ | €",  # extension table
        "",
    ],
)
def test_gsm7_texts(text: str) -> None:
    assert is_gsm7(text)


@pytest.mark.parametrize(
    "text",
    [
        "Kiến nghị đã được tiếp nhận",
        "đ",
        "Giá 50.000₫",
        "“trích dẫn”",
        "ç",  # only the capital Ç is in the basic table
        "\x1b",  # ESC alone is not text
        "Xin chào 👋",
    ],
)
def test_not_gsm7_texts(text: str) -> None:
    assert not is_gsm7(text)


def test_gsm7_segment_boundaries() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2  # 2 x 153
    assert segments("a" * 307) == 3
    assert segments("a" * 459) == 3
    assert segments("a" * 460) == 4


def test_empty_message_still_takes_one_segment() -> None:
    assert segments("") == 1


def test_extension_characters_count_double() -> None:
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2
    assert segments("a" * 158 + "{") == 1
    assert segments("a" * 159 + "{") == 2
    # 152 septets then an escape pair: the pair moves whole to the second part rather
    # than being split across the seam, so 306 septets can need three parts.
    assert segments("a" * 152 + "[" + "a" * 151) == 2
    assert segments("a" * 152 + "[" + "a" * 152) == 3
    assert segments("a" * 151 + "[" + "a" * 153) == 2


def test_ucs2_segment_boundaries() -> None:
    assert segments("đ" * 70) == 1
    assert segments("đ" * 71) == 2
    assert segments("đ" * 134) == 2  # 2 x 67
    assert segments("đ" * 135) == 3
    # One Vietnamese letter turns 100 ASCII characters into a two-part UCS-2 message.
    assert segments("a" * 99 + "ệ") == 2


def test_characters_beyond_bmp_take_two_ucs2_units() -> None:
    assert segments("😀" * 35) == 1
    assert segments("😀" * 35 + "a") == 2


def test_strips_diacritics_from_vietnamese_sentences() -> None:
    assert (
        to_sms_text("Kiến nghị của Ông/Bà đã được tiếp nhận. Mã tra cứu: NB25-4K7Q2M.")
        == "Kien nghi cua Ong/Ba da duoc tiep nhan. Ma tra cuu: NB25-4K7Q2M."
    )
    assert (
        to_sms_text("ĐƯỜNG LIÊN THÔN ĐÔNG CHÙA bị ngập sâu sau mưa lớn")
        == "DUONG LIEN THON DONG CHUA bi ngap sau sau mua lon"
    )
    assert (
        to_sms_text("Ủy ban nhân dân xã Gia Viễn, tỉnh Ninh Bình")
        == "Uy ban nhan dan xa Gia Vien, tinh Ninh Binh"
    )
    assert to_sms_text("Phường Hoa Lư, đặc khu Phú Quốc") == "Phuong Hoa Lu, dac khu Phu Quoc"


def test_result_is_gsm7_and_fits_one_segment_where_diacritics_need_two() -> None:
    source = (
        "Buổi đối thoại về giải phóng mặt bằng Quốc lộ 38B sẽ diễn ra lúc 08:30 ngày "
        "15/08/2025 tại Hội trường Ủy ban nhân dân xã Gia Viễn."
    )
    assert segments(source) == 2
    text = to_sms_text(source)
    assert is_gsm7(text)
    assert segments(text) == 1
    assert len(text) == len(source)


def test_decomposed_input_is_handled_like_composed() -> None:
    decomposed = "Đa\u0303 nhâ\u0323n"  # NFD as some phones send it
    assert to_sms_text(decomposed) == "Da nhan"


def test_collapses_spaces_and_keeps_single_line_breaks() -> None:
    assert to_sms_text("  Mã   tra\tcứu:\u00a0 NB25  ") == "Ma tra cuu: NB25"
    assert to_sms_text("Dòng 1  \r\n\r\n\r\n  Dòng 2") == "Dong 1\nDong 2"


def test_replaces_typography_and_drops_pictographs() -> None:
    text = to_sms_text("“Đường làng” – xuống cấp… giá 50.000₫ 👍 • xem ngay")
    assert text == "\"Duong lang\" - xuong cap... gia 50.000d - xem ngay"
    assert is_gsm7(text)


def test_unknown_letters_become_question_marks_not_silence() -> None:
    text = to_sms_text("Tên: 李明")
    assert text == "Ten: ??"
    assert is_gsm7(text)


def test_keep_diacritics_only_tidies_spaces() -> None:
    text = to_sms_text("  Đã   tiếp nhận  ", keep_diacritics=True)
    assert text == "Đã tiếp nhận"
    assert not is_gsm7(text)
