"""Working days (ngày làm việc) and the date rules of the law.

- Working days are ``holidays``' own working-day logic for Vietnam: Monday to
  Friday less public holidays (Tết, Hùng Kings, days off in lieu), plus the
  make-up Saturdays the government declares (``weekend_workdays``, e.g.
  Sat 26/04/2025 worked for Fri 02/05/2025).
- On top, a per-province override file lists days declared off (or worked)
  later, which no package can know in advance (``DOITHOAI_DAYS_OFF_FILE``,
  added with ``python -m services.cli day-off add``). Key ``"*"`` is nationwide.
- A deadline whose last day is a day off ends at the end of the next working
  day (Bộ luật Dân sự 2015, Điều 148 khoản 5): ``carry``.
- "By day D" means before the end of D in Vietnam time, with no second-level
  edge: ``on_time`` compares calendar days, so 23:59:59.5 on D is on time.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays
import yaml

from services.common.clock import vn_today

DEFAULT_DAYS_OFF_FILE = "services/common/days_off.yaml"
NATIONWIDE = "*"


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=year)


def days_off_file() -> str:
    return os.environ.get("DOITHOAI_DAYS_OFF_FILE", DEFAULT_DAYS_OFF_FILE)


class Overrides:
    """Days declared off (``off``) or worked (``work``) after the package was released,
    per province code; re-read when the file changes so a running service sees an
    added day without a restart."""

    # A deadline looks at up to twenty days, and a stat of the file is a system call
    # each: the file is looked at no more than once a second.
    LOOK_EVERY = 1.0

    def __init__(self) -> None:
        self._seen: tuple[str, float] | None = None
        self._looked = 0.0
        self.off: dict[str, set[date]] = {}
        self.work: dict[str, set[date]] = {}
        self._verdicts: dict[tuple[date, str | None], bool] = {}

    def forget(self) -> None:
        """Read the file again at the next question (this process just wrote it)."""
        self._seen = None

    def _load(self) -> None:
        path = days_off_file()
        now = time.monotonic()
        if self._seen and self._seen[0] == path and now - self._looked < self.LOOK_EVERY:
            return
        self._looked = now
        try:
            stamp = (path, os.stat(path).st_mtime)
        except OSError:
            stamp = (path, -1.0)
        if stamp == self._seen:
            return
        raw = read_overrides(path)
        self.off = {k: {_day(d["date"]) for d in v.get("off") or []} for k, v in raw.items()}
        self.work = {k: {_day(d["date"]) for d in v.get("work") or []} for k, v in raw.items()}
        self._verdicts = {}  # a new dict: a verdict worked out meanwhile goes to the old one
        self._seen = stamp

    def state(self, day: date, province: str | None) -> bool | None:
        """True declared worked, False declared off, None no override."""
        self._load()
        return self._declared(day, province)

    def _declared(self, day: date, province: str | None) -> bool | None:
        keys = (NATIONWIDE, province) if province else (NATIONWIDE,)
        if any(day in self.off.get(k, ()) for k in keys):
            return False
        if any(day in self.work.get(k, ()) for k in keys):
            return True
        return None

    def working(self, day: date, province: str | None) -> bool:
        """Whether ``day`` is worked in ``province``, remembered until the file changes:
        a deadline asks about up to twenty days on every submission."""
        self._load()
        verdicts = self._verdicts
        known = verdicts.get((day, province))
        if known is None:
            declared = self._declared(day, province)
            known = _calendar(day.year).is_working_day(day) if declared is None else declared
            verdicts[(day, province)] = known
        return known


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def read_overrides(path: str) -> dict[str, dict[str, Any]]:
    """A per-province YAML file (``provinces: {code: {...}}``, ``"*"`` nationwide) as
    ``{code: entry}``; ``{}`` when the file does not exist. The days-off file and intake's
    deadlines file share this form."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        return {}
    return {str(k): v or {} for k, v in (raw.get("provinces") or {}).items()}


def add_override(path: str, day: date, province: str | None, reason: str,
                 worked: bool = False) -> bool:
    """Record a day declared off (or worked) in the override file; False if already there."""
    raw = read_overrides(path)
    entry = raw.setdefault(province or NATIONWIDE, {})
    key = "work" if worked else "off"
    listed = entry.setdefault(key, [])
    if any(_day(d["date"]) == day for d in listed):
        return False
    listed.append({"date": day.isoformat(), "reason": reason})
    listed.sort(key=lambda d: str(d["date"]))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# Days declared off (or worked) after the `holidays` package knew them,\n"
                     "# per province code; \"*\" is nationwide. Edit with\n"
                     "#   python -m services.cli day-off add YYYY-MM-DD --reason ...\n")
        yaml.safe_dump({"provinces": raw}, handle, allow_unicode=True, sort_keys=True)
    OVERRIDES.forget()
    return True


OVERRIDES = Overrides()


def is_holiday(day: date) -> bool:
    return day in _calendar(day.year)


def holiday_name(day: date) -> str | None:
    return _calendar(day.year).get(day)


def is_working_day(day: date, province: str | None = None) -> bool:
    return OVERRIDES.working(day, province)


def add_working_days(start: date, days: int, province: str | None = None) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current, province):
            remaining -= 1
    return current


def subtract_working_days(end: date, days: int, province: str | None = None) -> date:
    """The date ``days`` working days before ``end``."""
    current = end
    remaining = days
    while remaining:
        current -= timedelta(days=1)
        if is_working_day(current, province):
            remaining -= 1
    return current


def working_days_between(start: date, end: date, province: str | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start, province)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, province):
            count += 1
    return count


def carry(day: date, province: str | None = None) -> date:
    """The last day of a period, moved to the next working day when it is a day off
    (Bộ luật Dân sự 2015, Điều 148 khoản 5)."""
    while not is_working_day(day, province):
        day += timedelta(days=1)
    return day


def add_days(start: date, days: int, *, working: bool, province: str | None = None,
             carry_over: bool = False) -> date:
    """A statutory deadline: ``days`` calendar days, or working days when ``working``;
    a calendar-day deadline ending on a day off carries over when ``carry_over``."""
    if working:
        return add_working_days(start, days, province)
    end = start + timedelta(days=days)
    return carry(end, province) if carry_over else end


def calendar_days_between(earlier: datetime, later: datetime) -> int:
    """Whole calendar days between two moments, counted on Vietnam's calendar:
    01/03 15:00 to 08/03 08:00 is 7 days although it is less than 168 hours."""
    return (vn_today(later) - vn_today(earlier)).days


def on_time(moment: datetime, deadline: date) -> bool:
    """Done by ``deadline``: any moment of that day in Vietnam counts, 23:59:59.5 included."""
    return vn_today(moment) <= deadline
