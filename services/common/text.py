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
    text = text.translate(_LOOKALIKES)
    lowered = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    stripped = "".join(ch for ch in lowered if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped).strip()


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
