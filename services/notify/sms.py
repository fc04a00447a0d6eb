"""SMS text rules: GSM-7 detection, segment counting and Vietnamese-to-GSM conversion.

Operators bill per segment, and a single character outside GSM 03.38 switches the whole
message to UCS-2, which cuts a segment from 160 to 70 characters. Vietnamese with its
diacritics is almost never GSM-7, so SMS text is normally sent without them.
"""

from __future__ import annotations

import re
import unicodedata

from services.common.text import strip_diacritics

# GSM 03.38 default alphabet. ESC (0x1B) is left out on purpose: it only introduces an
# extension character and is never valid text on its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + char, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153  # 7 septets of every part go to the concatenation header
UCS2_SINGLE = 70
UCS2_PART = 67

# Typographic characters that word processors and phones slip into text, mapped to the
# nearest GSM-7 spelling so that one curly quote does not turn the message into UCS-2.
_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "´": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "«": '"', "»": '"',
    "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": ".", "\u2027": ".",
    "\u20ab": "d",  # đồng sign; "50.000đ" already becomes "50.000d"
    "\u00d7": "x", "\u00f7": "/", "\u2192": "->", "\u2190": "<-", "\u00b0": " do ",
    "\u2116": "So ", "\u00ba": "o", "\u00aa": "a",
    # Look-alikes of đ/Đ that strip_diacritics already turned into d/D are gone by now;
    # these come from elsewhere: plus-minus, vulgar fractions, keycap digits ("1️⃣"
    # is 1 + VS16 + the combining keycap, which would otherwise become "1?").
    "\u00b1": "+/-", "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4",
    "\u20e3": "", "\ufe0f": "", "\ufe0e": "",
}
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{2,}")


def _septets(ch: str) -> int:
    return 2 if ch in GSM7_EXTENSION else 1


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _pack(units: list[int], single: int, part: int) -> int:
    if sum(units) <= single:
        return 1
    # Fill parts greedily and never split an escape sequence or a surrogate pair
    # across two parts: handsets would show garbage at the seam.
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count += 1
            used = 0
        used += size
    return count


def segments(text: str) -> int:
    """Number of SMS segments ``text`` occupies (at least one).

    GSM-7: 160 septets in one segment, 153 per part when concatenated; extension
    characters take two septets. Anything else is UCS-2: 70 UTF-16 units in one
    segment, 67 per part; characters beyond the BMP take two units.
    """
    if is_gsm7(text):
        return _pack([_septets(ch) for ch in text], GSM7_SINGLE, GSM7_PART)
    return _pack([2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_PART)


def _to_gsm_char(ch: str) -> str:
    if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
        return ch
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    # Compatibility forms ("ﬁ", "²", full-width digits) usually have a plain spelling.
    compat = unicodedata.normalize("NFKD", ch)
    compat = "".join(c for c in compat if unicodedata.category(c) != "Mn")
    if compat and is_gsm7(compat):
        return compat
    category = unicodedata.category(ch)
    if category.startswith("Z") or ch.isspace():  # tabs and odd spaces still part words
        return " "
    if category in {"So", "Sk", "Cc", "Cf", "Cs", "Co", "Cn"}:
        # Emoji, pictographs, control and invisible characters carry no words: drop them.
        return ""
    return "?"


def to_sms_text(text: str, keep_diacritics: bool = False) -> str:
    """Turn ``text`` into what we put in an SMS.

    Without diacritics (the default) Vietnamese letters lose their marks and đ becomes
    d, and every other character outside GSM-7 is replaced by its nearest GSM-7 spelling
    or dropped, so the result is always GSM-7. With ``keep_diacritics`` the letters are
    kept (the message will be UCS-2) and only white space is tidied. Runs of spaces are
    collapsed in both cases; single line breaks survive, blank lines are squeezed.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    if not keep_diacritics:
        text = "".join(_to_gsm_char(ch) for ch in strip_diacritics(text))
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip()
