"""Working days (ngày làm việc): Monday to Friday, less Vietnam's public holidays.

``holidays`` knows the lunar ones (Tết, Hùng Kings) and the days off in lieu.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _year(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


def is_holiday(day: date) -> bool:
    return day in _year(day.year)


def holiday_name(day: date) -> str | None:
    return holidays.country_holidays("VN", years=day.year).get(day)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def subtract_working_days(end: date, days: int) -> date:
    """The date ``days`` working days before ``end``."""
    current = end
    remaining = days
    while remaining:
        current -= timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def add_days(start: date, days: int, *, working: bool) -> date:
    """A statutory deadline: ``days`` calendar days, or working days when ``working``."""
    return add_working_days(start, days) if working else start + timedelta(days=days)
