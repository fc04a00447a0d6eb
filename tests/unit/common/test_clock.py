"""Clocks and Vietnamese display of times."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.common.clock import (
    VN_TZ,
    FixedClock,
    OffsetClock,
    aware,
    default_clock,
    end_of_vn_day,
    from_mongo,
    utcnow,
    vn_date,
    vn_datetime,
    vn_today,
)

NEW_YEAR_EVE = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)


def test_fixed_clock_advances_by_hand():
    clock = FixedClock(datetime(2027, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=7))))
    assert clock() == datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    assert clock() == clock()
    clock.advance(days=2, hours=3)
    assert clock() == datetime(2027, 1, 3, 4, 0, tzinfo=UTC)
    clock.advance(seconds=30)
    assert clock() == datetime(2027, 1, 3, 4, 0, 30, tzinfo=UTC)
    assert clock().utcoffset() == timedelta(0)


def test_fixed_clock_refuses_naive():
    with pytest.raises(ValueError):
        FixedClock(datetime(2027, 1, 1))


def test_aware_converts_to_utc_and_rejects_naive():
    moment = aware(datetime(2027, 1, 1, 7, 0, tzinfo=VN_TZ))
    assert moment == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    assert moment.tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        aware(datetime(2027, 1, 1, 7, 0))


def test_utcnow_is_aware():
    assert utcnow().tzinfo is not None and utcnow().utcoffset() == timedelta(0)


def test_from_mongo():
    assert from_mongo(None) is None
    assert from_mongo(datetime(2027, 1, 1, 5)) == datetime(2027, 1, 1, 5, tzinfo=UTC)
    assert from_mongo(datetime(2027, 1, 1, 12, tzinfo=VN_TZ)) == datetime(2027, 1, 1, 5,
                                                                         tzinfo=UTC)


def test_vn_display_crosses_midnight_and_year():
    assert vn_date(NEW_YEAR_EVE) == "01/01/2027"
    assert vn_datetime(NEW_YEAR_EVE) == "06:30 01/01/2027"
    assert vn_today(NEW_YEAR_EVE) == date(2027, 1, 1)
    assert vn_date(date(2027, 2, 6)) == "06/02/2027"
    assert vn_date(datetime(2027, 3, 4, 16, 59, tzinfo=UTC)) == "04/03/2027"
    assert vn_date(datetime(2027, 3, 4, 17, 0, tzinfo=UTC)) == "05/03/2027"
    with pytest.raises(ValueError):
        vn_datetime(datetime(2027, 1, 1))


def test_end_of_vn_day():
    end = end_of_vn_day(date(2027, 2, 11))
    assert end == datetime(2027, 2, 11, 16, 59, 59, tzinfo=UTC)
    assert end.utcoffset() == timedelta(0)
    assert vn_date(end) == "11/02/2027"
    assert vn_date(end + timedelta(seconds=1)) == "12/02/2027"


def test_offset_clock_reads_the_file(tmp_path):
    path = tmp_path / "offset"
    clock = OffsetClock(str(path))
    # no file: the real time
    assert abs(clock() - utcnow()) < timedelta(seconds=5)
    path.write_text("86400\n")
    assert abs(clock() - (utcnow() + timedelta(days=1))) < timedelta(seconds=5)
    path.write_text("-3600")
    os.utime(path, (1_000, 1_000))  # a new mtime, so the change is seen at once
    assert abs(clock() - (utcnow() - timedelta(hours=1))) < timedelta(seconds=5)
    path.write_text("not a number")
    os.utime(path, (2_000, 2_000))
    assert abs(clock() - utcnow()) < timedelta(seconds=5)
    assert clock().tzinfo is not None


def test_offset_clock_does_not_keep_a_file_caught_half_written(tmp_path):
    """A reader between the truncation and the write sees an empty file; a rewrite
    within one tick of the file clock keeps the mtime. Neither may stick."""
    path = tmp_path / "offset"
    path.write_text("")
    clock = OffsetClock(str(path))
    assert abs(clock() - utcnow()) < timedelta(seconds=5)  # empty: the real time, for now
    stamp = path.stat().st_mtime_ns
    path.write_text("86400")
    os.utime(path, ns=(stamp, stamp))  # the same mtime as the empty file had
    assert abs(clock() - (utcnow() + timedelta(days=1))) < timedelta(seconds=5)
    path.write_text("172800")  # same size, same mtime, same inode: one tick later
    os.utime(path, ns=(stamp, stamp))
    aside = tmp_path / "offset.new"
    aside.write_text("172800")
    os.replace(aside, path)  # how the tests' SharedClock writes it: a new inode
    os.utime(path, ns=(stamp, stamp))
    assert abs(clock() - (utcnow() + timedelta(days=2))) < timedelta(seconds=5)


def test_default_clock(tmp_path, monkeypatch):
    monkeypatch.delenv("DOITHOAI_CLOCK_OFFSET_FILE", raising=False)
    assert default_clock() is utcnow
    monkeypatch.setenv("DOITHOAI_CLOCK_OFFSET_FILE", str(tmp_path / "o"))
    assert isinstance(default_clock(), OffsetClock)
