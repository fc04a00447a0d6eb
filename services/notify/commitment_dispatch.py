"""Commitment events -> notifications: the agency told of its assignment (held until the
dialogue's facts arrive, see services/notify/dispatch.py), deadlines, overdue,
escalations. A part of ``Dispatch``, with its settings, store, directory and clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from services.common.clock import vn_today
from services.common.events import Event
from services.common.workdays import working_days_between
from services.notify import domain
from services.notify.directory import Directory, agency_entry_id
from services.notify.settings import NotifySettings
from services.notify.store import Store
from services.notify.templates import TemplateError, render

log = logging.getLogger(__name__)


def host_name(host: dict[str, Any] | None) -> str | None:
    if not host:
        return None
    return f"{host.get('title', '')} {host.get('name', '')}".strip() or None


class CommitmentDispatch:
    settings: NotifySettings
    store: Store
    directory: Directory
    clock: Any

    def _commitment_context(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"agency_name": self.directory.agency_name(d["agency_id"]),
                "conclusion": d["text"], "deadline": d["deadline"]}

    @staticmethod
    def _commitment_refs(d: dict[str, Any]) -> dict[str, Any]:
        return {"commitment_id": d["commitment_id"], "dialogue_id": d["dialogue_id"],
                "locality": d["locality"]}

    @staticmethod
    def _dialogue_part(dialogue: dict[str, Any], host: dict[str, Any] | None,
                       fallback_day: datetime) -> dict[str, Any]:
        return {"dialogue_topic": dialogue.get("concluded_topic") or dialogue.get("topic")
                or "đối thoại với Nhân dân",
                "dialogue_date": dialogue.get("held_at") or dialogue.get("starts_at")
                or fallback_day,
                "notice_number": dialogue.get("notice_number"),
                "host": host_name(host or dialogue.get("concluded_host") or dialogue.get("host"))}

    def commitment_assigned(self, ev: Event) -> None:
        """E-mail the agency; it names the dialogue, whose facts come on another topic.

        When those facts have not arrived yet (topics are not ordered among each other),
        the e-mail is held for a while and completed by the dialogue event; if that never
        comes, it goes out with what the commitment itself says.
        """
        d = ev.data
        dialogue = self.store.dialogue(d["dialogue_id"]) or {}
        known = bool(dialogue.get("held_at") or dialogue.get("topic"))
        ctx = {**self._commitment_context(d), "deadline": d["deadline"].isoformat(),
               "coordinating_agencies": [self.directory.agency_name(a)
                                         for a in d.get("coordinating_agency_ids", [])],
               "petitions_count": len(d.get("petition_ids", [])) or None,
               "commitment_host": d.get("host"), "fallback_day": ev.time,
               "notice_number": d.get("notice_number")}
        part = self._dialogue_part(dialogue, d.get("host"), ev.time)
        part["notice_number"] = d.get("notice_number") or part["notice_number"]
        refs = self._commitment_refs(d)
        hold = None
        if not known:
            refs.update(awaiting_dialogue=True, context=ctx)
            hold = self.clock() + timedelta(minutes=10)
        self.directory.tell(agency_entry_id(d["agency_id"]), "agency", "commitment_assigned",
                            {**ctx, **part}, cause_id=ev.id, refs=refs, hold_until=hold)

    def _complete_commitments(self, dialogue_id: str) -> None:
        """Finish the commitment e-mails that waited for this dialogue's facts."""
        dialogue = self.store.dialogue(dialogue_id) or {}
        now = self.clock()
        for doc in self.store.held_for_dialogue(dialogue_id):
            ctx = dict(doc["context"])
            part = self._dialogue_part(dialogue, ctx.pop("commitment_host", None),
                                       ctx["fallback_day"])
            ctx = {**ctx, **part, "notice_number": ctx.get("notice_number")
                   or part["notice_number"], "platform_name": self.settings.platform_name}
            if doc.get("recipient_name"):
                ctx["recipient_name"] = doc["recipient_name"]
            try:
                rendered = render(doc["template"], doc["channel"], ctx)
            except TemplateError:
                continue  # keep the first rendering
            self.store.requeue(doc["_id"], {"state": domain.DEFERRED, "awaiting_dialogue": True},
                               {"subject": rendered.subject, "text": rendered.text,
                                "html": rendered.html, "awaiting_dialogue": False,
                                "reason": None}, now)

    def commitment_deadline_approaching(self, ev: Event) -> None:
        d = ev.data
        ctx = {**self._commitment_context(d), "days_left": d["working_days_left"]}
        self.directory.tell(agency_entry_id(d["agency_id"]), "agency",
                            "commitment_deadline_approaching", ctx, cause_id=ev.id,
                            refs=self._commitment_refs(d))

    def commitment_overdue(self, ev: Event) -> None:
        d = ev.data
        # Counted in working days, as the law counts deadlines and the message says.
        late = max(1, working_days_between(d["deadline"], vn_today(ev.time)))
        ctx = {**self._commitment_context(d), "days_late": late}
        self.directory.tell(agency_entry_id(d["agency_id"]), "agency", "commitment_overdue",
                            ctx, cause_id=ev.id, refs=self._commitment_refs(d))

    def commitment_escalated(self, ev: Event) -> None:
        d = ev.data
        for role in ("host", "front"):
            entry_id = self.directory.locality_entry(d["locality"], role)
            if entry_id is None:
                log.warning("no %s in the directory for an escalation", role)
                continue
            entry = self.directory.entry(entry_id) or {}
            to = host_name(d.get("host")) if role == "host" else None
            ctx = {**self._commitment_context(d), "days_late": d["working_days_late"],
                   "level": d["level"], "escalated_to": to or entry.get("name") or role}
            self.directory.tell(entry_id, role, "commitment_escalated", ctx, cause_id=ev.id,
                                refs=self._commitment_refs(d))
