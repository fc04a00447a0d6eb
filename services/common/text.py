"""Vietnamese text helpers: NFC normalisation and folding for search."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Letters that look like đ/Đ but are not (Icelandic eth, African D): old fonts and
# converted documents put them in Vietnamese text, and NFD does not fold them.
_LOOKALIKES = str.maketrans({"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ"})
_WORD = re.compile(r"[0-9a-z]+")


def nfc(text: str) -> str:
    """Return ``text`` in NFC with runs of white space collapsed and the ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """Lower-case, strip diacritics and fold đ to d, so that search ignores both.

    "Đường LÀNG bị ngập" and "duong lang bi ngap" fold to the same string.
    """
    return _SPACES.sub(" ", text.lower().translate(_FOLDED)).strip()


def _fold_char(ch: str) -> str:
    ch = ch.translate(_LOOKALIKES).lower().replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")


class _Folded(dict):
    """What each character folds to, worked out the first time it is met, so that
    ``str.translate`` folds the characters seen before in C (a petition's searchable
    text is folded on every submission). Kept for the alphabets in use here, below
    U+3000: a text of every other character cannot grow it without bound."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if code < 0x3000:
            self[code] = folded
        return folded


_FOLDED = _Folded()


def words(text: str) -> list[str]:
    """Folded alphanumeric words of ``text``."""
    return _WORD.findall(fold(text))


def strip_diacritics(text: str) -> str:
    """Remove diacritics but keep case, for GSM-7 SMS text ("Đã nhận" -> "Da nhan")."""
    text = text.translate(_LOOKALIKES)
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    )
