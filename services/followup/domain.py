"""Commitments: one per conclusion of a dialogue, tracked until the agency resolves it.

Plain Python, no I/O. Each command returns a ``Change``: the fields to set, the
entries to push and the events it causes, which the store applies in one
conditional update together with the events (outbox).

Status: open → in_progress → resolved; resolved → reopened (the Front judged the
answer unsatisfactory) → in_progress / resolved again. ``overdue`` and
``escalation_level`` are set by time, alongside the status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.common import workdays
from services.common.clock import end_of_vn_day, start_of_vn_day, vn_today
from services.common.errors import Conflict, Invalid
from services.common.localities import top_level
from services.common.workdays import (
    add_working_days,
    subtract_working_days,
    working_days_between,
)

OPEN, IN_PROGRESS, RESOLVED, REOPENED = "open", "in_progress", "resolved", "reopened"
STATUSES = (OPEN, IN_PROGRESS, RESOLVED, REOPENED)
ACTIVE = (OPEN, IN_PROGRESS, REOPENED)  # not resolved: swept, may report and resolve
OUTCOMES = ("resolved", "partially_resolved", "not_feasible")
ASSESSMENTS = ("satisfactory", "unsatisfactory")

STATUS_VI = {OPEN: "Chưa thực hiện", IN_PROGRESS: "Đang thực hiện",
             RESOLVED: "Đã giải quyết", REOPENED: "Mở lại (chưa đạt yêu cầu)"}
OUTCOME_VI = {"resolved": "Đã giải quyết", "partially_resolved": "Giải quyết một phần",
              "not_feasible": "Không thể thực hiện"}

_NAMESPACE = uuid.UUID("0b7d5f3e-8c4a-4d51-9a2e-7f1e6c3b9d20")


def commitment_id(conclusion_id: str) -> str:
    """The commitment of a conclusion: the same id on every replay of the notice."""
    return "cm-" + str(uuid.uuid5(_NAMESPACE, conclusion_id))


def deadline_of(issued_at: datetime, deadline: date | None, working_days: int | None,
                default_working_days: int, province: str | None = None) -> date:
    """The deadline as given, or ``working_days`` after the notice date (Vietnam time),
    counted on the province's calendar (its days declared off or worked, days_off.yaml)."""
    if deadline is not None:
        return deadline
    days = working_days if working_days is not None else default_working_days
    return add_working_days(vn_today(issued_at), days, province)


def schedule(deadline: date, reminder_days: int, steps: tuple[int, ...],
             level: int = 0, province: str | None = None) -> dict[str, Any]:
    """When the sweeps should next look at a commitment due on ``deadline``.

    Stored on the document so that each sweep is one indexed query.
    """
    return {
        "due_at": end_of_vn_day(deadline),
        "remind_at": start_of_vn_day(subtract_working_days(deadline, reminder_days, province)),
        "next_escalation_at": escalation_time(deadline, steps, level, province),
    }


def escalation_time(deadline: date, steps: tuple[int, ...], level: int,
                    province: str | None = None) -> datetime | None:
    """Start of the day the next escalation step (after ``level``) is reached, if any."""
    if level >= len(steps):
        return None
    return start_of_vn_day(add_working_days(deadline, steps[level], province))


@dataclass
class Change:
    """What a command does: fields to ``$set``, entries to ``$push``, events it causes."""

    set: dict[str, Any] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Commitment:
    id: str
    conclusion_id: str
    dialogue_id: str
    text: str
    agency_id: str
    deadline: date
    locality: dict[str, Any]
    petition_ids: list[str] = field(default_factory=list)
    coordinating_agency_ids: list[str] = field(default_factory=list)
    host: dict[str, Any] | None = None
    notice_number: str | None = None
    status: str = OPEN
    percent: int = 0
    overdue: bool = False
    reminded: bool = False
    escalation_level: int = 0
    resolution: dict[str, Any] | None = None
    assessment: dict[str, Any] | None = None
    version: int = 0

    @property
    def province(self) -> str | None:
        """Whose calendar counts its working days."""
        return self.locality.get("province_code")

    # -- facts every event carries ------------------------------------------------

    def facts(self) -> dict[str, Any]:
        return {"commitment_id": self.id, "agency_id": self.agency_id,
                "conclusion_id": self.conclusion_id, "dialogue_id": self.dialogue_id,
                "text": self.text, "deadline": self.deadline, "locality": self.locality,
                "petition_ids": list(self.petition_ids)}

    def assigned(self) -> tuple[str, dict[str, Any]]:
        return ("commitment.assigned",
                {**self.facts(), "coordinating_agency_ids": list(self.coordinating_agency_ids),
                 "host": self.host, "notice_number": self.notice_number})

    def _require_active(self, action: str) -> None:
        if self.status not in ACTIVE:
            raise Conflict(f"cannot {action} a commitment that is {self.status}",
                           detail_vi="Nhiệm vụ theo Thông báo kết luận đã được giải "
                                     "quyết, không thể thực hiện thao tác này.")

    # -- commands -----------------------------------------------------------------

    def report_progress(self, *, percent: int, note: str, evidence: list[str],
                        reason: str | None, now: datetime, by: str) -> Change:
        """Progress from the agency. The percentage never goes down without a reason."""
        self._require_active("report progress on")
        if percent < self.percent and not (reason and reason.strip()):
            raise Invalid("reason", f"percent went down from {self.percent} to {percent}: "
                          "give a reason", detail_vi="Tỷ lệ hoàn thành giảm, cần nêu lý do.")
        entry = {"at": now, "percent": percent, "note": note, "evidence": list(evidence),
                 "reason": reason, "by": by}
        return Change(
            set={"status": IN_PROGRESS, "percent": percent, "updated_at": now},
            push={"progress": entry},
            events=[("commitment.progress_reported",
                     {"commitment_id": self.id, "agency_id": self.agency_id, "note": note,
                      "percent": percent, "evidence": list(evidence), "reason": reason})],
        )

    def resolve(self, *, answer: str, outcome: str, reason: str | None, now: datetime,
                by: str) -> Change:
        self._require_active("resolve")
        if outcome not in OUTCOMES:
            raise Invalid("outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        if outcome != "resolved" and not (reason and reason.strip()):
            raise Invalid("reason", f"a {outcome} outcome needs a reason",
                          detail_vi="Cần nêu lý do khi chưa giải quyết dứt điểm.")
        on_time = workdays.on_time(now, self.deadline)  # 23:59:59.5 on the day counts
        resolution = {"answer": answer, "outcome": outcome, "reason": reason,
                      "resolved_at": now, "on_time": on_time, "by": by}
        changes: dict[str, Any] = {"status": RESOLVED, "resolution": resolution,
                                   "assessment": None, "resolved_at": now, "on_time": on_time,
                                   "updated_at": now}
        if outcome == "resolved":
            changes["percent"] = 100
        return Change(
            set=changes,
            push={"history": {"at": now, "action": "resolved", "by": by, "outcome": outcome}},
            events=[("commitment.resolved",
                     {**self.facts(), "answer": answer, "outcome": outcome, "reason": reason,
                      "resolved_at": now, "on_time": on_time})],
        )

    def reassign(self, *, agency_id: str, reason: str, now: datetime, by: str) -> Change:
        self._require_active("reassign")
        if agency_id == self.agency_id:
            raise Invalid("agency_id", "the commitment is already assigned to this agency")
        previous = self.agency_id
        facts = {**self.facts(), "agency_id": agency_id}
        return Change(
            set={"agency_id": agency_id, "updated_at": now},
            push={"history": {"at": now, "action": "reassigned", "by": by, "reason": reason,
                              "from": previous, "to": agency_id}},
            events=[("commitment.reassigned",
                     {**facts, "previous_agency_id": previous, "reason": reason})],
        )

    def extend(self, *, deadline: date, reason: str, now: datetime, by: str,
               reminder_days: int, steps: tuple[int, ...]) -> Change:
        """A new, later deadline. Reminder, overdue and escalation start over for it."""
        self._require_active("extend")
        if deadline <= self.deadline:
            raise Invalid("deadline", "the new deadline must be after the current one "
                          f"({self.deadline.isoformat()})",
                          detail_vi="Hạn mới phải sau hạn hiện tại.")
        previous = self.deadline
        return Change(
            set={"deadline": deadline.isoformat(), **schedule(deadline, reminder_days, steps,
                                                          province=self.province),
                 "reminded": False, "overdue": False, "escalation_level": 0,
                 "updated_at": now},
            push={"history": {"at": now, "action": "deadline_extended", "by": by,
                              "reason": reason, "from": previous.isoformat(),
                              "to": deadline.isoformat()}},
            events=[("commitment.deadline_extended",
                     {**self.facts(), "deadline": deadline, "previous_deadline": previous,
                      "reason": reason})],
        )

    def assess(self, *, assessment: str, note: str, now: datetime, by: str) -> Change:
        """The Front's judgement of a resolution; unsatisfactory reopens it."""
        if self.status != RESOLVED:
            raise Conflict(f"only a resolved commitment can be assessed (it is {self.status})",
                           detail_vi="Chỉ đánh giá được nhiệm vụ đã giải quyết.")
        if self.assessment:
            raise Conflict("this resolution was already assessed",
                           detail_vi="Kết quả giải quyết này đã được đánh giá.")
        if assessment not in ASSESSMENTS:
            raise Invalid("assessment", f"must be one of {', '.join(ASSESSMENTS)}")
        record = {"assessment": assessment, "note": note, "at": now, "by": by}
        change = Change(
            set={"assessment": record, "updated_at": now},
            push={"history": {"at": now, "action": "assessed", "by": by,
                              "assessment": assessment, "note": note}},
            events=[("commitment.assessed",
                     {"commitment_id": self.id, "agency_id": self.agency_id,
                      "assessment": assessment, "note": note, "dialogue_id": self.dialogue_id})],
        )
        if assessment == "unsatisfactory":
            change.set.update({"status": REOPENED, "on_time": None, "resolved_at": None})
            change.events.append(("commitment.reopened", {**self.facts(), "note": note}))
        return change

    # -- sweeps (decided here, applied once by a conditional update) -----------------

    def approaching(self, now: datetime, reminder_days: int) -> Change | None:
        """The reminder, once, from ``reminder_days`` working days before the deadline."""
        if self.status not in ACTIVE or self.reminded:
            return None
        today = vn_today(now)
        if today < subtract_working_days(self.deadline, reminder_days, self.province):
            return None
        if today > self.deadline:  # already late: the overdue notice says it better
            return Change(set={"reminded": True})
        left = max(working_days_between(today, self.deadline, self.province), 0)
        return Change(set={"reminded": True, "reminded_at": now},
                      events=[("commitment.deadline_approaching",
                               {**self.facts(), "working_days_left": left})])

    def overdue_now(self, now: datetime) -> Change | None:
        """Overdue, once, after the end of the deadline day in Vietnam."""
        if self.status not in ACTIVE or self.overdue or workdays.on_time(now, self.deadline):
            return None
        return Change(set={"overdue": True, "overdue_at": now},
                      events=[("commitment.overdue", self.facts())])

    def escalate(self, now: datetime, steps: tuple[int, ...]) -> Change | None:
        """One escalated event per step reached and not yet sent."""
        if self.status not in ACTIVE or not self.overdue:
            return None
        late = working_days_between(self.deadline, vn_today(now), self.province)
        reached = [level for level, step in enumerate(steps, start=1) if late >= step]
        new = [level for level in reached if level > self.escalation_level]
        if not new:
            return None
        top = new[-1]
        return Change(
            set={"escalation_level": top, "escalated_at": now,
                 "next_escalation_at": escalation_time(self.deadline, steps, top,
                                                       self.province)},
            events=[("commitment.escalated",
                     {**self.facts(), "level": level, "working_days_late": late,
                      "host": self.host}) for level in new],
        )


def bucket(status: str, overdue: bool, on_time: bool | None) -> str:
    """Where the commitments report counts a commitment."""
    if status == RESOLVED:
        return "resolved_on_time" if on_time else "resolved_late"
    return "overdue" if overdue else "open"


def from_doc(doc: dict[str, Any]) -> Commitment:
    """The aggregate from its stored document."""
    return Commitment(
        id=doc["_id"], conclusion_id=doc["conclusion_id"], dialogue_id=doc["dialogue_id"],
        text=doc["text"], agency_id=doc["agency_id"],
        deadline=date.fromisoformat(doc["deadline"]), locality=doc["locality"],
        petition_ids=doc.get("petition_ids") or [],
        coordinating_agency_ids=doc.get("coordinating_agency_ids") or [],
        host=doc.get("host"), notice_number=doc.get("notice_number"), status=doc["status"],
        percent=doc.get("percent", 0), overdue=doc.get("overdue", False),
        reminded=doc.get("reminded", False), escalation_level=doc.get("escalation_level", 0),
        resolution=doc.get("resolution"), assessment=doc.get("assessment"),
        version=doc.get("version", 0),
    )


def new_doc(c: Commitment, *, now: datetime, reminder_days: int,
            steps: tuple[int, ...]) -> dict[str, Any]:
    """The document of a new commitment (deadline stored as an ISO date string)."""
    return {
        "_id": c.id, "conclusion_id": c.conclusion_id, "dialogue_id": c.dialogue_id,
        "text": c.text, "agency_id": c.agency_id, "deadline": c.deadline.isoformat(),
        "locality": c.locality, **top_level(c.locality), "petition_ids": c.petition_ids,
        "coordinating_agency_ids": c.coordinating_agency_ids, "host": c.host,
        "notice_number": c.notice_number, "status": OPEN, "percent": 0, "overdue": False,
        "reminded": False, "escalation_level": 0, "resolution": None, "assessment": None,
        "on_time": None, "resolved_at": None, "progress": [], "history": [], "applied": [],
        "created_at": now, "updated_at": now, "version": 0,
        "report_stale": True,  # not yet in its dialogue's report summary (store.py)
        **schedule(c.deadline, reminder_days, steps, province=c.province),
    }

