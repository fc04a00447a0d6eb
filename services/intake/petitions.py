"""Officers' decisions on a petition (accept, reject, answer, close, reclassify, correct
its kind, extend a denunciation) and the changes that dialogue commitments cause.

Each change is one conditional ``update_one`` (``domain.guard`` + ``domain.step``)
carrying its events, so a race or a replay changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict, Invalid
from services.common.events import Event
from services.common.outbox import stage
from services.intake import deadlines, domain, views
from services.intake.context import Context
from services.intake.grouping import Grouping
from services.intake.store import UNGROUPED
from services.intake.views import Reads, ref

log = logging.getLogger(__name__)
Make = Callable[[dict[str, Any], datetime], list[Event]]
DENUNCIATION = "denunciation"
CHANGED_VI = "Đơn vừa được người khác cập nhật, vui lòng tải lại."


def grouping_change(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """How a change of kind moves a petition in or out of issues: a denunciation leaves
    its issue (issues reach public agendas; Luật Tố cáo 2018 keeps it confidential),
    a former denunciation waits to be grouped like any petition."""
    if kind == DENUNCIATION and doc["kind"] != DENUNCIATION:
        return {"$set": {"issue_id": None}, "$unset": {UNGROUPED: ""}}
    if doc["kind"] == DENUNCIATION and kind != DENUNCIATION:
        return {"$set": {UNGROUPED: True}}
    return {}


class Petitions:
    def __init__(self, ctx: Context, reads: Reads, grouping: Grouping) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.reads = reads
        self.grouping = grouping

    def _apply(self, doc: dict[str, Any], action: str, events: list[Event], *,
               set_: dict[str, Any] | None = None, note: str | None = None,
               cause: Event | None = None) -> bool:
        """Move ``doc`` through ``action`` in one conditional update with its events."""
        now = self.ctx.clock()
        cause_id = cause.id if cause else None
        update = domain.step(doc["status"], action, now, note=note, set_=set_, cause=cause_id)
        if not self.store.change_petition(domain.guard(doc, action, cause_id),
                                          stage(update, events, now)):
            return False
        self.ctx.outbox.flush(self.store.petitions, doc["_id"])
        return True

    def _decide(self, ref_: str, action: str, principal: Principal, type_: str,
                data: Callable[[dict[str, Any], datetime], dict[str, Any]], *,
                set_: dict[str, Any] | None = None, note: str | None = None
                ) -> dict[str, Any]:
        """An officer's transition: in scope, allowed, applied with its event, audited."""
        doc = self.reads.officer_doc(ref_, principal)
        _, target = domain.transition(doc["status"], action)
        now = self.ctx.clock()
        event = self.ctx.event(type_, doc["_id"], {**ref(doc, target), **data(doc, now)}, now)
        if not self._apply(doc, action, [event], set_=set_, note=note):
            raise Conflict("the petition changed meanwhile; reload it", detail_vi=CHANGED_VI)
        self.ctx.audit.record(principal, f"petition.{action}", "petition", doc["_id"],
                              {"note": note} if note is not None else {})
        return views.summary(self.reads.find(doc["_id"]))

    def accept(self, ref_: str, principal: Principal, note: str | None) -> dict[str, Any]:
        """Thụ lý: the statutory clock runs from now, by the province's figures."""
        now = self.ctx.clock()
        doc = self.reads.officer_doc(ref_, principal)
        changes = deadlines.fields_for({**doc, "accepted_at": now}, doc["kind"],
                                       deadlines.basis_of(doc))
        due = date.fromisoformat(changes["due_date"])
        return self._decide(ref_, "accept", principal, "petition.accepted",
                            lambda d, t: {"due_date": due, "accepted_at": t},
                            set_={"accepted_at": now, **changes}, note=note)

    def reject(self, ref_: str, principal: Principal, reason: str) -> dict[str, Any]:
        return self._decide(ref_, "reject", principal, "petition.rejected",
                            lambda d, t: {"reason": reason, "contact": d["contact"]},
                            set_={"reject_reason": reason}, note=reason)

    def close(self, ref_: str, principal: Principal, note: str | None) -> dict[str, Any]:
        return self._decide(ref_, "close", principal, "petition.closed",
                            lambda d, t: {"closed_at": t, "note": note},
                            set_={"closed_at": self.ctx.clock()}, note=note)

    def answer(self, ref_: str, principal: Principal, text: str) -> dict[str, Any]:
        now = self.ctx.clock()
        return self._decide(ref_, "answer", principal, "petition.answered",
                            lambda d, t: {"answer": text, "commitment_id": None,
                                          "answered_at": t, "contact": d["contact"]},
                            set_={"answer": {"text": text, "at": now, "commitment_id": None},
                                  "answered_at": now})

    def reclassify(self, ref_: str, principal: Principal, category: str,
                   note: str | None) -> dict[str, Any]:
        """New category: the petition leaves its issue and is grouped in the new bucket."""
        if category not in self.ctx.taxonomy.names:
            raise Invalid("category", f"unknown category {category!r}",
                          detail_vi="Lĩnh vực không hợp lệ.")
        doc = self.reads.officer_doc(ref_, principal)
        domain.transition(doc["status"], "reclassify")
        if doc["category"] == category:
            return views.summary(doc)
        now = self.ctx.clock()
        if not self.store.change_petition(
                {**domain.guard(doc, "reclassify"), "category": doc["category"]},
                {"$set": {"category": category, "issue_id": None, UNGROUPED: True,
                          "updated_at": now}}):
            raise Conflict("the petition changed meanwhile; reload it", detail_vi=CHANGED_VI)
        self.ctx.audit.record(principal, "petition.reclassify", "petition", doc["_id"],
                              {"from": doc["category"], "to": category, "note": note})
        if doc.get("issue_id"):
            self.grouping.rebuild_issue(doc["issue_id"], now)
        return views.summary(self.grouping.group_petition(doc["_id"]) or doc)

    # --- the legal footing: kind, instance, complexity, area, extensions ---------------
    def _refoot(self, doc: dict[str, Any], kind: str, basis: dict[str, Any],
                principal: Principal, query: dict[str, Any], push: dict[str, Any] | None
                ) -> dict[str, Any]:
        """Apply a new footing: the deadline follows, and ``petition.kind_corrected``
        tells notify and the portal."""
        now = self.ctx.clock()
        changes = deadlines.fields_for(doc, kind, basis)
        regroup = grouping_change(doc, kind)
        after = {**doc, "kind": kind, **changes, **regroup.get("$set", {})}
        event = self.ctx.event("petition.kind_corrected", doc["_id"], {
            **ref(after), "kind": kind, "previous_kind": doc["kind"],
            "due_date": views.day(changes["due_date"]),
            "accept_by": views.day(changes["accept_by"]),
            "deadline_source": changes["deadline_source"], "corrected_at": now}, now)
        update: dict[str, Any] = {"$set": {"kind": kind, **changes, "updated_at": now,
                                           **regroup.get("$set", {})}}
        if "$unset" in regroup:
            update["$unset"] = regroup["$unset"]
        if push:
            update["$push"] = push
        if not self.store.change_petition(query, stage(update, [event], now)):
            raise Conflict("the petition changed meanwhile; reload it", detail_vi=CHANGED_VI)
        self.ctx.outbox.flush(self.store.petitions, doc["_id"])
        if regroup and doc.get("issue_id"):  # a denunciation now: out of its issue
            self.grouping.rebuild_issue(doc["issue_id"], now)
        elif regroup.get("$set", {}).get(UNGROUPED):  # no longer a denunciation
            self.grouping.group_petition(doc["_id"])
        return views.deadline(self.reads.find(doc["_id"]))

    def correct_kind(self, ref_: str, principal: Principal, data: dict[str, Any]
                     ) -> dict[str, Any]:
        """An officer sets the petition's kind (and instance, complexity, area)."""
        doc = self.reads.officer_doc(ref_, principal)
        basis = deadlines.basis_of(doc)
        for name in ("instance", "complex", "remote"):
            if data.get(name) is not None:
                basis[name] = data[name]
        kind = data["kind"]
        if kind != "denunciation":
            basis["extensions"] = []
        now = self.ctx.clock()
        out = self._refoot(doc, kind, basis, principal,
                           {**domain.guard(doc, "reclassify"), "kind": doc["kind"]},
                           {"kind_history": {"at": now, "from": doc["kind"], "to": kind,
                                             "by": principal.sub, "note": data.get("note")}})
        self.ctx.audit.record(principal, "petition.correct_kind", "petition", doc["_id"],
                              {"from": doc["kind"], "to": kind, "note": data.get("note"),
                               **{k: basis[k] for k in ("instance", "complex", "remote")}})
        return out

    def extend(self, ref_: str, principal: Principal, reason: str) -> dict[str, Any]:
        """One more 30-day period for a denunciation (at most two), with its reason."""
        doc = self.reads.officer_doc(ref_, principal)
        domain.transition(doc["status"], "reclassify")
        basis = deadlines.basis_of(doc)
        deadlines.check_extension(doc["kind"], basis["extensions"], reason)
        basis["extensions"] = [*basis["extensions"], {"at": self.ctx.clock(),
                                                      "reason": reason.strip(),
                                                      "by": principal.sub}]
        # each extension moves the deadline: a concurrent one finds it moved
        query = {**domain.guard(doc, "reclassify"), "kind": doc["kind"],
                 "due_date": doc.get("due_date")}
        out = self._refoot(doc, doc["kind"], basis, principal, query, None)
        self.ctx.audit.record(principal, "petition.extend", "petition", doc["_id"],
                              {"reason": reason, "extension": len(basis["extensions"])})
        return out

    # --- commitments (followup's events) -------------------------------------------------
    def _linked(self, event: Event, action: str, make: Make, **kwargs: Any) -> None:
        """Apply ``action`` to each petition a commitment names, once per event."""
        for pid in event.data.get("petition_ids") or []:
            doc = self.store.petition(pid)
            if doc is None:
                log.warning("commitment names an unknown petition",
                            extra={"petition_id": pid, "event_id": event.id})
                continue
            if event.id in doc.get("events_seen", []):
                continue  # a replay
            if not domain.allows(doc["status"], action):
                log.info("petition not in a state for this event",
                         extra={"petition_id": pid, "status": doc["status"],
                                "event_type": event.type})
                continue
            now = self.ctx.clock()
            self._apply(doc, action, make(doc, now), cause=event,
                        **{k: (v(doc, now) if callable(v) else v) for k, v in kwargs.items()})

    def _event(self, type_: str, doc: dict[str, Any], action: str, data: dict[str, Any],
               now: datetime, cause: Event) -> list[Event]:
        return [self.ctx.event(type_, doc["_id"], {**ref(doc, domain.target(action)), **data},
                               now, cause)]

    def on_commitment_assigned(self, event: Event) -> None:
        d = event.data
        self._linked(event, "assign", lambda doc, now: self._event(
            "petition.assigned", doc, "assign", {
                "commitment_id": d["commitment_id"], "agency_id": d["agency_id"],
                "deadline": d.get("deadline")}, now, event),
            set_={"commitment_id": d["commitment_id"], "agency_id": d["agency_id"]},
            note="Đã giao cơ quan giải quyết")

    def on_commitment_resolved(self, event: Event) -> None:
        d = event.data
        answer = {"text": d["answer"], "at": d["resolved_at"], "commitment_id": d["commitment_id"]}
        self._linked(event, "answer", lambda doc, now: self._event(
            "petition.answered", doc, "answer", {
                "answer": d["answer"], "commitment_id": d["commitment_id"],
                "answered_at": d["resolved_at"], "contact": doc["contact"]}, now, event),
            set_=lambda doc, now: {"answer": answer, "answered_at": now,
                                   "commitment_id": d["commitment_id"]})

    def on_commitment_reopened(self, event: Event) -> None:
        d = event.data
        self._linked(event, "resume", lambda doc, now: self._event(
            "petition.reopened", doc, "resume", {"reason": d["note"]}, now, event),
            note=d["note"])
