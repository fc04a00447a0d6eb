"""Events -> notifications: who is told what about petitions, dialogues, commitments
and one-time codes, and the read models that let notify say it.

Events from different topics are not ordered among themselves, so two waits are built in
rather than retrying handlers (a retried handler would stall the whole consumer):

- a dialogue may be announced before a petition's contact reaches us. Each petition's
  read model notes the dialogues that listed it (written, then read, in one command, on
  both sides); when ``petition.received`` arrives, every upcoming dialogue it names
  invites it then, under the same key (the announcement's event id) as if it had been
  invited at once, so nothing is sent twice;
- ``commitment.assigned`` may come before the dialogue's facts; its e-mail is held
  (``deferred``, 10 minutes) and completed by ``dialogue.concluded``/``held``, or sent with
  what the commitment says if they never come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from services.common.clock import from_mongo
from services.common.events import Event
from services.common.localities import UnknownLocality, ward
from services.notify import domain
from services.notify.commitment_dispatch import CommitmentDispatch, host_name
from services.notify.directory import Directory, agency_entry_id
from services.notify.domain import Address
from services.notify.notifier import Notifier
from services.notify.settings import NotifySettings
from services.notify.store import Store

log = logging.getLogger(__name__)

UPCOMING = ("announced", "rescheduled")


def commune_name(locality: dict[str, Any]) -> str | None:
    try:
        return ward(locality["ward_code"]).name if locality.get("ward_code") else None
    except UnknownLocality:
        return None


class Dispatch(CommitmentDispatch):
    def __init__(self, settings: NotifySettings, store: Store, notifier: Notifier,
                 directory: Directory,
                 together: Callable[[Callable[[Any], None], Iterable[Any]], None]) -> None:
        self.settings = settings
        self.together = together  # Delivery.together
        self.store = store
        self.notifier = notifier
        self.directory = directory
        self.clock = notifier.clock

    # ------------------------------------------------------------ petitions

    def petition_received(self, ev: Event) -> None:
        # The read model, and the claim on the acknowledgement, in one command: the
        # first handling of this event claims it and sends it at once, before writing
        # it (one write, with the outcome); a replay finds it claimed and writes it
        # for a sender, due when that claim lapses (a no-op when it was written).
        lease = timedelta(seconds=self.settings.lease_seconds)
        petition, claimed = self.store.receive_claiming(
            ev.data["petition_id"], *self._received(ev), self.clock() + lease)
        self._acknowledge(ev, petition, claimed)

    def petitions_received(self, events: list[Event]) -> None:
        """A poll's consecutive ``petition.received``: their read models written and
        their acknowledgements claimed with one find and one bulk write (two commands,
        not one per petition), then each acknowledged as one by one.
        A petition twice in the poll (a republished event) goes one by one the second
        time: a replay, as ever."""
        first: dict[str, Event] = {}
        again: list[Event] = []
        for ev in events:
            pid = ev.data["petition_id"]
            if pid in first:
                again.append(ev)
            else:
                first[pid] = ev
        if len(first) < 2:  # one findAndModify each is as few commands
            for ev in events:
                self.petition_received(ev)
            return
        lease = timedelta(seconds=self.settings.lease_seconds)
        written = self.store.receive_claiming_many(
            {pid: self._received(ev) for pid, ev in first.items()}, self.clock() + lease)
        # each petition's acknowledgement is its own: sent side by side (one citizen's
        # in order), then all written with one insert, whatever failed meanwhile
        outcomes: list[dict[str, Any]] = []
        try:
            self.together(lambda pid: self._acknowledge(first[pid], *written[pid], outcomes),
                          list(first), key=lambda pid: written[pid][0].get("phone_fp") or pid)
        finally:
            self.store.insert_outcomes(outcomes)
        for ev in again:
            self.petition_received(ev)

    def _received(self, ev: Event) -> tuple[dict[str, Any], dict[str, Any]]:
        """What a ``petition.received`` sets in the read model, and sets only if new."""
        d = ev.data
        contact = d["contact"]
        opened = self.notifier.open_contact(contact.get("contact_token"))
        phone = self.notifier.phone_of(opened)
        return {
            "tracking_code": d["tracking_code"].upper(), "title": d["title"],
            "kind": d.get("kind"), "code_key": domain.code_key_of(d["tracking_code"]),
            "locality": d["locality"], "contact_token": contact.get("contact_token"),
            "consent": bool(contact.get("consent_notifications")),
            "phone_fp": self.notifier.phone_fp(phone) if phone else None,
        }, {"status": d.get("status") or "received", "status_at": d["received_at"]}

    def _acknowledge(self, ev: Event, petition: dict[str, Any], claimed: bool,
                     outcomes: list[dict[str, Any]] | None = None) -> None:
        """The rest of ``petition_received``, from the read model as written."""
        d = ev.data
        pid = d["petition_id"]
        if not petition.get("status"):  # a dialogue listed it before: no insert, no status
            self.store.upsert_petition(pid, {"status": d.get("status") or "received",
                                             "status_at": d["received_at"]})
        # The citizen has just submitted it: the acknowledgement goes at once.
        self.notifier.tell_petitioner(petition, pid, "petition_received", {
            "lookup_url": self.settings.lookup_base_url, "sms_number": self.settings.sms_number,
            "petition_title": d["title"], "received_at": d["received_at"],
            "due_at": d.get("due_date"),
        }, cause_id=ev.id, at_once=claimed, held=claimed, outcomes=outcomes,
            due_at=None if claimed else from_mongo(petition.get("ack_until")))
        # Invitations that waited for this petition's contact go out now (same keys as
        # if they had been created when the dialogue was announced).
        now = self.clock()
        for dialogue_id in petition.get("dialogue_ids") or []:
            dialogue = self.store.dialogue(dialogue_id)
            if dialogue and dialogue.get("status") in UPCOMING and \
                    from_mongo(dialogue["starts_at"]) > now:
                self._invite(dialogue, pid, petition)

    def petition_status(self, status: str):
        """A petition's new status: the one its event carries, else the one its type
        implies (events written before intake put the status in them)."""
        def handle(ev: Event) -> None:
            self._status(ev, status)
        return handle

    def _status(self, ev: Event, status: str) -> None:
        self.store.upsert_petition(ev.data["petition_id"], {
            "status": ev.data.get("status") or status, "status_at": ev.time,
            "locality": ev.data["locality"], "tracking_code": ev.data["tracking_code"].upper(),
            "code_key": domain.code_key_of(ev.data["tracking_code"])})

    def petition_rejected(self, ev: Event) -> None:
        self._status(ev, "rejected")
        d = ev.data
        petition = self.store.petition(d["petition_id"])
        self.notifier.tell_petitioner(petition, d["petition_id"], "petition_rejected", {
            "reason": d["reason"], "lookup_url": self.settings.lookup_base_url,
            "hotline": self.settings.hotline, "petition_title": (petition or {}).get("title"),
        }, cause_id=ev.id, contact=d["contact"])

    def petition_answered(self, ev: Event) -> None:
        self._status(ev, "answered")
        d = ev.data
        petition = self.store.petition(d["petition_id"])
        self.notifier.tell_petitioner(petition, d["petition_id"], "petition_answered", {
            "answer": d["answer"], "lookup_url": self.settings.lookup_base_url,
            "answered_at": d["answered_at"], "petition_title": (petition or {}).get("title"),
        }, cause_id=ev.id, contact=d["contact"], refs={"commitment_id": d.get("commitment_id")})

    # ------------------------------------------------------------ one-time codes

    def code_issued(self, ev: Event) -> None:
        """The one-time code that confirms a dialogue request, by SMS at once. The code
        comes sealed in the contact token; it is never logged nor put on Kafka."""
        d = ev.data
        if domain.expired(d["expires_at"], self.clock()):
            log.info("one-time code already expired; not sent", extra={"event": ev.id})
            return
        opened = self.notifier.open_contact(d["contact"].get("contact_token"))
        phone, code = self.notifier.phone_of(opened), opened.get("code")
        if not phone or not code:
            log.warning("one-time code without a phone or a code", extra={"event": ev.id})
            return
        address = Address("sms", phone, f"request:{d['request_id']}", "petitioner")
        self.notifier.create(address, "dialogue_request_code", {
            "code": str(code), "expires_at": d["expires_at"],
            "commune_name": commune_name(d["locality"])},
            cause_id=ev.id, refs={"locality": d["locality"], "expires_at": d["expires_at"]},
            at_once=True)

    # ------------------------------------------------------------ dialogues

    def _dialogue_fields(self, d: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "status": status, "kind": d["kind"], "level": d["level"], "locality": d["locality"],
            "host": d["host"], "lead_agency_id": d["lead_agency_id"],
            "coordinating_agency_ids": d.get("coordinating_agency_ids", []),
            "format": d["format"], "venue": d.get("venue"), "online_url": d.get("online_url"),
            "starts_at": d["starts_at"], "ends_at": d["ends_at"], "topic": d["topic"],
            "agenda": [item["title"] for item in d.get("agenda", [])],
        }

    def _context(self, dialogue: dict[str, Any]) -> dict[str, Any]:
        ctx = {"topic": dialogue["topic"], "starts_at": dialogue["starts_at"],
               "ends_at": dialogue.get("ends_at"), "host": host_name(dialogue.get("host")),
               "venue": dialogue.get("venue"), "online_url": dialogue.get("online_url"),
               "format": dialogue.get("format"), "kind": dialogue.get("kind")}
        if self.settings.dialogue_base_url:
            ctx["dialogue_url"] = f"{self.settings.dialogue_base_url.rstrip('/')}/{dialogue['_id']}"
        return ctx

    def _invite(self, dialogue: dict[str, Any], pid: str, petition: dict[str, Any]) -> None:
        """Invitation and reminders for one petitioner, keyed to the announcement."""
        self.notifier.tell_petitioner(petition, pid, "dialogue_invitation",
                                      self._context(dialogue),
                                      cause_id=dialogue["announce_event_id"], kind="invitee",
                                      refs={"dialogue_id": dialogue["_id"]})
        self._remind(dialogue, {pid: petition})

    def _remind(self, dialogue: dict[str, Any], petitions: dict[str, Any]) -> None:
        starts_at = dialogue["starts_at"]
        ctx = self._context(dialogue)
        for hours, due in domain.reminder_times(starts_at, self.settings.reminder_offsets,
                                                self.clock()):
            for pid, petition in petitions.items():
                self.notifier.tell_petitioner(
                    petition, pid, "dialogue_reminder", {**ctx, "hours_before": hours},
                    cause_id=dialogue.get("cause_event_id") or dialogue["announce_event_id"],
                    key_cause=domain.reminder_cause(dialogue["_id"], starts_at, hours),
                    due_at=due, kind="invitee",
                    refs={"dialogue_id": dialogue["_id"], "starts_at": starts_at,
                          "hours_before": hours})

    def _petitions(self, pids: Iterable[str]) -> dict[str, Any]:
        return {pid: self.store.petition(pid) for pid in pids}

    def _agencies(self, dialogue: dict[str, Any]) -> list[tuple[str, str]]:
        lead = dialogue["lead_agency_id"]
        return [(lead, "lead"), *((a, "coordinating")
                                  for a in dialogue.get("coordinating_agency_ids", [])
                                  if a != lead)]

    def _tell_agencies(self, dialogue: dict[str, Any], template: str, ctx: dict[str, Any],
                       cause_id: str) -> None:
        for agency, _role in self._agencies(dialogue):
            self.directory.tell(agency_entry_id(agency), "agency", template, ctx,
                                cause_id=cause_id, refs={"dialogue_id": dialogue["_id"],
                                                         "locality": dialogue["locality"]})

    def dialogue_announced(self, ev: Event) -> None:
        d = ev.data
        fields = {**self._dialogue_fields(d, "announced"), "announce_event_id": ev.id,
                  "cause_event_id": ev.id}
        self.store.save_dialogue(d["dialogue_id"], fields, ev.time, d.get("petition_ids", []))
        dialogue = self.store.dialogue(d["dialogue_id"])
        if dialogue.get("status") == "cancelled":
            return  # a late replay: the dialogue is already off
        for pid in d.get("petition_ids", []):
            # Noted on the petition first, so a contact that arrives later invites it.
            self._invite(dialogue, pid, self.store.listed_on(pid, dialogue["_id"]))
        ctx = self._context(dialogue)
        lead_name = self.directory.agency_name(dialogue["lead_agency_id"])
        for agency, role in self._agencies(dialogue):
            self.directory.tell(agency_entry_id(agency), "agency", "dialogue_agency_notice", {
                **ctx, "agency_name": self.directory.agency_name(agency), "role": role,
                "lead_agency": lead_name, "agenda": dialogue.get("agenda", []),
            }, cause_id=ev.id, refs={"dialogue_id": dialogue["_id"],
                                     "locality": dialogue["locality"]})

    def dialogue_rescheduled(self, ev: Event) -> None:
        d = ev.data
        before = self.store.dialogue(d["dialogue_id"]) or {}
        invited = list(before.get("petition_ids", []))
        fields = {**self._dialogue_fields(d, "rescheduled"), "cause_event_id": ev.id}
        if not before.get("announce_event_id"):
            fields["announce_event_id"] = ev.id  # the announcement never reached us
        fresh = self.store.save_dialogue(d["dialogue_id"], fields, ev.time,
                                         d.get("petition_ids", []))
        dialogue = self.store.dialogue(d["dialogue_id"])
        if fresh:
            self.store.cancel_waiting(
                {"dialogue_id": d["dialogue_id"], "template": "dialogue_reminder",
                 "starts_at": {"$ne": d["starts_at"]}}, "dialogue rescheduled", self.clock())
        ctx = {**self._context(dialogue), "old_starts_at": d["previous_starts_at"],
               "new_starts_at": d["starts_at"], "reason": d.get("reason")}
        petitions = self._petitions(invited)
        for pid, petition in petitions.items():
            self.notifier.tell_petitioner(petition, pid, "dialogue_rescheduled", ctx,
                                          cause_id=ev.id, kind="invitee",
                                          refs={"dialogue_id": dialogue["_id"]})
        if fresh:
            self._remind(dialogue, petitions)
            for pid in d.get("petition_ids", []):
                if pid not in invited:
                    self._invite(dialogue, pid, self.store.listed_on(pid, dialogue["_id"]))
        self._tell_agencies(dialogue, "dialogue_rescheduled", ctx, ev.id)

    def dialogue_cancelled(self, ev: Event) -> None:
        d = ev.data
        before = self.store.dialogue(d["dialogue_id"]) or {}
        invited = list(dict.fromkeys([*before.get("petition_ids", []),
                                      *d.get("petition_ids", [])]))
        self.store.set_dialogue(d["dialogue_id"], {**self._dialogue_fields(d, "cancelled"),
                                                   "facts_at": ev.time})
        # Nothing more about this dialogue goes out: reminders, unsent invitations.
        self.store.cancel_waiting({"dialogue_id": d["dialogue_id"],
                                   "template": {"$in": sorted(domain.DIALOGUE_TEMPLATES)}},
                                  "dialogue cancelled", self.clock())
        dialogue = self.store.dialogue(d["dialogue_id"])
        ctx = {**self._context(dialogue), "reason": d["reason"]}
        for pid, petition in self._petitions(invited).items():
            self.notifier.tell_petitioner(petition, pid, "dialogue_cancelled", ctx,
                                          cause_id=ev.id, kind="invitee",
                                          refs={"dialogue_id": dialogue["_id"]})
        self._tell_agencies(dialogue, "dialogue_cancelled", ctx, ev.id)

    def dialogue_held(self, ev: Event) -> None:
        self.store.set_dialogue(ev.data["dialogue_id"], {"held_at": ev.data["held_at"]})
        self._complete_commitments(ev.data["dialogue_id"])

    def dialogue_concluded(self, ev: Event) -> None:
        d = ev.data
        self.store.set_dialogue(d["dialogue_id"], {
            "held_at": d["held_at"], "notice_number": d["notice_number"],
            "concluded_topic": d["topic"], "concluded_host": d["host"]})
        self._complete_commitments(d["dialogue_id"])

    def dialogue_required(self, ev: Event) -> None:
        d = ev.data
        locality = d["locality"]
        ctx = {"commune_name": commune_name(locality) or f"Xã {locality.get('ward_code')}",
               "requesters": d["requester_count"], "threshold": d["threshold"],
               "voters": d["voter_count"], "year": d["year"],
               "request_topic": "; ".join(d.get("topics", [])) or None}
        for role in ("secretariat", "front"):
            entry = self.directory.locality_entry(locality, role)
            if entry:
                self.directory.tell(entry, role, "dialogue_required", ctx, cause_id=ev.id,
                                    refs={"locality": locality})
