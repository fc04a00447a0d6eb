"""Vietnamese text: NFC, search folding, SMS-safe stripping."""

from __future__ import annotations

import re
import unicodedata

from services.common.text import fold, nfc, strip_diacritics, words


def test_nfc_composes_decomposed_input():
    decomposed = unicodedata.normalize("NFD", "Đường làng bị ngập")
    assert decomposed != "Đường làng bị ngập"
    result = nfc(decomposed)
    assert result == "Đường làng bị ngập"
    assert unicodedata.is_normalized("NFC", result)
    assert len(result) == len("Đường làng bị ngập")


def test_nfc_collapses_and_trims_whitespace():
    assert nfc("  Xã \t Gia\n\nViễn  ") == "Xã Gia Viễn"
    assert nfc("\u00a0Ninh\u2003Bình ") == "Ninh Bình"
    assert nfc("") == ""


def test_fold_ignores_case_and_diacritics():
    assert fold("Đường LÀNG bị NGẬP") == fold("duong lang bi ngap") == "duong lang bi ngap"
    assert fold(unicodedata.normalize("NFD", "Đường LÀNG bị NGẬP")) == "duong lang bi ngap"
    assert fold("  Ủy   ban  ") == "uy ban"


def test_fold_turns_d_stroke_into_d():
    assert fold("đ") == "d"
    assert fold("Đ") == "d"
    assert fold("Đồng Đăng") == "dong dang"
    assert "đ" not in fold("đường đê") and "Đ" not in fold("ĐƯỜNG ĐÊ")


def test_fold_keeps_distinct_words_distinct():
    assert fold("Gia Viễn") != fold("Gia Vân")


def test_words_are_folded_alphanumerics():
    assert words("Đường số 12, thôn Đông-Hải!") == ["duong", "so", "12", "thon", "dong", "hai"]


def test_strip_diacritics_keeps_case():
    assert strip_diacritics("Đã nhận") == "Da nhan"
    assert strip_diacritics("ĐƯỜNG LÀNG bị ngập") == "DUONG LANG bi ngap"
    assert strip_diacritics("đê Ủy") == "de Uy"
    assert strip_diacritics("Phản ánh số NB-0001") == "Phan anh so NB-0001"
    assert strip_diacritics("Gia Viễn").isascii()


def reference_fold(text: str) -> str:
    """fold as first written: the whole text decomposed, then every mark dropped."""
    text = text.translate(str.maketrans({"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ"}))
    lowered = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    stripped = "".join(ch for ch in lowered if unicodedata.category(ch) != "Mn")
    return re.sub(r"\s+", " ", stripped).strip()


def test_fold_character_by_character_equals_folding_the_whole_text():
    sample = ("Đường LÀNG bị NGẬP ở thôn Ðông, Ủy ban xã Gia Viễn: ĐƯỢC KHÔNG? "
              "Ɖồng ɖăng ŒUVRE İstanbul ΣΟΦΟΣ ǅ ﬁ Ǆ Å 漢字 한국어 ＡＢＣ ")
    texts = [sample, unicodedata.normalize("NFD", sample),
             "".join(chr(c) for c in range(0x20, 0x3000) if not chr(c).isspace())]
    for text in texts:
        assert fold(text) == reference_fold(text)


def test_fold_remembers_only_the_alphabets_in_use():
    from services.common.text import _FOLDED

    fold("Ngập lụt")
    size = len(_FOLDED)
    assert fold("漢字" + "".join(chr(c) for c in range(0x4E00, 0x5E00))).startswith("漢字")
    assert len(_FOLDED) == size
