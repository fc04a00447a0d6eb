"""What comes in: SMS to the platform's number (TT, HUY, anything else) and the
providers' delivery reports."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from services.common import phones
from services.common.clock import from_mongo
from services.notify import domain
from services.notify.delivery import Delivery
from services.notify.domain import DELIVERED, UNDELIVERED, Address, Command
from services.notify.notifier import Notifier
from services.notify.settings import NotifySettings
from services.notify.store import Store

# How long a delivery report waits for its message id to be stored.
HELD_FOR = timedelta(hours=1)


class Inbound:
    def __init__(self, settings: NotifySettings, store: Store, notifier: Notifier,
                 delivery: Delivery) -> None:
        self.settings = settings
        self.store = store
        self.notifier = notifier
        self.delivery = delivery
        self.clock = notifier.clock

    # ------------------------------------------------------------ SMS commands

    def sms(self, sender: str, text: str, message_id: str | None) -> str:
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
        # Codes are read as people type them (case, spaces, no dash, the province
        # prefix or none): the contract's own parser, through domain.parse_command.
        command = domain.parse_command(text)
        fp = self.notifier.phone_fp(phone)
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
                           petition_kind=petition.get("kind"),
                           dialogue_starts_at=self._next_dialogue(petition, now))
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
        self.notifier.create(address, template, ctx, cause_id=f"sms-in:{message_id}", refs=refs)
        return template

    def _next_dialogue(self, petition: dict[str, Any], now: datetime) -> datetime | None:
        """When the petition is on an upcoming dialogue's agenda (what scheduling's
        announcements say; no petition event says it), the reply names its time."""
        starts = []
        for dialogue_id in petition.get("dialogue_ids") or []:
            dialogue = self.store.dialogue(dialogue_id) or {}
            when = from_mongo(dialogue.get("starts_at"))
            if dialogue.get("status") in ("announced", "rescheduled") and when and when > now:
                starts.append(when)
        return min(starts, default=None)

    def _stop(self, command: Command, phone: str, fp: str,
              now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        # Replies already written to this person (a TT just before) still go.
        keep_replies = {"template": {"$nin": sorted(domain.REPLIES)}}
        if command.code is None:
            self.store.stop_petitions({"phone_fp": fp}, now)
            self.store.cancel_waiting({"petition_id": {"$in": self.store.petition_ids_of_phone(fp)},
                                       **keep_replies}, "stopped by recipient", now)
            return {"tracking_code": None}, {}
        petition = self.store.petition_by_code(command.code)
        if petition is None or not self._same_phone(petition, phone):
            return {"tracking_code": command.code, "found": False}, {}
        self.store.stop_petitions({"_id": petition["_id"]}, now)
        self.store.cancel_waiting({"petition_id": petition["_id"], **keep_replies},
                                  "stopped by recipient", now)
        return ({"tracking_code": petition.get("tracking_code") or command.code,
                 "petition_kind": petition.get("kind")},
                {"petition_id": petition["_id"], "locality": petition.get("locality")})

    def _same_phone(self, petition: dict[str, Any], phone: str) -> bool:
        """Only the petitioner's own phone may stop messages about a petition."""
        opened = self.notifier.open_contact(petition.get("contact_token"))
        return self.notifier.phone_of(opened) == phone

    # ------------------------------------------------------------ delivery reports

    def delivery_report(self, provider: str, *, delivered: bool, detail: dict[str, Any],
                        notification_id: str | None = None,
                        message_id: str | None = None) -> dict[str, Any] | None:
        """Record what a provider says became of a message it accepted; None when the
        message is not ours. Reports are repeated (eSMS retries up to 5 times): only the
        first moves the state, the others are kept in the history."""
        if not (notification_id or message_id):
            return None
        match = ({"_id": notification_id} if notification_id
                 else {"provider_message_id": message_id})
        doc = self._record(match, provider, delivered, detail)
        if doc is None and message_id:  # may be ours, its send's answer not written yet
            self.store.hold_report(provider, message_id, {
                "delivered": delivered, "detail": detail}, self.clock())
        return doc

    def apply_held_reports(self) -> int:
        """Apply the reports held for a message id that is now stored; drop those still
        unmatched after ``HELD_FOR`` (not ours, or the send's answer was lost)."""
        now, applied = self.clock(), 0
        for held in self.store.held_reports():
            report = held["report"]
            if self._record({"provider_message_id": held["message_id"]}, held["provider"],
                            report["delivered"], report["detail"]) is not None:
                applied += 1
            elif now - from_mongo(held["held_at"]) < HELD_FOR:
                continue
            self.store.drop_held(held["_id"])
        return applied

    def _record(self, match: dict[str, Any], provider: str, delivered: bool,
                detail: dict[str, Any]) -> dict[str, Any] | None:
        """The report applied to the notification ``match`` names: it as it is after,
        or None when none matches."""
        now = self.clock()
        outcome = DELIVERED if delivered else UNDELIVERED
        fields: dict[str, Any] = {"delivery": outcome, "delivery_at": now, "updated_at": now}
        if delivered:
            fields["delivered_at"] = now
        doc, moved = self.store.record_report(
            match, fields, {"at": now, "provider": provider, "outcome": outcome, **detail})
        if moved and doc is not None and doc["channel"] == "zalo" and not delivered:
            self.delivery.fallback(doc, "Zalo reported the message undelivered")
        return doc
