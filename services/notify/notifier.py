"""Writing notifications: one per (cause, recipient, template), rendered when written.

Every effect of an event or an inbound SMS is a notification document keyed by (cause,
recipient, template) with a unique index, so handling an event twice creates nothing
new. What is written here is sent by ``delivery.Delivery``; a notification the citizen
is waiting for right now (the acknowledgement of what they just submitted, a one-time
code) is written already claimed and sent at once by its writer, without a sender having
to find and claim it first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common import phones
from services.common.crypto import CryptoError, mask_email, unseal
from services.common.events import Event, new_event
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.notify import domain, zns
from services.notify.domain import DEFERRED, FAILED, PENDING, SENDING, Address
from services.notify.settings import NotifySettings
from services.notify.store import Store
from services.notify.templates import TemplateError, render

log = logging.getLogger(__name__)


def mask(address: Address | str, channel: str) -> str:
    to = address.to if isinstance(address, Address) else address
    return mask_email(to) if channel == "email" else phones.mask(to)


@dataclass
class Written:
    """A notification claimed by its writer, to be sent at once: written already, or
    (``stored`` False) to be written with the outcome of sending it, its writer holding
    the claim elsewhere (the petition's acknowledgement, see ``Dispatch``)."""

    doc: dict[str, Any]
    token: str
    stored: bool = True
    # Not stored: where its outcome goes to be written together with others (a poll's
    # acknowledgements, one insert), rather than written at once.
    outcomes: list[dict[str, Any]] | None = None


def delivery_event(source: str, type_: str, doc: dict[str, Any], now: datetime, *,
                   reason: str | None = None) -> Event:
    """``notification.sent``/``failed`` for a notification as it now is. Its id follows
    from the notification and its attempt count, so a repeat is recognisably the same."""
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
    return new_event(type_, doc["_id"], data, source=source,
                     event_id=str(uuid.uuid5(uuid.UUID(doc["_id"]),
                                             f"{type_}/{doc.get('attempt_count', 0)}")),
                     time=now)


class Notifier:
    def __init__(self, kit: Kit, settings: NotifySettings, store: Store, outbox: Outbox, *,
                 zalo_enabled: bool, send_now: Callable[[Written], None] | None,
                 at_once: Callable[[], bool] = lambda: True) -> None:
        self.kit = kit
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.clock = kit.clock
        self.zalo_enabled = zalo_enabled
        self.zns_map = settings.zns_map
        self.send_now = send_now  # Delivery.send_claimed
        self.at_once = at_once  # Delivery.at_once: the providers answer promptly

    # ------------------------------------------------------------ contacts

    def open_contact(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return unseal(self.settings.contact_private_keys, token)
        except CryptoError:
            log.warning("contact token cannot be opened")
            return {}

    @staticmethod
    def phone_of(contact: dict[str, Any]) -> str | None:
        try:
            return phones.normalize(str(contact["phone"])) if contact.get("phone") else None
        except phones.InvalidPhone:
            return None

    def phone_fp(self, phone: str) -> str:
        return self.kit.keys.fingerprint("phone:" + phone)

    # ------------------------------------------------------------ writing

    def create(self, address: Address, template: str, context: dict[str, Any], *,
               cause_id: str, key_cause: str | None = None, due_at: datetime | None = None,
               refs: dict[str, Any] | None = None, hold_until: datetime | None = None,
               at_once: bool = False, held: bool = False,
               outcomes: list[dict[str, Any]] | None = None) -> bool:
        """One notification for one address; False when its key already exists.
        ``at_once``: written claimed and sent now by this caller (then True once written,
        whatever the provider said: the sender's retries take over from there).
        ``held``: the caller holds a claim on the cause itself (the petition's
        acknowledgement), so nobody else writes this notification: it is sent first and
        written once, with the outcome (into ``outcomes``, if given, for the caller to
        write with others)."""
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
        if address.kind not in ("petitioner", "invitee") and address.name:
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
            self._render(doc, template, "sms" if zns_part else address.channel, context)
            if zns_part:
                doc["zns"] = zns_part  # a Zalo message keeps the SMS text it falls back to
            if hold_until:
                doc.update(state=DEFERRED, due_at=hold_until, reason="waiting for dialogue facts")
        except TemplateError as exc:
            # Kept as a failed notification so officers see what could not be said. A
            # code template's error could quote the code: it says only that it failed.
            error = "cannot render" if template in domain.CODES else str(exc)
            log.warning("template failed", extra={"template": template, "error": error})
            doc.update(state=FAILED, reason=f"template: {error}", subject=None, text=None,
                       html=None, segments=None)
            events.append(delivery_event(self.settings.service, "notification.failed", doc,
                                         now, reason=doc["reason"]))
        claim = None
        if (at_once and doc["state"] == PENDING and doc["due_at"] <= now and self.send_now
                and self.at_once()):
            claim = uuid.uuid4().hex
            until = now + timedelta(seconds=self.settings.lease_seconds)
            doc.update(state=SENDING, lease_token=claim, lease_until=until)
        if claim and held:
            self.send_now(Written(doc, claim, stored=False, outcomes=outcomes))
            return True
        created = self.store.insert_notification(doc, events, now)
        if created and events:
            self.outbox.flush(self.store.notifications, doc_id)
        if created and claim:
            self.send_now(Written(doc, claim))
        return created

    def _render(self, doc: dict[str, Any], template: str, channel: str,
                context: dict[str, Any]) -> None:
        rendered = render(template, channel, context)
        doc.update(state=PENDING, subject=rendered.subject, text=rendered.text,
                   html=rendered.html, segments=rendered.segments,
                   recipient_name=context.get("recipient_name"))
        if template in domain.CODES:
            # The code is kept encrypted; what officers see has it masked.
            doc["text_enc"] = self.kit.keys.encrypt(rendered.text, doc["_id"])
            doc["text"] = render(template, channel, {**context, "code": domain.MASK}).text

    def _zns_part(self, template: str, context: dict[str, Any]) -> dict[str, Any] | None:
        spec = self.zns_map.get(template)
        if not (self.settings.zalo_zns and self.zalo_enabled and spec):
            return None
        data = zns.template_data(spec, context)
        return None if data is None else {"template_id": spec.template_id, "data": data}

    def tell_petitioner(self, petition: dict[str, Any] | None, petition_id: str,
                        template: str, context: dict[str, Any], *, cause_id: str,
                        key_cause: str | None = None, due_at: datetime | None = None,
                        kind: str = "petitioner", contact: dict[str, Any] | None = None,
                        refs: dict[str, Any] | None = None, at_once: bool = False,
                        held: bool = False,
                        outcomes: list[dict[str, Any]] | None = None) -> int:
        """Tell one petitioner (``petition``: its read model, already read by the caller)
        over every channel they gave, if they agreed and did not stop."""
        petition = petition or {}
        if contact is None:
            token, consent = petition.get("contact_token"), petition.get("consent", False)
        else:
            token = contact.get("contact_token") or petition.get("contact_token")
            consent = contact.get("consent_notifications", petition.get("consent", False))
        if not token or not consent or petition.get("stopped"):
            return 0
        opened = self.open_contact(token)
        addresses = domain.contact_addresses(opened, f"petition:{petition_id}", kind,
                                             phones.normalize)
        refs = {"petition_id": petition_id, "locality": petition.get("locality"), **(refs or {})}
        context = {"tracking_code": petition.get("tracking_code"),
                   "petition_kind": petition.get("kind"), **context}
        return sum(self.create(a, template, context, cause_id=cause_id, key_cause=key_cause,
                               due_at=due_at, refs=refs, at_once=at_once, held=held,
                               outcomes=outcomes)
                   for a in addresses)
