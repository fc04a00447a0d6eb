"""Issue 19: petition deadlines by kind, complexity, area and instance, with the law's
figures as defaults and per-province overrides."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.common.clock import VN_TZ
from services.common.errors import Invalid
from services.intake import deadlines, domain

ACCEPTED = datetime(2027, 1, 7, 9, 0, tzinfo=VN_TZ)  # Thu 07/01/2027


def test_complaint_accepted_7_january_2027_carries_past_tet():
    # 30 days -> Sat 06/02/2027, in Tết (04-10/02): ends Thu 11/02 (Civil Code art. 148(5))
    assert deadlines.due("complaint", ACCEPTED) == date(2027, 2, 11)
    assert domain.due_date(ACCEPTED, 30, False) == date(2027, 2, 11)


@pytest.mark.parametrize(("instance", "complex_", "remote", "days"), [
    (1, False, False, 30), (1, True, False, 45), (1, False, True, 45), (1, True, True, 60),
    (2, False, False, 45), (2, True, False, 60), (2, False, True, 60), (2, True, True, 70)])
def test_complaint_figures(instance, complex_, remote, days):
    start = datetime(2027, 6, 1, 9, 0, tzinfo=VN_TZ)
    got = deadlines.due("complaint", start, instance=instance, complex_=complex_, remote=remote)
    raw = date.fromordinal(date(2027, 6, 1).toordinal() + days)
    assert got == deadlines.workdays.carry(raw)
    key = deadlines.key_of("complaint", instance=instance, complex_=complex_, remote=remote)
    assert deadlines.figure(key).days == days
    assert deadlines.figure(key).source.startswith("Luật Khiếu nại 2011, Điều")


def test_acceptance_limits():
    received = datetime(2027, 3, 1, 9, 0, tzinfo=VN_TZ)  # Mon
    assert deadlines.acceptance_due("complaint", received) == date(2027, 3, 11)
    assert deadlines.acceptance_due("denunciation", received) == date(2027, 3, 10)  # 7 wd
    assert deadlines.acceptance_due("feedback", received) is None


def test_denunciation_30_days_plus_two_extensions_each_with_a_reason():
    start = datetime(2027, 3, 1, 9, 0, tzinfo=VN_TZ)
    assert deadlines.due("denunciation", start) == date(2027, 3, 31)
    # 60 days -> Fri 30/04, a holiday; 01/05 Sat, 02 Sun, 03 in lieu -> Tue 04/05
    assert deadlines.due("denunciation", start, extensions=1) == date(2027, 5, 4)
    # 90 days -> Sun 30/05 -> Mon 31/05
    assert deadlines.due("denunciation", start, extensions=2) == date(2027, 5, 31)
    with pytest.raises(ValueError):
        deadlines.due("denunciation", start, extensions=3)
    deadlines.check_extension("denunciation", [], "Vụ việc phức tạp, cần xác minh thêm")
    with pytest.raises(Invalid):
        deadlines.check_extension("denunciation", [], "  ")
    with pytest.raises(Invalid):
        deadlines.check_extension("denunciation", [{}, {}], "lần thứ ba")
    with pytest.raises(Invalid):
        deadlines.check_extension("complaint", [], "lý do")


def test_voters_petition_60_days():
    start = datetime(2027, 3, 1, 9, 0, tzinfo=VN_TZ)
    assert deadlines.due("voters_petition", start) == date(2027, 5, 4)  # 30/04 carried
    # 01/06 + 60 -> Sat 31/07 -> Mon 02/08
    assert deadlines.due("voters_petition", datetime(2027, 6, 1, 9, 0, tzinfo=VN_TZ)) == \
        date(2027, 8, 2)


def test_province_overrides_the_law(tmp_path, monkeypatch):
    path = tmp_path / "deadlines.yaml"
    path.write_text('provinces:\n  "37":\n    complaint_first: 25\n'
                    '    feedback: {days: 10, working: true, source: "QĐ 12/2026/QĐ-UBND"}\n',
                    encoding="utf-8")
    monkeypatch.setenv("INTAKE_DEADLINES_FILE", str(path))
    start = datetime(2027, 3, 1, 9, 0, tzinfo=VN_TZ)
    assert deadlines.figure("complaint_first", "37").days == 25
    assert deadlines.figure("complaint_first", "01").days == 30
    assert deadlines.due("complaint", start, province="37") == date(2027, 3, 26)
    assert deadlines.due("feedback", start, province="37") == date(2027, 3, 15)
    assert deadlines.figure("feedback", "37").source == "QĐ 12/2026/QĐ-UBND"


def test_one_status_vocabulary_and_no_kien_nghi_for_complaints():
    from services.common.contracts.intake import KIND_VI, PETITION_STATUS_VI
    from services.common.errors import Conflict

    assert {s: PETITION_STATUS_VI[s] for s in domain.STATUSES} == domain.STATUS_VI
    assert KIND_VI["complaint"] == "Khiếu nại" and KIND_VI["denunciation"] == "Tố cáo"
    with pytest.raises(Conflict) as info:
        domain.transition("closed", "accept")
    assert "kiến nghị" not in info.value.detail_vi and "đơn" in info.value.detail_vi
