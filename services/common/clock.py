"""Time: one injectable clock, UTC storage, Vietnamese display."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; every service takes a ``Clock`` so tests can move time."""
    return datetime.now(UTC)


class FixedClock:
    """A clock tests set and advance by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = aware(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive value is refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time must carry its zone")
    return moment.astimezone(UTC)


def from_mongo(moment: datetime | None) -> datetime | None:
    """pymongo returns naive UTC unless tz_aware; make it aware either way."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def vn_date(moment: datetime | date) -> str:
    """dd/mm/yyyy in Vietnam time."""
    if isinstance(moment, datetime):
        moment = aware(moment).astimezone(VN_TZ).date()
    return moment.strftime("%d/%m/%Y")


def vn_datetime(moment: datetime) -> str:
    """HH:MM dd/mm/yyyy in Vietnam time."""
    return aware(moment).astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")


def vn_today(now: datetime) -> date:
    """The calendar day in Vietnam at ``now``."""
    return aware(now).astimezone(VN_TZ).date()


def start_of_vn_day(day: date) -> datetime:
    """The first moment of ``day`` in Vietnam, in UTC (a day's window starts here)."""
    return datetime(day.year, day.month, day.day, tzinfo=VN_TZ).astimezone(UTC)


def end_of_vn_day(day: date) -> datetime:
    """The last moment of ``day`` in Vietnam, in UTC: a deadline date means 'by the end of'."""
    local = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VN_TZ)
    return local.astimezone(UTC)


class OffsetClock:
    """The real clock plus an offset read from a file, so end-to-end tests can move
    the time of running processes forward (``DOITHOAI_CLOCK_OFFSET_FILE``, test only)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._offset = timedelta()

    def __call__(self) -> datetime:
        import os

        try:
            stat = os.stat(self.path)
            # the inode and size too: a file rewritten within one tick of the (coarse)
            # file clock keeps its mtime
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                with open(self.path) as handle:
                    text = handle.read().strip()
                if text:  # an empty file is one being written: read it again next time
                    self._offset = timedelta(seconds=float(text))
                    self._seen = seen
        except (OSError, ValueError):
            self._offset = timedelta()
        return utcnow() + self._offset


def default_clock() -> Clock:
    """The clock services use: real time, or shifted when a test asks for it."""
    import os

    path = os.environ.get("DOITHOAI_CLOCK_OFFSET_FILE")
    return OffsetClock(path) if path else utcnow
