"""Official locality codes of the General Statistics Office, from ``vietnam-provinces``.

Since 1 July 2025 there are two levels: provinces (two-digit codes such as
"37") and commune-level units (five-digit codes such as "14464"). Historic
records may also carry a district code, which is kept but not validated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from services.common.text import fold


class UnknownLocality(ValueError):
    pass


@dataclass(frozen=True)
class Unit:
    code: str
    name: str  # with its unit type, e.g. "Xã Gia Viễn"
    kind: str  # "tỉnh", "thành phố trung ương", "xã", "phường", "đặc khu"
    province_code: str


def _province_code(code: str) -> ProvinceCode:
    if not (isinstance(code, str) and code.isdigit() and len(code) == 2):
        raise UnknownLocality(f"province code {code!r} must be two digits, e.g. '37'")
    try:
        return ProvinceCode(int(code))
    except ValueError:
        raise UnknownLocality(f"no province with code {code}") from None


@lru_cache(maxsize=64)
def province(code: str) -> Unit:
    found = Province.from_code(_province_code(code))
    return Unit(code, found.name, found.division_type.value, code)


@lru_cache(maxsize=8192)
def ward(code: str) -> Unit:
    if not (isinstance(code, str) and code.isdigit() and len(code) == 5):
        raise UnknownLocality(f"commune code {code!r} must be five digits, e.g. '14464'")
    try:
        found = Ward.from_code(WardCode(int(code)))
    except ValueError:
        raise UnknownLocality(f"no commune-level unit with code {code}") from None
    return Unit(code, found.name, found.division_type.value, f"{int(found.province_code):02d}")


def validate(province_code: str, ward_code: str | None = None) -> None:
    """Raise UnknownLocality unless the codes exist and the commune lies in the province."""
    province(province_code)
    if ward_code is not None and ward(ward_code).province_code != province_code:
        raise UnknownLocality(f"commune {ward_code} is not in province {province_code}")


@lru_cache(maxsize=64)
def wards_of(province_code: str) -> tuple[Unit, ...]:
    code = _province_code(province_code)
    return tuple(
        Unit(f"{int(w.code):05d}", w.name, w.division_type.value, province_code)
        for w in Ward.iter_by_province(code)
    )


def search(province_code: str, text: str) -> list[Unit]:
    """Communes of a province whose name contains ``text``, ignoring case and diacritics."""
    needle = fold(text)
    return [w for w in wards_of(province_code) if needle in fold(w.name)]


def top_level(locality: Mapping[str, Any]) -> dict[str, Any]:
    """Copies of a locality's codes for the top of a document: FerretDB pushes only
    top-level equality down to its backend and filters nested fields in Go."""
    return {"province_code": locality["province_code"], "ward_code": locality.get("ward_code")}
