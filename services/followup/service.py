"""The service layer: one method per command (HTTP or event) and the sweeps."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from services.common.audit import Audit
from services.common.auth import Principal
from services.common.clock import Clock
from services.common.contracts.followup import agency_commitments_topic, agency_topic
from services.common.errors import Conflict, DomainError, NotFound
from services.common.events import Event, new_event
from services.common.kafka import Rejected, record_topic
from services.common.outbox import Outbox
from services.followup import domain
from services.followup.domain import Change, Commitment
from services.followup.settings import FollowupSettings
from services.followup.store import Store

log = logging.getLogger(__name__)

_AGENCY_TOPIC = re.compile(r"^agency\.(?P<agency>.+)\.reports$")


class Followup:
    def __init__(self, settings: FollowupSettings, store: Store, clock: Clock, audit: Audit,
                 outbox: Outbox | None, ensure_topics: Callable[[list[str]], None]) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.audit = audit
        self.outbox = outbox
        self.ensure_topics = ensure_topics
        self._known_topics: set[str] = set()
        self._lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------

    def _events(self, commitment_id: str, change: Change, cause: Event | None = None,
                key: str | None = None) -> list[Event]:
        """Events of a change; with ``key`` (a consumed event), ids are derived from it so a
        replay stages the very same events."""
        return [new_event(type_, commitment_id, data, source=self.settings.service, cause=cause,
                          event_id=cause.derived_id(key or "", type_, str(i)) if cause else None,
                          time=self.clock())
                for i, (type_, data) in enumerate(change.events)]

    def _flush(self, doc_id: str, claim: bool = True) -> None:
        """Publish at once what was staged (in a claim, or in a new commitment)."""
        if self.outbox is not None:
            collection = self.store.transitions if claim else self.store.commitments
            self.outbox.flush(collection, doc_id)

    def ensure_agency(self, agency_id: str) -> None:
        """The agency's topics exist, its inbox and its feed of commitments (created when
        first assigned a commitment, before any event for it is staged)."""
        topics = [agency_topic(agency_id), agency_commitments_topic(agency_id)]
        with self._lock:
            if set(topics) <= self._known_topics:
                return
        self.ensure_topics(topics)
        with self._lock:
            self._known_topics.update(topics)

    # -- dialogue.concluded --------------------------------------------------------

    def on_dialogue_concluded(self, event: Event) -> None:
        """One commitment per conclusion; a replay creates nothing and publishes nothing."""
        data = event.data
        now = self.clock()
        for conclusion in data["conclusions"]:
            cid = domain.commitment_id(conclusion["conclusion_id"])
            if self.store.get(cid) is not None:
                continue
            deadline = domain.deadline_of(data["issued_at"], conclusion.get("deadline"),
                                          conclusion.get("working_days"),
                                          self.settings.default_working_days,
                                          data["locality"].get("province_code"))
            commitment = Commitment(
                id=cid, conclusion_id=conclusion["conclusion_id"],
                dialogue_id=data["dialogue_id"], text=conclusion["text"],
                agency_id=conclusion["responsible_agency_id"], deadline=deadline,
                locality=dict(data["locality"]),
                petition_ids=list(conclusion.get("petition_ids") or []),
                coordinating_agency_ids=list(conclusion.get("coordinating_agency_ids") or []),
                host=dict(data["host"]) if data.get("host") else None,
                notice_number=data.get("notice_number"))
            # Topic before the commitment: a crash in between leaves only a harmless topic.
            self.ensure_agency(commitment.agency_id)
            type_, payload = commitment.assigned()
            assigned = new_event(type_, cid, payload, source=self.settings.service, cause=event,
                                 event_id=event.derived_id("assigned", cid), time=now)
            doc = domain.new_doc(commitment, now=now,
                                 reminder_days=self.settings.reminder_working_days,
                                 steps=self.settings.steps)
            if self.store.insert(doc, [assigned], now):
                self._flush(cid, claim=False)
        # Counted once all are in; on a replay too: the first delivery may have stopped
        # before that.
        self.store.refresh(data["dialogue_id"])

    # -- agency reports over Kafka ---------------------------------------------------

    def _reporting_agency(self, event: Event) -> str:
        topic = record_topic.get() or ""
        prefix = self.settings.topic_prefix
        logical = topic[len(prefix):] if prefix and topic.startswith(prefix) else topic
        match = _AGENCY_TOPIC.match(logical)
        if not match:
            raise Rejected(f"report on {topic!r}, which is not an agency topic")
        agency = match["agency"]
        if event.data["agency_id"] != agency:
            raise Rejected(f"agency_id {event.data['agency_id']!r} does not match the topic's "
                           f"agency {agency!r}")
        if event.subject != event.data["commitment_id"]:
            raise Rejected("subject must be the commitment id")
        return agency

    def _agency_command(self, event: Event, act: Callable[[Commitment, datetime], Change]) -> None:
        agency = self._reporting_agency(event)
        doc = self.store.get(event.data["commitment_id"])
        if doc is None:
            raise Rejected(f"unknown commitment {event.data['commitment_id']}")
        if event.id in (doc.get("applied") or []):
            return  # seen before: took effect once already
        commitment = domain.from_doc(doc)
        if commitment.agency_id != agency:
            raise Rejected(f"commitment {commitment.id} is not assigned to agency {agency}")
        now = self.clock()
        try:
            change = act(commitment, now)
        except DomainError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc.detail}") from None
        events = self._events(commitment.id, change, cause=event, key="report")
        if not self.store.commit(doc, change, events, now, applied=event.id):
            # Changed meanwhile: the consumer retries, and the retry sees the event
            # in ``applied`` or decides again on the new version.
            raise RuntimeError(f"commitment {commitment.id} changed while applying {event.id}")
        self._flush(f"{commitment.id}@{commitment.version}")

    def on_agency_progress(self, event: Event) -> None:
        d = event.data
        by = f"agency:{d['agency_id']}"
        self._agency_command(event, lambda c, now: c.report_progress(
            percent=d["percent"], note=d["note"], evidence=d.get("evidence") or [],
            reason=d.get("reason"), now=now, by=by))

    def on_agency_resolution(self, event: Event) -> None:
        d = event.data
        by = f"agency:{d['agency_id']}"
        self._agency_command(event, lambda c, now: c.resolve(
            answer=d["answer"], outcome=d["outcome"], reason=d.get("reason"), now=now, by=by))

    # -- officers over HTTP -----------------------------------------------------------

    def visible(self, principal: Principal, doc: dict[str, Any]) -> bool:
        if principal.agency_only:
            return bool(principal.agency_id) and doc["agency_id"] == principal.agency_id
        loc = doc.get("locality") or {}
        return principal.covers(loc.get("province_code"), loc.get("ward_code"))

    def scope(self, principal: Principal) -> dict[str, Any]:
        """What a principal may list: agency officers their agency's, others their area's."""
        if principal.agency_only:
            return {"agency_id": principal.agency_id or {"$in": []}}
        return principal.scope_filter("")  # the top-level copies of the locality codes

    def load(self, principal: Principal, commitment_id: str) -> dict[str, Any]:
        doc = self.store.get(commitment_id)
        if doc is None or not self.visible(principal, doc):
            # Outside one's scope looks the same as absent: ids leak nothing.
            raise NotFound(f"no commitment {commitment_id}",
                           detail_vi="Không tìm thấy nhiệm vụ theo Thông báo kết luận.")
        return doc

    def _command(self, principal: Principal, commitment_id: str, action: str,
                 act: Callable[[Commitment, datetime], Change],
                 details: dict[str, Any]) -> dict[str, Any]:
        doc = self.load(principal, commitment_id)
        commitment = domain.from_doc(doc)
        now = self.clock()
        change = act(commitment, now)
        events = self._events(commitment.id, change)
        if not self.store.commit(doc, change, events, now):
            raise Conflict("the commitment changed meanwhile; reload and try again",
                           detail_vi="Nhiệm vụ vừa được người khác cập nhật, vui lòng tải lại.")
        self.audit.record(principal, f"commitment.{action}", "commitment", commitment.id,
                          details)
        self._flush(f"{commitment.id}@{commitment.version}")
        return self.store.get(commitment.id) or doc

    def report_progress(self, principal: Principal, commitment_id: str, *, percent: int,
                        note: str, evidence: list[str], reason: str | None) -> dict[str, Any]:
        return self._command(principal, commitment_id, "progress", lambda c, now:
                             c.report_progress(percent=percent, note=note, evidence=evidence,
                                               reason=reason, now=now, by=principal.sub),
                             {"percent": percent, "reason": reason})

    def resolve(self, principal: Principal, commitment_id: str, *, answer: str, outcome: str,
                reason: str | None) -> dict[str, Any]:
        return self._command(principal, commitment_id, "resolve", lambda c, now:
                             c.resolve(answer=answer, outcome=outcome, reason=reason, now=now,
                                       by=principal.sub),
                             {"outcome": outcome, "reason": reason})

    def reassign(self, principal: Principal, commitment_id: str, *, agency_id: str,
                 reason: str) -> dict[str, Any]:
        self.ensure_agency(agency_id)
        return self._command(principal, commitment_id, "reassign", lambda c, now:
                             c.reassign(agency_id=agency_id, reason=reason, now=now,
                                        by=principal.sub),
                             {"agency_id": agency_id, "reason": reason})

    def extend(self, principal: Principal, commitment_id: str, *, deadline: date,
               reason: str) -> dict[str, Any]:
        return self._command(principal, commitment_id, "extend", lambda c, now:
                             c.extend(deadline=deadline, reason=reason, now=now,
                                      by=principal.sub,
                                      reminder_days=self.settings.reminder_working_days,
                                      steps=self.settings.steps),
                             {"deadline": deadline.isoformat(), "reason": reason})

    def assess(self, principal: Principal, commitment_id: str, *, assessment: str,
               note: str) -> dict[str, Any]:
        return self._command(principal, commitment_id, "assess", lambda c, now:
                             c.assess(assessment=assessment, note=note, now=now,
                                      by=principal.sub),
                             {"assessment": assessment})

    # -- sweeps -----------------------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Reminders, overdue flags and escalations that are due; each exactly once even
        with several sweepers at once (each event is claimed under a unique id)."""
        now = self.clock()
        done = {"approaching": 0, "overdue": 0, "escalated": 0}
        s = self.settings
        for doc in self.store.due("remind_at", now, {"reminded": False}):
            done["approaching"] += self._sweep_one(
                doc, lambda c: c.approaching(now, s.reminder_working_days), now)
        for doc in self.store.due("due_at", now, {"overdue": False}):
            done["overdue"] += self._sweep_one(doc, lambda c: c.overdue_now(now), now)
        for doc in self.store.due("next_escalation_at", now, {"overdue": True}):
            done["escalated"] += self._sweep_one(doc, lambda c: c.escalate(now, s.steps), now)
        # Once per dialogue rather than per commitment; also what a crash left stale.
        self.store.refresh_stale()
        self.store.count_overdue(now)  # what /metrics shows, counted here, not per scrape
        return done

    def _sweep_one(self, doc: dict[str, Any], decide: Callable[[Commitment], Change | None],
                   now: datetime) -> int:
        change = decide(domain.from_doc(doc))
        if change is None:
            return 0
        sent = 0
        for event in self._events(doc["_id"], change):
            # One claim per transition and deadline (and level): a second sweeper, or a
            # sweep after a crash, finds it taken and only repairs the flags.
            key = "|".join((event.type, doc["deadline"], str(event.data.get("level", ""))))
            if self.store.claim_transition(doc["_id"], key, [event], now):
                self._flush(f"{doc['_id']}|{key}")
                sent += 1
        self.store.set_flags(doc["_id"], doc["deadline"], change.set)
        return sent
