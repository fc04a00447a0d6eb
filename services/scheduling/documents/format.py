"""The prescribed form of a document's header, date line and signature. No I/O.

Sources (looked up for this module; the layout itself is in ``build_templates.py``):

- State bodies: Nghị định 30/2020/NĐ-CP ngày 05/3/2020 của Chính phủ về công tác văn
  thư, Phụ lục I "Thể thức, kỹ thuật trình bày văn bản hành chính và bản sao văn bản":
  A4; margins top and bottom 20-25 mm, left 30-35 mm, right 15-20 mm; Times New Roman
  (TCVN 6909:2001 Unicode); the national title "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
  (capitals, 12-13 pt, bold) over the motto "Độc lập - Tự do - Hạnh phúc" (13-14 pt,
  bold, a solid line under it as long as the motto); the issuing body on the left
  ("ỦY BAN NHÂN DÂN" over "XÃ GIA VIỄN", bold, a short line under it); "Số: 12/TB-UBND";
  the place and date in italics ("Gia Viễn, ngày 28 tháng 11 năm 2026": the place is the
  commune's or the province's name; days below 10 and the months 1 and 2 take a leading
  zero); the document type and summary, bold and centred; the authority and position
  above the signature ("TM. ỦY BAN NHÂN DÂN" over "CHỦ TỊCH", "KT. CHỦ TỊCH" over "PHÓ
  CHỦ TỊCH"); "Nơi nhận:" (12 pt, bold italic, items 11 pt) ending with "- Lưu: VT";
  page numbers centred in the top margin, none on the first page.
- Party bodies: Hướng dẫn 36-HD/VPTW ngày 03/4/2018 của Văn phòng Trung ương Đảng về thể
  thức và kỹ thuật trình bày văn bản của Đảng: the heading "ĐẢNG CỘNG SẢN VIỆT NAM"
  (15 pt, bold) top right with a line under it as long as the heading; on the left the
  directly superior body (14 pt) over the issuing one (14 pt, bold), then "*"
  ("ĐẢNG BỘ TỈNH NINH BÌNH" over "ĐẢNG ỦY XÃ GIA VIỄN"); "Số 12-TB/ĐU" (no colon); the
  place and date in italics as above ("Hạ Long, ngày 20 tháng 02 năm 2018" in its
  examples); "T/M ĐẢNG ỦY" (or "T/M BAN THƯỜNG VỤ") over "BÍ THƯ"; "Nơi nhận:"
  underlined, ending with "- Lưu Văn phòng Đảng ủy."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.common.localities import Unit, UnknownLocality, province, ward
from services.common.text import fold, nfc

KINDS_VI = {"periodic": "định kỳ", "thematic": "chuyên đề", "ad_hoc": "đột xuất"}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def upper(text: str) -> str:
    """Upper case that keeps every Vietnamese diacritic (ễ -> Ễ, đ -> Đ)."""
    return nfc(text).upper()


def squash(text: str) -> str:
    """One space between words (some official names carry two)."""
    return re.sub(r"\s+", " ", nfc(text)).strip()


def two(n: int) -> str:
    return f"{n:02d}"


def date_words(day: date) -> str:
    """'ngày 05 tháng 02 năm 2027', 'ngày 28 tháng 11 năm 2026' (NĐ 30/2020, Phụ lục I).

    Days below 10 and the months 1 and 2 take a leading zero; other months do not.
    """
    month = two(day.month) if day.month < 3 else str(day.month)
    return f"ngày {two(day.day)} tháng {month} năm {day.year}"


def short_date(day: date) -> str:
    return f"{two(day.day)}/{two(day.month)}/{day.year}"


@dataclass(frozen=True)
class Place:
    """The unit a document speaks for: a commune or a province."""

    code: str
    name: str  # "Xã Gia Viễn", "Tỉnh Ninh Bình"
    bare: str  # "Gia Viễn", "Ninh Bình" (the place name of the date line)
    kind: str  # "xã", "phường", "đặc khu", "tỉnh", "thành phố trung ương"
    province: str  # "Tỉnh Ninh Bình"
    commune: bool


def _bare(unit: Unit) -> str:
    name = squash(unit.name)
    for prefix in ("Thành phố", "Tỉnh", "Xã", "Phường", "Đặc khu"):
        if name.startswith(prefix + " "):
            rest = name[len(prefix) + 1:]
            # "Phường 1" keeps its type: the number alone names nothing.
            return name if rest.isdigit() else rest
    return name


def _province_name(unit: Unit) -> str:
    name = squash(unit.name)
    if name.startswith(("Tỉnh ", "Thành phố ")):
        return name
    return ("Thành phố " if unit.kind.startswith("thành phố") else "Tỉnh ") + name


def place(locality: dict) -> Place:
    """The issuing unit of a dialogue's or programme's locality."""
    prov = province(locality["province_code"])
    code = locality.get("ward_code")
    if code:
        try:
            unit = ward(code)
        except UnknownLocality:
            unit = None
        if unit is not None:
            return Place(code, squash(unit.name), _bare(unit), unit.kind, _province_name(prov),
                         True)
    return Place(prov.code, _province_name(prov), _bare(prov), prov.kind, _province_name(prov),
                 False)


def is_party(host_title: str) -> bool:
    """A Party secretary (or deputy) hosts: the document is the Party committee's."""
    return "bi thu" in fold(host_title)


@dataclass(frozen=True)
class Form:
    """Everything of the header and signature that depends on who issues."""

    party: bool
    superior: str  # the directly superior body (Party format), or ""
    body_lines: list[str]  # the issuing body, in capitals
    body: str  # its name in running text: "Ủy ban nhân dân xã Gia Viễn"
    symbol: str  # "UBND", "ĐU", "TU"
    place_name: str

    def number_line(self, number: str | None, kind: str) -> str:
        """'Số: 12/TB-UBND' (state) or 'Số 12-TB/ĐU' (Party); blank for the office to fill."""
        if self.party:
            return f"Số {number}" if number else f"Số      -{kind}/{self.symbol}"
        if number:
            return f"Số: {state_number(number)}"
        return f"Số:       /{kind}-{self.symbol}"

    def number(self, number: str) -> str:
        """The number as this format writes it, without 'Số'."""
        return number.strip() if self.party else state_number(number)

    def date_line(self, day: date | None) -> str:
        if day is None:
            return f"{self.place_name}, ngày      tháng      năm        "
        return f"{self.place_name}, {date_words(day)}"

    def lu(self) -> str:
        """The file copy, last of the recipients."""
        return "- Lưu Văn phòng Đảng ủy." if self.party else "- Lưu: VT."


def state_number(number: str) -> str:
    """NĐ 30/2020 writes 'số/ký hiệu loại-cơ quan': '12-TB/UBND' is shown as '12/TB-UBND'."""
    found = re.fullmatch(r"(\d+)-([^\W\d_]+)/([^\W\d_][\w-]*)", number.strip())
    if found:
        return f"{found.group(1)}/{found.group(2)}-{found.group(3)}"
    return number.strip()


def form(locality: dict, party: bool) -> Form:
    where = place(locality)
    if party:
        if where.commune:
            return Form(True, f"ĐẢNG BỘ {upper(where.province)}",
                        [f"ĐẢNG ỦY {upper(where.name)}"],
                        f"Đảng ủy {lower_first(where.name)}", "ĐU", where.bare)
        city = where.kind.startswith("thành phố")
        committee = "THÀNH ỦY" if city else "TỈNH ỦY"
        return Form(True, "", [f"{committee} {upper(where.bare)}"],
                    f"{'Thành ủy' if city else 'Tỉnh ủy'} {where.bare}",
                    "ThU" if city else "TU", where.bare)
    return Form(False, "", ["ỦY BAN NHÂN DÂN", upper(where.name)],
                f"Ủy ban nhân dân {lower_first(where.name)}", "UBND", where.bare)


def lower_first(name: str) -> str:
    """'Xã Gia Viễn' -> 'xã Gia Viễn' (a unit's type is lower case in running text)."""
    return name[:1].lower() + name[1:]


def expand(title: str) -> str:
    """'Chủ tịch UBND xã' -> 'Chủ tịch Ủy ban nhân dân xã' (documents spell bodies out)."""
    return re.sub(r"\bUBND\b", "Ủy ban nhân dân", squash(title))


def full_title(title: str, where: Place) -> str:
    """'Chủ tịch UBND xã' of Gia Viễn -> 'Chủ tịch Ủy ban nhân dân xã Gia Viễn'."""
    text = expand(title)
    if fold(where.bare) in fold(text):
        return text
    tail = fold(text).rsplit(" ", 1)[-1]
    if tail in ("xa", "phuong", "khu", "tinh", "pho"):
        return f"{text} {where.bare}"
    return f"{text} {where.name}"


def sign_lines(host_title: str, form_: Form, commune: bool) -> list[str]:
    """Authority and position above the signature (TM./KT. or T/M)."""
    folded = fold(host_title)
    deputy = folded.startswith("pho ")
    if form_.party:
        on_behalf = "T/M ĐẢNG ỦY" if commune else "T/M BAN THƯỜNG VỤ"
        return [on_behalf, "PHÓ BÍ THƯ" if deputy else "BÍ THƯ"]
    if "chu tich" in folded:
        if deputy:
            return ["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]
        return ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    return [upper(squash(host_title))]


def quarter_of(period: str) -> int:
    """'2027-Q2' -> 2, '2027-05' -> 2."""
    tail = period.split("-", 1)[1]
    if tail.startswith("Q"):
        return int(tail[1:])
    return (int(tail) - 1) // 3 + 1


def period_words(period: str) -> str:
    """'2027-Q2' -> 'Quý II năm 2027', '2027-05' -> 'Tháng 5 năm 2027'."""
    year, tail = period.split("-", 1)
    if tail.startswith("Q"):
        return f"Quý {ROMAN[int(tail[1:])]} năm {year}"
    return f"Tháng {int(tail)} năm {year}"
