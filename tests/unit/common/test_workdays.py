"""Working days: weekends and Vietnam's public holidays (incl. lunar ones) are skipped.

The 2027 dates are what the ``holidays`` package lists: Tết from Thu 4 to Wed
10 February 2027, Hùng Kings on Fri 16 April, 30/4 and 1/5 (observed Mon 3/5),
National Day on Thu 2 and Fri 3 September.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.common.workdays import (
    add_days,
    add_working_days,
    holiday_name,
    is_holiday,
    is_working_day,
    subtract_working_days,
    working_days_between,
)


def test_tet_2027_is_skipped():
    for day in range(4, 11):
        assert is_holiday(date(2027, 2, day)), day
        assert not is_working_day(date(2027, 2, day))
    assert "Lunar New Year" in holiday_name(date(2027, 2, 6))
    # Wed 3 Feb + 1 working day: Thu 4 .. Wed 10 are Tết, so Thu 11.
    assert add_working_days(date(2027, 2, 3), 1) == date(2027, 2, 11)
    assert add_working_days(date(2027, 2, 3), 2) == date(2027, 2, 12)
    assert working_days_between(date(2027, 2, 3), date(2027, 2, 10)) == 0
    assert is_working_day(date(2027, 2, 3)) and is_working_day(date(2027, 2, 11))


def test_weekends_are_skipped():
    friday = date(2027, 3, 5)
    assert friday.weekday() == 4
    assert not is_working_day(date(2027, 3, 6)) and not is_working_day(date(2027, 3, 7))
    assert add_working_days(friday, 1) == date(2027, 3, 8)
    assert add_working_days(friday, 5) == date(2027, 3, 12)
    assert add_working_days(date(2027, 3, 6), 1) == date(2027, 3, 8)  # from a Saturday


def test_reunification_and_labour_day():
    assert is_holiday(date(2027, 4, 30)) and is_holiday(date(2027, 5, 1))
    assert is_holiday(date(2027, 5, 3))  # 1 May on a Saturday: off on Monday
    # Thu 29 Apr + 1: Fri 30/4 holiday, weekend, Mon 3/5 in lieu -> Tue 4 May.
    assert add_working_days(date(2027, 4, 29), 1) == date(2027, 5, 4)
    assert is_holiday(date(2026, 4, 30)) and is_holiday(date(2026, 5, 1))


def test_national_day():
    assert is_holiday(date(2027, 9, 2)) and is_holiday(date(2027, 9, 3))
    assert add_working_days(date(2027, 9, 1), 1) == date(2027, 9, 6)
    assert is_holiday(date(2026, 9, 2))


def test_hung_kings_day():
    assert "Hung Kings" in holiday_name(date(2027, 4, 16))
    assert add_working_days(date(2027, 4, 15), 1) == date(2027, 4, 19)
    assert "Hung Kings" in holiday_name(date(2026, 4, 26))
    assert is_holiday(date(2026, 4, 27))  # on a Sunday in 2026: Monday off


def test_ordinary_day_is_no_holiday():
    assert holiday_name(date(2027, 3, 10)) is None
    assert is_working_day(date(2027, 3, 10))


def test_zero_days_is_the_start():
    assert add_working_days(date(2027, 2, 6), 0) == date(2027, 2, 6)


def test_negative_days_refused():
    with pytest.raises(ValueError):
        add_working_days(date(2027, 3, 1), -1)


def test_working_days_between_is_antisymmetric_and_inverse_of_add():
    start, end = date(2027, 1, 25), date(2027, 3, 1)
    forward = working_days_between(start, end)
    assert forward == -working_days_between(end, start)
    assert working_days_between(start, start) == 0
    assert add_working_days(start, forward) == end  # 1 March 2027 is a Monday
    # Mon 25 Jan .. Mon 1 Mar: 25 weekdays, 5 of them Tết (4, 5, 8, 9, 10 Feb).
    assert forward == 20


def test_subtract_working_days():
    assert subtract_working_days(date(2027, 2, 11), 1) == date(2027, 2, 3)
    assert subtract_working_days(date(2027, 3, 8), 1) == date(2027, 3, 5)


def test_add_days_calendar_or_working():
    start = date(2027, 2, 1)
    assert add_days(start, 15, working=False) == date(2027, 2, 16)
    # Working days after Mon 1 Feb: 2, 3, (Tết 4-10), 11, 12, 15-19, 22-26, then Mon 1 Mar.
    assert add_days(start, 15, working=True) == date(2027, 3, 1)
    assert add_days(start, 0, working=True) == add_days(start, 0, working=False) == start


# --- issue 19: the date rules as the law reads them ------------------------------------
from datetime import UTC, datetime  # noqa: E402

from services.common import workdays  # noqa: E402
from services.common.clock import VN_TZ  # noqa: E402


@pytest.fixture
def overrides(tmp_path, monkeypatch):
    path = tmp_path / "days_off.yaml"
    monkeypatch.setenv("DOITHOAI_DAYS_OFF_FILE", str(path))
    return str(path)


def test_make_up_saturday_is_a_working_day():
    # Sat 26/04/2025 was worked in exchange for Fri 02/05/2025 (holidays' weekend_workdays).
    assert is_working_day(date(2025, 4, 26))
    assert not is_working_day(date(2025, 5, 2))
    assert add_working_days(date(2025, 4, 25), 1) == date(2025, 4, 26)


def test_day_declared_off_later_per_province(overrides):
    friday = date(2027, 3, 5)
    assert is_working_day(friday, "37")
    assert workdays.add_override(overrides, friday, "37", "Quyết định của UBND tỉnh")
    assert not workdays.add_override(overrides, friday, "37", "again")  # listed once
    assert not is_working_day(friday, "37")
    assert is_working_day(friday, "01")  # another province still works
    assert add_working_days(date(2027, 3, 4), 1, "37") == date(2027, 3, 8)
    assert add_working_days(date(2027, 3, 4), 1, "01") == friday


def test_a_day_off_written_by_another_process_is_seen_within_a_second(overrides):
    """The file is looked at once a second at most; another process's change (here
    written past this process's cache) counts once that second has passed."""
    import os

    friday = date(2027, 3, 5)
    seen = workdays.Overrides()
    assert seen.state(friday, "37") is None
    with open(overrides, "w", encoding="utf-8") as handle:
        handle.write("provinces:\n  '37':\n    'off':\n      - {date: 2027-03-05}\n")
    os.utime(overrides, (1, 1))
    assert seen.state(friday, "37") is None  # within the second: not looked at again
    seen._looked -= seen.LOOK_EVERY
    assert seen.state(friday, "37") is False


def test_a_remembered_verdict_is_dropped_when_the_file_changes(overrides):
    import os

    friday = date(2027, 3, 5)
    seen = workdays.Overrides()
    assert seen.working(friday, "37") and seen.working(friday, "37")
    assert not seen.working(date(2027, 3, 6), "37")  # a Saturday
    with open(overrides, "w", encoding="utf-8") as handle:
        handle.write("provinces:\n  '37':\n    'off':\n      - {date: 2027-03-05}\n"
                     "    'work':\n      - {date: 2027-03-06}\n")
    os.utime(overrides, (1, 1))
    seen._looked -= seen.LOOK_EVERY
    assert not seen.working(friday, "37")
    assert seen.working(date(2027, 3, 6), "37")
    assert seen.working(friday, "01")


def test_nationwide_day_off_and_declared_working_saturday(overrides):
    workdays.add_override(overrides, date(2027, 3, 8), None, "Thông báo của Chính phủ")
    workdays.add_override(overrides, date(2027, 3, 13), None, "làm bù", worked=True)
    assert not is_working_day(date(2027, 3, 8), "37")
    assert is_working_day(date(2027, 3, 13), "37") and is_working_day(date(2027, 3, 13))


def test_cli_adds_a_day_off(overrides, capsys):
    from services.cli import main

    assert main(["day-off", "add", "2027-03-05", "--province", "37",
                 "--reason", "Quyết định 12/QĐ-UBND"]) == 0
    assert "added" in capsys.readouterr().out
    assert not is_working_day(date(2027, 3, 5), "37")
    assert main(["day-off", "list"]) == 0
    assert "2027-03-05" in capsys.readouterr().out


def test_deadline_on_a_day_off_carries_to_the_next_working_day():
    # Civil Code 2015 art. 148(5): a complaint accepted Thu 07/01/2027, 30 days, falls on
    # Sat 06/02/2027 in Tết (04-10/02); it ends on Thu 11/02/2027.
    assert workdays.add_days(date(2027, 1, 7), 30, working=False) == date(2027, 2, 6)
    assert workdays.add_days(date(2027, 1, 7), 30, working=False,
                             carry_over=True) == date(2027, 2, 11)
    assert workdays.carry(date(2027, 3, 5)) == date(2027, 3, 5)  # a working day stays


def test_notice_counts_calendar_days_in_vietnam_time():
    announced = datetime(2027, 3, 1, 15, 0, tzinfo=VN_TZ)
    starts = datetime(2027, 3, 8, 8, 0, tzinfo=VN_TZ)
    assert starts - announced < timedelta(days=7)  # 161 hours...
    assert workdays.calendar_days_between(announced, starts) == 7  # ...but 7 days


def test_on_time_is_the_whole_deadline_day_in_vietnam():
    deadline = date(2027, 3, 31)
    last = datetime(2027, 3, 31, 23, 59, 59, 500000, tzinfo=VN_TZ)
    assert workdays.on_time(last, deadline)
    assert workdays.on_time(last.astimezone(UTC), deadline)
    assert not workdays.on_time(datetime(2027, 4, 1, 0, 0, tzinfo=VN_TZ), deadline)
