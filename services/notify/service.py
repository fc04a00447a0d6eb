"""The service layer: what notify does with each event, inbound SMS and officer command.

Every effect is a notification document keyed by (cause, recipient, template) with a
unique index, so handling an event twice creates nothing new. The sender job then
claims due notifications one by one (``send_due``) and records each attempt.

Events from different topics are not ordered among themselves, so two waits are built in
rather than retrying handlers (a retried handler would stall the whole consumer):

- a dialogue may be announced before a petition's contact reaches us. The dialogue read
  model keeps its ``petition_ids``; when ``petition.received`` arrives, every upcoming
  dialogue listing that petition invites it then, under the same key (the announcement's
  event id) as if it had been invited at once, so nothing is sent twice;
- ``commitment.assigned`` may come before the dialogue's facts; its e-mail is held
  (``deferred``, 10 minutes) and completed by ``dialogue.concluded``/``held``, or sent with
  what the commitment says if they never come.

At the provider boundary delivery is at least once (a sender may crash after the provider
took the message and before we recorded it; its lease then expires and another sender
retries). The notification id goes to the provider as its idempotency key, so a gateway
that honours it (the generic gateway, Twilio) drops the copy.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common import phones
from services.common.auth import Principal
from services.common.clock import vn_today
from services.common.crypto import CryptoError, mask_email, unseal
from services.common.errors import Conflict, NotFound
from services.common.events import Event, new_event
from services.common.kit import Kit
from services.common.localities import UnknownLocality, ward
from services.common.outbox import Outbox, stage
from services.common.ratelimit import RateLimiter
from services.common.workdays import working_days_between
from services.notify import domain, zns
from services.notify.channels import PermanentError, SmsProvider, SmtpSender, TransientError
from services.notify.domain import (
    CANCELLED,
    DEFERRED,
    DELIVERED,
    FAILED,
    PENDING,
    SENT,
    UNDELIVERED,
    Address,
    Command,
)
from services.notify.providers import ZnsSender
from services.notify.settings import NotifySettings
from services.notify.store import Store
from services.notify.templates import TemplateError, render

log = logging.getLogger(__name__)

ROLES = ("host", "secretariat", "front")


@dataclass
class Senders:
    email: SmtpSender
    sms: SmsProvider
    zalo: ZnsSender | None = None


def mask(address: Address | str, channel: str) -> str:
    to = address.to if isinstance(address, Address) else address
    return mask_email(to) if channel == "email" else phones.mask(to)


def agency_entry_id(agency_id: str) -> str:
    return f"agency:{agency_id}"


def locality_entry_id(province_code: str, ward_code: str | None, role: str) -> str:
    return f"locality:{province_code}:{ward_code or '-'}:{role}"


def _host(host: dict[str, Any] | None) -> str | None:
    if not host:
        return None
    return f"{host.get('title', '')} {host.get('name', '')}".strip() or None


class NotifyService:
    def __init__(self, kit: Kit, settings: NotifySettings, store: Store, senders: Senders,
                 outbox: Outbox) -> None:
        self.kit = kit
        self.settings = settings
        self.store = store
        self.senders = senders
        self.outbox = outbox
        self.clock = kit.clock
        self.limiters = {
            "sms": RateLimiter(kit.db, settings.sms_rate_per_minute, 60, kit.clock),
            "email": RateLimiter(kit.db, settings.email_rate_per_minute, 60, kit.clock),
            "zalo": RateLimiter(kit.db, settings.sms_rate_per_minute, 60, kit.clock),
        }
        self.zns_map = settings.zns_map

    # ================================================================ contacts

    def open_contact(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return unseal(self.settings.contact_private_keys, token)
        except CryptoError:
            log.warning("contact token cannot be opened")
            return {}

    def _phone_of(self, contact: dict[str, Any]) -> str | None:
        try:
            return phones.normalize(str(contact["phone"])) if contact.get("phone") else None
        except phones.InvalidPhone:
            return None

    def _phone_fp(self, phone: str) -> str:
        return self.kit.keys.fingerprint("phone:" + phone)

    def directory_contact(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self.kit.keys.decrypt_json(entry["contact_enc"], entry["_id"])

    # ================================================================ creating notifications

    def _create(self, address: Address, template: str, context: dict[str, Any], *,
                cause_id: str, key_cause: str | None = None, due_at: datetime | None = None,
                refs: dict[str, Any] | None = None, hold_until: datetime | None = None) -> bool:
        """One notification for one address; False when its key already exists."""
        now = self.clock()
        zns_part: dict[str, Any] | None = None
        if address.channel == "zalo":
            zns_part = self._zns_part(template, {"platform_name": self.settings.platform_name,
                                                 **context})
            if zns_part is None:  # no ZNS form for this message, or Zalo is off: SMS
                address = Address("sms", address.to, address.recipient, address.kind,
                                  address.name)
        key = domain.notification_key(key_cause or cause_id,
                                      f"{address.recipient}/{address.channel}", template)
        doc_id = domain.notification_id(key)
        context = {"platform_name": self.settings.platform_name, **context}
        if address.kind != "petitioner" and address.kind != "invitee" and address.name:
            context.setdefault("recipient_name", address.name)
        doc: dict[str, Any] = {
            "_id": doc_id, "key": key, "cause_event_id": cause_id, "template": template,
            "channel": address.channel, "recipient": address.recipient,
            "recipient_kind": address.kind,
            "to_enc": self.kit.keys.encrypt(address.to, doc_id),
            "to_masked": mask(address, address.channel),
            "petition_id": None, "dialogue_id": None, "commitment_id": None, "locality": None,
            "urgent": domain.urgent(template, now, context.get("received_at")),
            "attempts": [], "attempt_count": 0,
            "attempt_base": 0, "due_at": due_at or now, "created_at": now, "updated_at": now,
            "reason": None, "sent_at": None, **(refs or {}),
        }
        events: list[Event] = []
        try:
            # A Zalo message keeps the SMS text it falls back to.
            rendered = render(template, "sms" if zns_part else address.channel, context)
            if zns_part:
                doc["zns"] = zns_part
            doc.update(state=PENDING, subject=rendered.subject, text=rendered.text,
                       html=rendered.html, segments=rendered.segments,
                       recipient_name=context.get("recipient_name"))
            if template in domain.CODES:
                # The code is kept encrypted; what officers see has it masked.
                doc["text_enc"] = self.kit.keys.encrypt(rendered.text, doc_id)
                doc["text"] = render(template, address.channel,
                                     {**context, "code": domain.MASK}).text
            if hold_until:
                doc.update(state=DEFERRED, due_at=hold_until, reason="waiting for dialogue facts")
        except TemplateError as exc:
            # Kept as a failed notification so officers see what could not be said.
            # A code template's error could quote the code: say only that it failed.
            error = "cannot render" if template in domain.CODES else str(exc)
            log.warning("template failed", extra={"template": template, "error": error})
            doc.update(state=FAILED, reason=f"template: {error}", subject=None, text=None,
                       html=None, segments=None)
            events.append(self._delivery_event("notification.failed", doc, now,
                                               reason=doc["reason"]))
        created = self.store.insert_notification(doc, events, now)
        if created and events:
            self.outbox.flush(self.store.notifications, doc_id)
        return created

    def _zns_part(self, template: str, context: dict[str, Any]) -> dict[str, Any] | None:
        spec = self.zns_map.get(template)
        if not (self.settings.zalo_zns and self.senders.zalo and spec):
            return None
        data = zns.template_data(spec, context)
        return None if data is None else {"template_id": spec.template_id, "data": data}

    def _tell_petitioner(self, petition_id: str, template: str, context: dict[str, Any], *,
                         cause_id: str, key_cause: str | None = None,
                         due_at: datetime | None = None, kind: str = "petitioner",
                         contact: dict[str, Any] | None = None,
                         refs: dict[str, Any] | None = None) -> int:
        """Tell one petitioner, over every channel they gave, if they agreed and did not stop."""
        petition = self.store.petition(petition_id) or {}
        if contact is None:
            token, consent = petition.get("contact_token"), petition.get("consent", False)
        else:
            token = contact.get("contact_token") or petition.get("contact_token")
            consent = contact.get("consent_notifications", petition.get("consent", False))
        if not token or not consent or self.store.stopped(petition_id):
            return 0
        opened = self.open_contact(token)
        addresses = domain.contact_addresses(opened, f"petition:{petition_id}", kind,
                                             phones.normalize)
        refs = {"petition_id": petition_id, "locality": petition.get("locality"), **(refs or {})}
        context = {"tracking_code": petition.get("tracking_code"),
                   "petition_kind": petition.get("kind"), **context}
        return sum(self._create(a, template, context, cause_id=cause_id, key_cause=key_cause,
                                due_at=due_at, refs=refs) for a in addresses)

    def _tell_directory(self, entry_id: str, kind: str, template: str,
                        context: dict[str, Any], *, cause_id: str,
                        refs: dict[str, Any] | None = None,
                        hold_until: datetime | None = None) -> int:
        entry = self.store.directory_entry(entry_id)
        if entry is None:
            log.warning("no directory entry; nobody to tell",
                        extra={"entry": entry_id, "template": template})
            return 0
        addresses = domain.directory_addresses(entry, self.directory_contact(entry),
                                               entry_id, kind)
        return sum(self._create(a, template, context, cause_id=cause_id, refs=refs,
                                hold_until=hold_until) for a in addresses)

    def _agency_name(self, agency_id: str) -> str:
        entry = self.store.directory_entry(agency_entry_id(agency_id))
        return (entry or {}).get("name") or agency_id

    def _locality_entry(self, locality: dict[str, Any], role: str) -> str | None:
        """The commune's entry for ``role``, else the province's."""
        for ward_code in (locality.get("ward_code"), None):
            entry_id = locality_entry_id(locality["province_code"], ward_code, role)
            if self.store.directory_entry(entry_id):
                return entry_id
        return None

    # ================================================================ petitions

    def petition_received(self, ev: Event) -> None:
        d = ev.data
        pid, contact = d["petition_id"], d["contact"]
        opened = self.open_contact(contact.get("contact_token"))
        phone = self._phone_of(opened)
        self.store.upsert_petition(pid, {
            "tracking_code": d["tracking_code"].upper(), "title": d["title"],
            "kind": d.get("kind"),
            "code_key": domain.code_key_of(d["tracking_code"]),
            "locality": d["locality"], "contact_token": contact.get("contact_token"),
            "consent": bool(contact.get("consent_notifications")),
            "phone_fp": self._phone_fp(phone) if phone else None,
        }, on_insert={"status": "received", "status_at": d["received_at"]})
        self._tell_petitioner(pid, "petition_received", {
            "lookup_url": self.settings.lookup_base_url, "sms_number": self.settings.sms_number,
            "petition_title": d["title"], "received_at": d["received_at"],
            "due_at": d.get("due_date"),
        }, cause_id=ev.id)
        # Invitations that waited for this petition's contact go out now (same keys as
        # if they had been created when the dialogue was announced).
        for dialogue in self.store.dialogues_awaiting(pid, self.clock()):
            self._invite(dialogue, pid)

    def petition_status(self, status: str):
        def handle(ev: Event) -> None:
            fields: dict[str, Any] = {"status": status, "status_at": ev.time,
                                      "locality": ev.data["locality"],
                                      "tracking_code": ev.data["tracking_code"].upper(),
                                      "code_key": domain.code_key_of(ev.data["tracking_code"])}
            self.store.upsert_petition(ev.data["petition_id"], fields)
        return handle

    def petition_rejected(self, ev: Event) -> None:
        self.petition_status("rejected")(ev)
        d = ev.data
        self._tell_petitioner(d["petition_id"], "petition_rejected", {
            "reason": d["reason"], "lookup_url": self.settings.lookup_base_url,
            "hotline": self.settings.hotline,
            "petition_title": (self.store.petition(d["petition_id"]) or {}).get("title"),
        }, cause_id=ev.id, contact=d["contact"])

    def petition_answered(self, ev: Event) -> None:
        self.petition_status("answered")(ev)
        d = ev.data
        self._tell_petitioner(d["petition_id"], "petition_answered", {
            "answer": d["answer"], "lookup_url": self.settings.lookup_base_url,
            "answered_at": d["answered_at"],
            "petition_title": (self.store.petition(d["petition_id"]) or {}).get("title"),
        }, cause_id=ev.id, contact=d["contact"], refs={"commitment_id": d.get("commitment_id")})

    # ================================================================ dialogues

    def _dialogue_fields(self, d: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "status": status, "kind": d["kind"], "level": d["level"], "locality": d["locality"],
            "host": d["host"], "lead_agency_id": d["lead_agency_id"],
            "coordinating_agency_ids": d.get("coordinating_agency_ids", []),
            "format": d["format"], "venue": d.get("venue"), "online_url": d.get("online_url"),
            "starts_at": d["starts_at"], "ends_at": d["ends_at"], "topic": d["topic"],
            "agenda": [item["title"] for item in d.get("agenda", [])],
        }

    def _dialogue_context(self, dialogue: dict[str, Any]) -> dict[str, Any]:
        ctx = {"topic": dialogue["topic"], "starts_at": dialogue["starts_at"],
               "ends_at": dialogue.get("ends_at"), "host": _host(dialogue.get("host")),
               "venue": dialogue.get("venue"), "online_url": dialogue.get("online_url"),
               "format": dialogue.get("format"), "kind": dialogue.get("kind")}
        if self.settings.dialogue_base_url:
            ctx["dialogue_url"] = f"{self.settings.dialogue_base_url.rstrip('/')}/{dialogue['_id']}"
        return ctx

    def _dialogue_refs(self, dialogue: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"dialogue_id": dialogue["_id"], **extra}

    def _invite(self, dialogue: dict[str, Any], petition_id: str) -> None:
        """Invitation and reminders for one petitioner, keyed to the announcement."""
        ctx = self._dialogue_context(dialogue)
        cause = dialogue["announce_event_id"]
        self._tell_petitioner(petition_id, "dialogue_invitation", ctx, cause_id=cause,
                              kind="invitee", refs=self._dialogue_refs(dialogue))
        self._remind(dialogue, [petition_id])

    def _remind(self, dialogue: dict[str, Any], petition_ids: Iterable[str]) -> None:
        starts_at = dialogue["starts_at"]
        ctx = self._dialogue_context(dialogue)
        for hours, due in domain.reminder_times(starts_at, self.settings.reminder_offsets,
                                                self.clock()):
            for pid in petition_ids:
                self._tell_petitioner(
                    pid, "dialogue_reminder", {**ctx, "hours_before": hours},
                    cause_id=dialogue.get("cause_event_id") or dialogue["announce_event_id"],
                    key_cause=domain.reminder_cause(dialogue["_id"], starts_at, hours),
                    due_at=due, kind="invitee",
                    refs=self._dialogue_refs(dialogue, starts_at=starts_at,
                                             hours_before=hours))

    def _agencies(self, dialogue: dict[str, Any]) -> list[tuple[str, str]]:
        lead = dialogue["lead_agency_id"]
        return [(lead, "lead"), *((a, "coordinating")
                                  for a in dialogue.get("coordinating_agency_ids", [])
                                  if a != lead)]

    def dialogue_announced(self, ev: Event) -> None:
        d = ev.data
        fields = {**self._dialogue_fields(d, "announced"), "announce_event_id": ev.id,
                  "cause_event_id": ev.id}
        self.store.save_dialogue(d["dialogue_id"], fields, ev.time, d.get("petition_ids", []))
        dialogue = self.store.dialogue(d["dialogue_id"])
        if dialogue.get("status") == "cancelled":
            return  # a late replay: the dialogue is already off
        for pid in d.get("petition_ids", []):
            self._invite(dialogue, pid)
        ctx = self._dialogue_context(dialogue)
        lead_name = self._agency_name(dialogue["lead_agency_id"])
        for agency, role in self._agencies(dialogue):
            self._tell_directory(agency_entry_id(agency), "agency", "dialogue_agency_notice", {
                **ctx, "agency_name": self._agency_name(agency), "role": role,
                "lead_agency": lead_name, "agenda": dialogue.get("agenda", []),
            }, cause_id=ev.id, refs=self._dialogue_refs(dialogue,
                                                         locality=dialogue["locality"]))

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
        ctx = {**self._dialogue_context(dialogue), "old_starts_at": d["previous_starts_at"],
               "new_starts_at": d["starts_at"], "reason": d.get("reason")}
        for pid in invited:
            self._tell_petitioner(pid, "dialogue_rescheduled", ctx, cause_id=ev.id,
                                  kind="invitee", refs=self._dialogue_refs(dialogue))
        if fresh:
            self._remind(dialogue, invited)
            for pid in d.get("petition_ids", []):
                if pid not in invited:
                    self._invite(dialogue, pid)
        for agency, _role in self._agencies(dialogue):
            self._tell_directory(agency_entry_id(agency), "agency", "dialogue_rescheduled",
                                 ctx, cause_id=ev.id,
                                 refs=self._dialogue_refs(dialogue, locality=d["locality"]))

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
        ctx = {**self._dialogue_context(dialogue), "reason": d["reason"]}
        for pid in invited:
            self._tell_petitioner(pid, "dialogue_cancelled", ctx, cause_id=ev.id,
                                  kind="invitee", refs=self._dialogue_refs(dialogue))
        for agency, _role in self._agencies(dialogue):
            self._tell_directory(agency_entry_id(agency), "agency", "dialogue_cancelled", ctx,
                                 cause_id=ev.id,
                                 refs=self._dialogue_refs(dialogue, locality=d["locality"]))

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
        try:
            commune = ward(locality["ward_code"]).name if locality.get("ward_code") else None
        except UnknownLocality:
            commune = None
        ctx = {"commune_name": commune or f"Xã {locality.get('ward_code')}",
               "requesters": d["requester_count"], "threshold": d["threshold"],
               "voters": d["voter_count"], "year": d["year"],
               "request_topic": "; ".join(d.get("topics", [])) or None}
        for role in ("secretariat", "front"):
            entry = self._locality_entry(locality, role)
            if entry:
                self._tell_directory(entry, role, "dialogue_required", ctx, cause_id=ev.id,
                                     refs={"locality": locality})

    # ================================================================ one-time codes

    def code_issued(self, ev: Event) -> None:
        """The one-time code that confirms a dialogue request, by SMS at once. The code
        comes sealed in the contact token; it is never logged nor put on Kafka."""
        d = ev.data
        if domain.expired(d["expires_at"], self.clock()):
            log.info("one-time code already expired; not sent", extra={"event": ev.id})
            return
        opened = self.open_contact(d["contact"].get("contact_token"))
        phone, code = self._phone_of(opened), opened.get("code")
        if not phone or not code:
            log.warning("one-time code without a phone or a code", extra={"event": ev.id})
            return
        locality = d["locality"]
        try:
            commune = ward(locality["ward_code"]).name if locality.get("ward_code") else None
        except UnknownLocality:
            commune = None
        address = Address("sms", phone, f"request:{d['request_id']}", "petitioner")
        self._create(address, "dialogue_request_code",
                     {"code": str(code), "expires_at": d["expires_at"], "commune_name": commune},
                     cause_id=ev.id, refs={"locality": locality, "expires_at": d["expires_at"]})

    # ================================================================ commitments

    def _commitment_context(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"agency_name": self._agency_name(d["agency_id"]), "conclusion": d["text"],
                "deadline": d["deadline"]}

    def _commitment_refs(self, d: dict[str, Any]) -> dict[str, Any]:
        return {"commitment_id": d["commitment_id"], "dialogue_id": d["dialogue_id"],
                "locality": d["locality"]}

    def _dialogue_part(self, dialogue: dict[str, Any], host: dict[str, Any] | None,
                       fallback_day: datetime) -> dict[str, Any]:
        return {"dialogue_topic": dialogue.get("concluded_topic") or dialogue.get("topic")
                or "đối thoại với Nhân dân",
                "dialogue_date": dialogue.get("held_at") or dialogue.get("starts_at")
                or fallback_day,
                "notice_number": dialogue.get("notice_number"),
                "host": _host(host or dialogue.get("concluded_host") or dialogue.get("host"))}

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
               "coordinating_agencies": [self._agency_name(a)
                                         for a in d.get("coordinating_agency_ids", [])],
               "petitions_count": len(d.get("petition_ids", [])) or None,
               "commitment_host": d.get("host"), "fallback_day": ev.time,
               "notice_number": d.get("notice_number")}
        dialogue_part = self._dialogue_part(dialogue, d.get("host"), ev.time)
        dialogue_part["notice_number"] = d.get("notice_number") or dialogue_part["notice_number"]
        refs = self._commitment_refs(d)
        hold = None
        if not known:
            refs.update(awaiting_dialogue=True, context=ctx)
            hold = self.clock() + timedelta(minutes=10)
        self._tell_directory(agency_entry_id(d["agency_id"]), "agency", "commitment_assigned",
                             {**ctx, **dialogue_part}, cause_id=ev.id, refs=refs,
                             hold_until=hold)

    def _complete_commitments(self, dialogue_id: str) -> None:
        """Finish the commitment e-mails that waited for this dialogue's facts."""
        dialogue = self.store.dialogue(dialogue_id) or {}
        now = self.clock()
        for doc in self.store.notifications.find({"dialogue_id": dialogue_id,
                                                  "template": "commitment_assigned",
                                                  "state": DEFERRED, "awaiting_dialogue": True}):
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
            self.store.notifications.update_one(
                {"_id": doc["_id"], "state": DEFERRED, "awaiting_dialogue": True},
                {"$set": {"subject": rendered.subject, "text": rendered.text,
                          "html": rendered.html, "state": PENDING, "due_at": now,
                          "awaiting_dialogue": False, "reason": None, "updated_at": now}})

    def commitment_deadline_approaching(self, ev: Event) -> None:
        d = ev.data
        ctx = {**self._commitment_context(d), "days_left": d["working_days_left"]}
        self._tell_directory(agency_entry_id(d["agency_id"]), "agency",
                             "commitment_deadline_approaching", ctx, cause_id=ev.id,
                             refs=self._commitment_refs(d))

    def commitment_overdue(self, ev: Event) -> None:
        d = ev.data
        # Counted in working days, as the law counts deadlines and the message says.
        late = max(1, working_days_between(d["deadline"], vn_today(ev.time)))
        ctx = {**self._commitment_context(d), "days_late": late}
        self._tell_directory(agency_entry_id(d["agency_id"]), "agency", "commitment_overdue",
                             ctx, cause_id=ev.id, refs=self._commitment_refs(d))

    def commitment_escalated(self, ev: Event) -> None:
        d = ev.data
        for role in ("host", "front"):
            entry_id = self._locality_entry(d["locality"], role)
            if entry_id is None:
                log.warning("no %s in the directory for an escalation", role)
                continue
            entry = self.store.directory_entry(entry_id) or {}
            to = _host(d.get("host")) if role == "host" else None
            ctx = {**self._commitment_context(d), "days_late": d["working_days_late"],
                   "level": d["level"], "escalated_to": to or entry.get("name") or role}
            self._tell_directory(entry_id, role, "commitment_escalated", ctx, cause_id=ev.id,
                                 refs=self._commitment_refs(d))

    # ================================================================ inbound SMS

    def inbound_sms(self, sender: str, text: str, message_id: str | None) -> str:
        """Answer one inbound SMS through the normal pipeline; return the reply template."""
        try:
            phone = phones.normalize(sender)
        except phones.InvalidPhone:
            phone = sender.strip()
        now = self.clock()
        if not message_id:
            # Without the gateway's id, the same text from the same phone in the same
            # minute is taken as one message (gateways retry webhooks).
            window = int(now.timestamp()) // 60
            message_id = hashlib.sha256(f"{phone}|{text}|{window}".encode()).hexdigest()[:32]
        command = domain.parse_command(text)
        fp = self._phone_fp(phone)
        base = {"sms_number": self.settings.sms_number,
                "platform_name": self.settings.platform_name}
        refs: dict[str, Any] = {}
        if command.verb == "status":
            petition = self.store.petition_by_code(command.code or "")
            template = "sms_status_reply"
            ctx = {**base, "tracking_code": (petition or {}).get("tracking_code") or command.code,
                   "lookup_url": self.settings.lookup_base_url}
            if petition and petition.get("status"):
                ctx.update(status=petition["status"], updated_at=petition.get("status_at"),
                           petition_kind=petition.get("kind"))
                refs = {"petition_id": petition["_id"], "locality": petition.get("locality")}
        elif command.verb == "stop":
            template = "sms_stop_reply"
            ctx, refs = self._stop(command, phone, fp, now)
            ctx = {**base, **ctx}
        else:
            template = "sms_help_reply"
            ctx = {**base, "hotline": self.settings.hotline,
                   "lookup_url": self.settings.lookup_base_url}
        address = Address("sms", phone, f"phone:{fp}", "petitioner")
        self._create(address, template, ctx, cause_id=f"sms-in:{message_id}", refs=refs)
        return template

    def _stop(self, command: Command, phone: str, fp: str,
              now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        if command.code is None:
            self.store.stop_petitions({"phone_fp": fp}, now)
            self.store.cancel_waiting({"petition_id": {"$in": self._petitions_of(fp)},
                                       "template": {"$nin": sorted(domain.REPLIES)}},
                                      "stopped by recipient", now)
            return {"tracking_code": None}, {}
        petition = self.store.petition_by_code(command.code)
        if petition is None or not self._same_phone(petition, phone):
            return {"tracking_code": command.code, "found": False}, {}
        self.store.stop_petitions({"_id": petition["_id"]}, now)
        # Replies already written to this person (a TT just before) still go.
        self.store.cancel_waiting({"petition_id": petition["_id"],
                                   "template": {"$nin": sorted(domain.REPLIES)}},
                                  "stopped by recipient", now)
        return ({"tracking_code": petition.get("tracking_code") or command.code,
                 "petition_kind": petition.get("kind")},
                {"petition_id": petition["_id"], "locality": petition.get("locality")})

    def _petitions_of(self, fp: str) -> list[str]:
        return [p["_id"] for p in self.store.petitions.find({"phone_fp": fp}, {"_id": 1})]

    def _same_phone(self, petition: dict[str, Any], phone: str) -> bool:
        """Only the petitioner's own phone may stop messages about a petition."""
        opened = self.open_contact(petition.get("contact_token"))
        return self._phone_of(opened) == phone

    # ================================================================ sending

    def send_due(self, limit: int = 200) -> int:
        """Send every notification due now (up to ``limit``); return how many were handled."""
        handled = 0
        lease = timedelta(seconds=self.settings.lease_seconds)
        while handled < limit:
            claimed = 0
            notes = self.store.notifications
            for doc_id, state, field in self.store.due(self.clock(), limit - handled):
                # The claim is a conditional find_one_and_update: a notification another
                # sender took meanwhile no longer matches, and is skipped.
                token = uuid.uuid4().hex
                doc = self.store.claim_one(doc_id, state, field, self.clock(), lease, token)
                if doc is None:
                    continue  # another sender took it
                claimed += 1
                fallback = None
                try:
                    fallback = self._deliver(doc, token, notes)
                except Exception:
                    # Left in "sending": the lease runs out and another pass retries.
                    log.exception("delivery crashed", extra={"notification": doc["_id"]})
                handled += 1
                if fallback:
                    self._fallback(*fallback)
            if not claimed:
                break
        return handled

    def _deliver(self, doc: dict[str, Any], token: str,
                 notes: Any) -> tuple[dict[str, Any], str] | None:
        """Send one claimed notification; returns (Zalo message, reason) when it failed
        for good and its SMS fallback is due."""
        now = self.clock()
        channel, template = doc["channel"], doc["template"]
        if (template not in domain.REPLIES and doc.get("petition_id")
                and self.store.stopped(doc["petition_id"])):
            self._finish(doc, token, notes, {"state": CANCELLED, "reason": "stopped by recipient"})
            return
        if domain.expired(doc.get("expires_at"), now):
            self._finish(doc, token, notes, {"state": CANCELLED, "reason": "expired"})
            return
        if template == "dialogue_reminder" and domain.reminder_stale(
                doc["starts_at"], doc["hours_before"], self.settings.reminder_offsets, now):
            self._finish(doc, token, notes, {"state": CANCELLED, "reason": "reminder too late"})
            return
        quiet = self.settings.quiet_hours
        if channel != "email" and not doc.get("urgent") and domain.in_quiet_hours(now, *quiet):
            self._finish(doc, token, notes, {"state": DEFERRED, "reason": "quiet hours",
                                      "due_at": domain.quiet_hours_end(now, *quiet)})
            return
        provider = {"sms": self.senders.sms.name, "email": self.senders.email.provider,
                    "zalo": self.senders.zalo.name if self.senders.zalo else "zns"}[channel]
        if not self.limiters[channel].allow(f"{channel}:{provider}"):
            window = (int(now.timestamp()) // 60 + 1) * 60
            self._finish(doc, token, notes, {"state": DEFERRED, "reason": "rate limit",
                                      "due_at": datetime.fromtimestamp(window, now.tzinfo)})
            return
        to = self.kit.keys.decrypt(doc["to_enc"], doc["_id"])
        number = doc.get("attempt_count", 0) + 1
        attempt: dict[str, Any] = {"number": number, "at": now, "provider": provider}
        try:
            if channel == "sms":
                text = (self.kit.keys.decrypt(doc["text_enc"], doc["_id"])
                        if doc.get("text_enc") else doc["text"])
                result = self.senders.sms.send(to, text, doc["_id"])
            elif channel == "zalo":
                if self.senders.zalo is None:
                    raise PermanentError("Zalo ZNS is not configured", provider="zns")
                result = self.senders.zalo.send(to, doc["zns"]["template_id"],
                                                doc["zns"]["data"], doc["_id"])
            else:
                result = self.senders.email.send(to, doc["subject"], doc["text"], doc["html"],
                                                 idempotency_key=doc["_id"])
        except (TransientError, PermanentError) as exc:
            transient = isinstance(exc, TransientError)
            attempt.update(outcome="transient" if transient else "permanent",
                           status=exc.status, code=str(exc.code) if exc.code else None,
                           reason=exc.reason)
            outcome = domain.after_failure(
                attempts=number - doc.get("attempt_base", 0),
                limit=self.settings.send_attempts, transient=transient, reason=str(exc),
                now=now, base=self.settings.retry_backoff,
                cap=self.settings.retry_backoff_max, retry_after=exc.retry_after)
            fields: dict[str, Any] = {"state": outcome.state, "reason": outcome.reason}
            if outcome.due_at:
                fields["due_at"] = outcome.due_at
            self._finish(doc, token, notes, fields, attempt=attempt, event=outcome.event)
            if channel == "zalo" and outcome.state == FAILED:
                return doc, f"Zalo: {exc}"
            return None
        attempt.update(outcome="sent", message_id=result.message_id, status=result.status)
        self._finish(doc, token, notes, {"state": SENT, "sent_at": now, "reason": None,
                                  "provider_message_id": result.message_id},
                     attempt=attempt, event="notification.sent")

    def _finish(self, doc: dict[str, Any], token: str, notes: Any, fields: dict[str, Any], *,
                attempt: dict[str, Any] | None = None, event: str | None = None) -> None:
        now = self.clock()
        update: dict[str, Any] = {"$set": {**fields, "updated_at": now, "lease_until": None,
                                           "lease_token": None}}
        count = doc.get("attempt_count", 0)
        if attempt:
            update["$push"] = {"attempts": attempt}
            update["$inc"] = {"attempt_count": 1}
            count += 1
            update["$set"]["provider"] = attempt["provider"]
        if event:
            merged = {**doc, **fields, "attempt_count": count,
                      "provider": attempt["provider"] if attempt else doc.get("provider")}
            update = stage(update, [self._delivery_event(event, merged, now,
                                                         reason=fields.get("reason"))], now)
        if self.store.finish(doc["_id"], token, update, notes) and event:
            self.outbox.flush(notes, doc["_id"])

    def _delivery_event(self, type_: str, doc: dict[str, Any], now: datetime, *,
                        reason: str | None = None) -> Event:
        data: dict[str, Any] = {
            "notification_id": doc["_id"], "template": doc["template"],
            "channel": doc["channel"], "recipient": doc["to_masked"],
            "recipient_kind": doc["recipient_kind"], "cause_event_id": doc["cause_event_id"],
            "petition_id": doc.get("petition_id"), "dialogue_id": doc.get("dialogue_id"),
            "commitment_id": doc.get("commitment_id"),
            "attempts": doc.get("attempt_count", 0), "provider": doc.get("provider"),
        }
        if type_ == "notification.sent":
            data["sent_at"] = now
        else:
            data.update(reason=reason or "failed", failed_at=now)
        return new_event(type_, doc["_id"], data, source=self.settings.service,
                         event_id=str(uuid.uuid5(uuid.UUID(doc["_id"]),
                                                 f"{type_}/{doc.get('attempt_count', 0)}")),
                         time=now)

    # ================================================================ delivery reports

    def delivery_report(self, provider: str, *, delivered: bool, detail: dict[str, Any],
                        notification_id: str | None = None,
                        message_id: str | None = None) -> dict[str, Any] | None:
        """Record what a provider says became of a message it accepted; None when the
        message is not ours. Reports are repeated (eSMS retries up to 5 times): only the
        first moves the state, the others are kept in the history."""
        query: dict[str, Any] = ({"_id": notification_id} if notification_id
                                 else {"provider_message_id": message_id})
        doc = self.store.notifications.find_one(query)
        if doc is None or not (notification_id or message_id):
            return None
        now = self.clock()
        outcome = DELIVERED if delivered else UNDELIVERED
        report = {"at": now, "provider": provider, "outcome": outcome, **detail}
        fields: dict[str, Any] = {"delivery": outcome, "delivery_at": now, "updated_at": now}
        if delivered:
            fields["delivered_at"] = now
        moved = self.store.notifications.update_one(
            {"_id": doc["_id"], "delivery": None},
            {"$set": fields, "$push": {"reports": report}}).modified_count == 1
        if not moved:
            self.store.notifications.update_one({"_id": doc["_id"]},
                                                {"$push": {"reports": report}})
        elif doc["channel"] == "zalo" and not delivered:
            self._fallback(doc, "Zalo reported the message undelivered")
        return self.store.get_notification(doc["_id"])

    def zns_timeouts(self, limit: int = 200) -> int:
        """ZNS messages with no delivery report in time go by SMS (once)."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.zns_fallback_seconds)
        count = 0
        for doc in self.store.notifications.find(
                {"channel": "zalo", "state": SENT, "delivery": None,
                 "sent_at": {"$lte": cutoff}}).limit(limit):
            reason = f"no delivery report within {self.settings.zns_fallback_seconds} s"
            moved = self.store.notifications.update_one(
                {"_id": doc["_id"], "delivery": None},
                {"$set": {"delivery": UNDELIVERED, "delivery_at": now, "updated_at": now},
                 "$push": {"reports": {"at": now, "provider": "notify", "outcome": UNDELIVERED,
                                       "reason": reason}}}).modified_count == 1
            if moved:
                count += self._fallback(doc, reason)
        return count

    def _fallback(self, doc: dict[str, Any], reason: str) -> bool:
        """The SMS that replaces a Zalo message. Its key is derived from the Zalo
        message's id, so a failure, a timeout and a late report cannot make two."""
        if doc.get("text") is None:
            return False
        now = self.clock()
        key = domain.notification_key(f"fallback:{doc['_id']}", f"{doc['recipient']}/sms",
                                      doc["template"])
        sms_id = domain.notification_id(key)
        to = self.kit.keys.decrypt(doc["to_enc"], doc["_id"])
        keep = ("cause_event_id", "template", "recipient", "recipient_kind", "to_masked",
                "petition_id", "dialogue_id", "commitment_id", "locality", "urgent", "text",
                "segments", "recipient_name", "starts_at", "hours_before")
        fresh: dict[str, Any] = {
            **{k: doc.get(k) for k in keep if k in doc},
            "_id": sms_id, "key": key, "channel": "sms",
            "to_enc": self.kit.keys.encrypt(to, sms_id), "subject": None, "html": None,
            "state": PENDING, "attempts": [], "attempt_count": 0, "attempt_base": 0,
            "due_at": now, "created_at": now, "updated_at": now, "sent_at": None,
            "reason": None, "fallback_of": doc["_id"], "fallback_reason": reason,
        }
        created = self.store.insert_notification(fresh)
        if created:
            self.store.notifications.update_one({"_id": doc["_id"]},
                                                {"$set": {"fallback_id": sms_id}})
            log.info("zalo message falls back to SMS",
                     extra={"notification": doc["_id"], "fallback": sms_id})
        return created

    def delivery_counts(self) -> list[tuple[str, str, int]]:
        """(channel, delivery state, count) over every notification, for /metrics."""
        rows = self.store.notifications.aggregate([
            {"$group": {"_id": {"channel": "$channel", "state": "$state",
                                "delivery": "$delivery"}, "n": {"$sum": 1}}}])
        totals: dict[tuple[str, str], int] = {}
        for row in rows:
            key = row["_id"]
            status = key.get("delivery") or (domain.ACCEPTED if key.get("state") == SENT
                                             else key.get("state"))
            pair = (key.get("channel") or "?", status or "?")
            totals[pair] = totals.get(pair, 0) + row["n"]
        return [(c, s, n) for (c, s), n in sorted(totals.items())]

    # ================================================================ officers

    def retry(self, principal: Principal, notification_id: str) -> dict[str, Any]:
        doc = self.store.get_notification(notification_id)
        if doc is None:
            raise NotFound("no such notification", detail_vi="Không tìm thấy thông báo.")
        if doc["state"] != FAILED or doc.get("text") is None:
            raise Conflict(f"only a failed notification can be retried (it is {doc['state']})",
                           detail_vi="Chỉ gửi lại được thông báo đã gửi không thành công.")
        now = self.clock()
        found = self.store.notifications.update_one(
            {"_id": notification_id, "state": FAILED},
            {"$set": {"state": PENDING, "due_at": now, "updated_at": now, "reason": None,
                      "attempt_base": doc.get("attempt_count", 0)}})
        if found.matched_count != 1:
            raise Conflict("the notification changed meanwhile")
        self.kit.audit.record(principal, "notification.retry", "notification",
                              notification_id, {"previous_reason": doc.get("reason")})
        return self.store.get_notification(notification_id)

    # ================================================================ directory

    def put_directory(self, principal: Principal, entry_id: str, meta: dict[str, Any],
                      contact: dict[str, Any]) -> dict[str, Any]:
        clean = {k: v for k, v in contact.items() if v}
        if clean.get("phone"):
            clean["phone"] = phones.normalize(clean["phone"])
        doc = {**meta, "contact_enc": self.kit.keys.encrypt_json(clean, entry_id),
               "masked_email": mask_email(clean["email"]) if clean.get("email") else None,
               "masked_phone": phones.mask(clean["phone"]) if clean.get("phone") else None,
               "updated_at": self.clock(), "updated_by": principal.sub}
        self.store.put_directory(entry_id, doc)
        self.kit.audit.record(principal, "directory.put", "directory", entry_id,
                              {"name": meta.get("name")})
        return self.directory_view(self.store.directory_entry(entry_id))

    def delete_directory(self, principal: Principal, entry_id: str) -> None:
        if not self.store.delete_directory(entry_id):
            raise NotFound("no such directory entry", detail_vi="Không tìm thấy mục danh bạ.")
        self.kit.audit.record(principal, "directory.delete", "directory", entry_id, {})

    def directory_view(self, entry: dict[str, Any]) -> dict[str, Any]:
        contact = self.directory_contact(entry)
        return {**{k: v for k, v in entry.items() if k != "contact_enc"},
                "id": entry["_id"], "email": contact.get("email"), "phone": contact.get("phone")}
