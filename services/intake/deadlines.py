"""Statutory deadlines of petitions by kind, complexity, area and instance. No I/O
except reading the province override file.

Every figure carries its legal source. A province may set other figures in
``INTAKE_DEADLINES_FILE`` (YAML: ``provinces: {"37": {complaint_first: 30}}``);
the law's figures are the defaults. Calendar-day periods whose last day is a day
off end on the next working day (Bộ luật Dân sự 2015, Điều 148 khoản 5).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from services.common import workdays
from services.common.clock import from_mongo, vn_today
from services.common.errors import Invalid

DEFAULT_FILE = "services/intake/deadlines.yaml"


@dataclass(frozen=True)
class Figure:
    days: int
    working: bool
    source: str


# The law's figures. Keys: <kind>[_<instance>][_remote][_complex].
LAW: dict[str, Figure] = {
    # Luật Khiếu nại 2011: acceptance within 10 days of receipt (Điều 27 first
    # instance, Điều 36 second instance).
    "complaint_accept": Figure(10, False, "Luật Khiếu nại 2011, Điều 27, Điều 36"),
    # First instance: 30 days from acceptance, 45 if complex; remote areas 45, complex 60.
    "complaint_first": Figure(30, False, "Luật Khiếu nại 2011, Điều 28"),
    "complaint_first_complex": Figure(45, False, "Luật Khiếu nại 2011, Điều 28"),
    "complaint_first_remote": Figure(45, False, "Luật Khiếu nại 2011, Điều 28"),
    "complaint_first_remote_complex": Figure(60, False, "Luật Khiếu nại 2011, Điều 28"),
    # Second instance: 45 days, 60 if complex; remote areas 60, complex 70.
    "complaint_second": Figure(45, False, "Luật Khiếu nại 2011, Điều 37"),
    "complaint_second_complex": Figure(60, False, "Luật Khiếu nại 2011, Điều 37"),
    "complaint_second_remote": Figure(60, False, "Luật Khiếu nại 2011, Điều 37"),
    "complaint_second_remote_complex": Figure(70, False, "Luật Khiếu nại 2011, Điều 37"),
    # Luật Tố cáo 2018: 7 working days to decide acceptance (Điều 24); 30 days to settle
    # from acceptance; complex: one extension of at most 30 days; especially complex: two
    # (Điều 30).
    "denunciation_accept": Figure(7, True, "Luật Tố cáo 2018, Điều 24"),
    "denunciation": Figure(30, False, "Luật Tố cáo 2018, Điều 30 khoản 1"),
    "denunciation_extension": Figure(30, False, "Luật Tố cáo 2018, Điều 30 khoản 1"),
    # Voters' petitions: 60 days from receipt to settle and answer, set by the Prime
    # Minister's Quy chế tiếp nhận, giải quyết và trả lời kiến nghị của cử tri, Điều 12
    # khoản 1 as amended by Quyết định 30/2020/QĐ-TTg (in force 01/10/2020). That rule
    # binds ministries and agencies answering what National Assembly deputies forward;
    # neither Luật Hoạt động giám sát 2015 nor Nghị quyết 525/2012/UBTVQH13 sets a
    # figure. For what a People's Council forwards it is the practice default: a
    # province sets its own in INTAKE_DEADLINES_FILE.
    "voters_petition": Figure(60, False, "Quyết định 30/2020/QĐ-TTg (Quy chế tiếp nhận, "
                                         "giải quyết và trả lời kiến nghị của cử tri, "
                                         "Điều 12 khoản 1); mặc định, tỉnh có thể quy "
                                         "định khác"),
    # Feedback/recommendations: no single statutory figure; a province setting.
    "feedback": Figure(15, True, "quy định của tỉnh"),
}
MAX_EXTENSIONS = 2  # Luật Tố cáo 2018, Điều 30 khoản 1


def deadlines_file() -> str:
    return os.environ.get("INTAKE_DEADLINES_FILE", DEFAULT_FILE)


@lru_cache(maxsize=8)
def _overrides(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    # ``mtime`` is part of the cache key: an edited file is read again.
    return workdays.read_overrides(path)


def figure(key: str, province: str | None = None) -> Figure:
    """The figure ``key`` in ``province``: its override, else the law's."""
    base = LAW[key]
    path = deadlines_file()
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = -1.0
    own = _overrides(path, mtime).get(province or "", {}).get(key)
    if own is None:
        return base
    if isinstance(own, int):
        return replace(base, days=own, source=f"quy định của tỉnh {province}")
    return Figure(int(own["days"]), bool(own.get("working", base.working)),
                  own.get("source") or f"quy định của tỉnh {province}")


def key_of(kind: str, *, instance: int = 1, complex_: bool = False,
           remote: bool = False) -> str:
    if kind != "complaint":
        return kind
    parts = ["complaint", "second" if instance == 2 else "first"]
    if remote:
        parts.append("remote")
    if complex_:
        parts.append("complex")
    return "_".join(parts)


def _apply(start: date, fig: Figure, province: str | None) -> date:
    return workdays.add_days(start, fig.days, working=fig.working, province=province,
                             carry_over=True)


def due(kind: str, start: datetime, *, province: str | None = None, instance: int = 1,
        complex_: bool = False, remote: bool = False, extensions: int = 0) -> date:
    """The settling deadline, counted from the Vietnamese day of ``start`` (acceptance)."""
    if kind == "denunciation":
        if not 0 <= extensions <= MAX_EXTENSIONS:
            raise ValueError(f"at most {MAX_EXTENSIONS} extensions")
        base = figure("denunciation", province)
        ext = figure("denunciation_extension", province)
        total = base.days + extensions * ext.days
        return _apply(vn_today(start), Figure(total, base.working, base.source), province)
    fig = figure(key_of(kind, instance=instance, complex_=complex_, remote=remote), province)
    return _apply(vn_today(start), fig, province)


def acceptance_due(kind: str, received: datetime, province: str | None = None) -> date | None:
    """The last day to accept (thụ lý) a complaint or denunciation; None for other kinds."""
    key = f"{kind}_accept"
    if key not in LAW:
        return None
    return _apply(vn_today(received), figure(key, province), province)


def check_extension(kind: str, extensions: list[dict[str, Any]], reason: str | None) -> None:
    """A denunciation may be extended at most twice, each time with a reason."""
    if kind != "denunciation":
        raise Invalid("kind", "only a denunciation's deadline is extended",
                      detail_vi="Chỉ gia hạn thời hạn giải quyết tố cáo.")
    if len(extensions) >= MAX_EXTENSIONS:
        raise Invalid("reason", f"a denunciation is extended at most {MAX_EXTENSIONS} times",
                      detail_vi="Thời hạn giải quyết tố cáo chỉ được gia hạn tối đa hai lần "
                                "(Điều 30 Luật Tố cáo 2018).")
    if not (reason and reason.strip()):
        raise Invalid("reason", "an extension needs a reason",
                      detail_vi="Gia hạn giải quyết tố cáo phải nêu lý do.")


# --- a petition's deadline, from its stored document ---------------------------------
def basis_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What a petition's deadline rests on: instance, complexity, area, extensions."""
    return {"instance": 1, "complex": False, "remote": False, "extensions": [],
            **(doc.get("deadline_basis") or {})}


def fields_for(doc: dict[str, Any], kind: str, basis: dict[str, Any]) -> dict[str, Any]:
    """The petition's deadline fields for ``kind`` on ``basis``, by its province's
    figures: the deadline (from acceptance, or receipt before it), the last day to
    accept, and the figure's source."""
    province = doc.get("province_code") or doc["locality"]["province_code"]
    received = from_mongo(doc["created_at"])
    start = from_mongo(doc.get("accepted_at")) or received
    settle = due(kind, start, province=province, instance=basis["instance"],
                 complex_=basis["complex"], remote=basis["remote"],
                 extensions=len(basis["extensions"]))
    key = key_of(kind, instance=basis["instance"], complex_=basis["complex"],
                 remote=basis["remote"])
    accept_by = acceptance_due(kind, received, province)
    return {"due_date": settle.isoformat(),
            "accept_by": accept_by.isoformat() if accept_by else None,
            "deadline_source": figure(key, province).source,
            "deadline_basis": basis}
