"""Commitment rules: deadlines in working days, transitions, the percent rule, sweeps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common.clock import VN_TZ
from services.common.errors import Conflict, Invalid
from services.followup import domain
from services.followup.domain import Commitment

STEPS = (5, 15)


def vn(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=VN_TZ).astimezone(UTC)


def make(**kw) -> Commitment:
    base = dict(id="cm-1", conclusion_id="c-1", dialogue_id="d-1", text="Nâng cấp đường",
                agency_id="so-xd-37", deadline=date(2027, 3, 31),
                locality={"province_code": "37", "ward_code": "14464"},
                petition_ids=["p-1"], host={"name": "Nguyễn Văn A", "title": "Bí thư"})
    base.update(kw)
    return Commitment(**base)


def apply(c: Commitment, change: domain.Change) -> Commitment:
    """Mimic the store: the fields the change sets, on the aggregate."""
    for key, value in change.set.items():
        if key == "deadline":
            value = date.fromisoformat(value)
        if hasattr(c, key):
            setattr(c, key, value)
    return c


class TestDeadlines:
    def test_given_deadline_is_kept(self):
        assert domain.deadline_of(vn(2027, 2, 1), date(2027, 6, 30), 5, 30) == date(2027, 6, 30)

    def test_working_days_skip_tet(self):
        # Notice on Mon 1/2/2027; 4–10/2 are Tết and a weekend, so 5 working days end 15/2.
        assert domain.deadline_of(vn(2027, 2, 1), None, 5, 30) == date(2027, 2, 15)

    def test_notice_date_is_vietnam_date(self):
        # 18:00 UTC on 31/1 is already 1/2 in Vietnam.
        issued = datetime(2027, 1, 31, 18, tzinfo=UTC)
        assert domain.deadline_of(issued, None, 1, 30) == date(2027, 2, 2)

    def test_default_when_neither_given(self):
        assert domain.deadline_of(vn(2027, 3, 1), None, None, 2) == date(2027, 3, 3)

    def test_commitment_id_is_stable(self):
        assert domain.commitment_id("c-1") == domain.commitment_id("c-1")
        assert domain.commitment_id("c-1") != domain.commitment_id("c-2")

    def test_schedule_times(self):
        s = domain.schedule(date(2027, 2, 15), 3, STEPS)
        # due at the end of 15/2 in Vietnam
        assert s["due_at"] == datetime(2027, 2, 15, 16, 59, 59, tzinfo=UTC)
        # three working days before 15/2 across Tết (12/2, 11/2, then 3/2)
        assert s["remind_at"] == datetime(2027, 2, 2, 17, tzinfo=UTC)
        # five working days late: 22/2 (Mon)
        assert s["next_escalation_at"] == datetime(2027, 2, 21, 17, tzinfo=UTC)


class TestTransitions:
    def test_progress_moves_to_in_progress(self):
        c = make()
        change = c.report_progress(percent=40, note="Đã khảo sát", evidence=[], reason=None,
                                   now=vn(2027, 3, 1), by="u1")
        assert change.set["status"] == domain.IN_PROGRESS
        assert change.set["percent"] == 40
        assert change.push["progress"]["note"] == "Đã khảo sát"
        assert [t for t, _ in change.events] == ["commitment.progress_reported"]

    def test_percent_never_decreases_without_reason(self):
        c = make(status=domain.IN_PROGRESS, percent=60)
        with pytest.raises(Invalid) as err:
            c.report_progress(percent=50, note="x", evidence=[], reason=None, now=vn(2027, 3, 1),
                              by="u1")
        assert "reason" in err.value.extra["errors"]
        with pytest.raises(Invalid):
            c.report_progress(percent=50, note="x", evidence=[], reason="  ", now=vn(2027, 3, 1),
                              by="u1")
        ok = c.report_progress(percent=50, note="x", evidence=[], reason="Khối lượng tăng",
                               now=vn(2027, 3, 1), by="u1")
        assert ok.set["percent"] == 50

    def test_same_percent_needs_no_reason(self):
        c = make(status=domain.IN_PROGRESS, percent=60)
        assert c.report_progress(percent=60, note="x", evidence=[], reason=None,
                                 now=vn(2027, 3, 1), by="u1").set["percent"] == 60

    def test_resolve_on_time_and_late(self):
        on_time = make().resolve(answer="Đã xong", outcome="resolved", reason=None,
                                 now=vn(2027, 3, 31, 23), by="u1")
        assert on_time.set["status"] == domain.RESOLVED and on_time.set["on_time"] is True
        assert on_time.set["percent"] == 100
        _, data = on_time.events[0]
        assert data["answer"] == "Đã xong" and data["petition_ids"] == ["p-1"]
        late = make().resolve(answer="Đã xong", outcome="resolved", reason=None,
                              now=vn(2027, 4, 1, 0), by="u1")
        assert late.set["on_time"] is False

    @pytest.mark.parametrize("outcome", ["partially_resolved", "not_feasible"])
    def test_incomplete_outcome_needs_reason(self, outcome):
        with pytest.raises(Invalid):
            make().resolve(answer="a", outcome=outcome, reason=None, now=vn(2027, 3, 1), by="u")
        change = make().resolve(answer="a", outcome=outcome, reason="Thiếu vốn",
                                now=vn(2027, 3, 1), by="u")
        assert "percent" not in change.set

    def test_resolved_refuses_progress_and_second_resolution(self):
        c = make(status=domain.RESOLVED)
        with pytest.raises(Conflict):
            c.report_progress(percent=100, note="x", evidence=[], reason=None,
                              now=vn(2027, 3, 1), by="u")
        with pytest.raises(Conflict):
            c.resolve(answer="a", outcome="resolved", reason=None, now=vn(2027, 3, 1), by="u")

    def test_unsatisfactory_assessment_reopens(self):
        c = make(status=domain.RESOLVED)
        change = c.assess(assessment="unsatisfactory", note="Chưa làm", now=vn(2027, 3, 2),
                          by="mttq")
        assert change.set["status"] == domain.REOPENED
        assert [t for t, _ in change.events] == ["commitment.assessed", "commitment.reopened"]
        c = apply(c, change)
        # reopened: work goes on, then it can be resolved again
        apply(c, c.report_progress(percent=80, note="x", evidence=[], reason=None,
                                   now=vn(2027, 3, 3), by="u"))
        assert c.status == domain.IN_PROGRESS
        assert c.resolve(answer="b", outcome="resolved", reason=None, now=vn(2027, 3, 4),
                         by="u").set["assessment"] is None

    def test_satisfactory_keeps_resolved_and_only_once(self):
        c = make(status=domain.RESOLVED)
        change = c.assess(assessment="satisfactory", note="Tốt", now=vn(2027, 3, 2), by="m")
        assert "status" not in change.set
        c.assessment = change.set["assessment"]
        with pytest.raises(Conflict):
            c.assess(assessment="unsatisfactory", note="x", now=vn(2027, 3, 2), by="m")

    def test_assess_needs_resolution(self):
        with pytest.raises(Conflict):
            make().assess(assessment="satisfactory", note="x", now=vn(2027, 3, 2), by="m")

    def test_reassign(self):
        change = make().reassign(agency_id="so-gtvt-37", reason="Đúng thẩm quyền",
                                 now=vn(2027, 3, 1), by="vp")
        _, data = change.events[0]
        assert data["agency_id"] == "so-gtvt-37" and data["previous_agency_id"] == "so-xd-37"
        with pytest.raises(Invalid):
            make().reassign(agency_id="so-xd-37", reason="x", now=vn(2027, 3, 1), by="vp")

    def test_extend_must_be_later_and_resets_flags(self):
        c = make(overdue=True, reminded=True, escalation_level=1)
        with pytest.raises(Invalid):
            c.extend(deadline=date(2027, 3, 1), reason="x", now=vn(2027, 3, 1), by="h",
                     reminder_days=3, steps=STEPS)
        change = c.extend(deadline=date(2027, 5, 31), reason="Mưa lũ", now=vn(2027, 4, 2),
                          by="h", reminder_days=3, steps=STEPS)
        assert change.set["overdue"] is False and change.set["escalation_level"] == 0
        assert change.set["deadline"] == "2027-05-31"
        _, data = change.events[0]
        assert data["previous_deadline"] == date(2027, 3, 31)


class TestSweepDecisions:
    def test_approaching_from_three_working_days_before(self):
        c = make(deadline=date(2027, 2, 15))
        assert c.approaching(vn(2027, 2, 2), 3) is None  # 4 working days left
        change = c.approaching(vn(2027, 2, 3), 3)  # Tết lies between: 11/2, 12/2, 15/2 left
        assert change is not None
        _, data = change.events[0]
        assert data["working_days_left"] == 3
        c.reminded = True
        assert c.approaching(vn(2027, 2, 12), 3) is None  # once

    def test_no_reminder_for_resolved_or_already_late(self):
        assert make(status=domain.RESOLVED).approaching(vn(2027, 3, 30), 3) is None
        late = make().approaching(vn(2027, 4, 5), 3)
        assert late is not None and late.events == [] and late.set["reminded"] is True

    def test_overdue_after_end_of_deadline_day(self):
        c = make(deadline=date(2027, 3, 31))
        assert c.overdue_now(vn(2027, 3, 31, 23)) is None
        change = c.overdue_now(vn(2027, 4, 1, 0))
        assert change is not None and [t for t, _ in change.events] == ["commitment.overdue"]
        c.overdue = True
        assert c.overdue_now(vn(2027, 4, 2)) is None

    def test_escalation_steps_once_each(self):
        c = make(deadline=date(2027, 3, 31), overdue=True)
        assert c.escalate(vn(2027, 4, 6), STEPS) is None  # 4 working days late
        change = c.escalate(vn(2027, 4, 7), STEPS)  # 5 working days late
        assert change is not None
        assert [d["level"] for _, d in change.events] == [1]
        assert change.events[0][1]["host"]["title"] == "Bí thư"
        apply(c, change)
        assert c.escalate(vn(2027, 4, 8), STEPS) is None
        change = c.escalate(vn(2027, 4, 22), STEPS)  # 15 working days late (16/4 a holiday)
        assert [d["level"] for _, d in change.events] == [2]
        assert change.set["next_escalation_at"] is None

    def test_missed_steps_all_sent_at_once(self):
        c = make(deadline=date(2027, 3, 31), overdue=True)
        change = c.escalate(vn(2027, 6, 1), STEPS)
        assert [d["level"] for _, d in change.events] == [1, 2]
        assert change.set["escalation_level"] == 2

    def test_no_escalation_unless_overdue_and_active(self):
        assert make(overdue=False).escalate(vn(2027, 6, 1), STEPS) is None
        assert make(overdue=True, status=domain.RESOLVED).escalate(vn(2027, 6, 1), STEPS) is None


def test_resolution_at_the_last_half_second_of_the_deadline_day_is_on_time():
    # issue 19: "by 31/03" means any moment of 31/03 in Vietnam, 23:59:59.5 included
    c = make(deadline=date(2027, 3, 31))
    last = datetime(2027, 3, 31, 23, 59, 59, 500000, tzinfo=VN_TZ)
    change = c.resolve(answer="Đã xong", outcome="resolved", reason=None, now=last, by="a")
    assert change.set["on_time"] is True
    assert c.overdue_now(last) is None
    late = make(deadline=date(2027, 3, 31)).resolve(
        answer="Đã xong", outcome="resolved", reason=None,
        now=datetime(2027, 4, 1, 0, 0, tzinfo=VN_TZ), by="a")
    assert late.set["on_time"] is False


def test_working_days_follow_the_provinces_days_declared_off(tmp_path, monkeypatch):
    """Ninh Bình (37) declares Fri 05/03/2027 off; Hà Nội (01) works it (days_off.yaml)."""
    from services.common import workdays

    path = tmp_path / "days_off.yaml"
    monkeypatch.setenv("DOITHOAI_DAYS_OFF_FILE", str(path))
    workdays.add_override(str(path), date(2027, 3, 5), "37", "Quyết định của UBND tỉnh")
    issued = vn(2027, 3, 4)  # Thursday
    assert domain.deadline_of(issued, None, 1, 30, "37") == date(2027, 3, 8)
    assert domain.deadline_of(issued, None, 1, 30, "01") == date(2027, 3, 5)
    # reminder one working day before a Monday deadline: Thursday in 37, Friday in 01
    c37 = make(deadline=date(2027, 3, 8))
    c01 = make(deadline=date(2027, 3, 8), locality={"province_code": "01", "ward_code": None})
    assert c37.approaching(vn(2027, 3, 4), 1) is not None
    assert c01.approaching(vn(2027, 3, 4), 1) is None
    assert domain.schedule(date(2027, 3, 8), 1, STEPS, province="37")["remind_at"] \
        == domain.start_of_vn_day(date(2027, 3, 4))
    # escalation counts working days late on the province's calendar
    late = apply(make(deadline=date(2027, 3, 4)), make(deadline=date(2027, 3, 4))
                 .overdue_now(vn(2027, 3, 5)))
    assert late.escalate(vn(2027, 3, 11), (5,)) is None  # 37: 8, 9, 10, 11 = 4 days late
    other = make(deadline=date(2027, 3, 4), locality={"province_code": "01", "ward_code": None})
    other = apply(other, other.overdue_now(vn(2027, 3, 5)))
    assert other.escalate(vn(2027, 3, 11), (5,)) is not None  # 01: 5, 8, 9, 10, 11
