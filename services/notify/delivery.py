"""Sending: the sender's claims, one attempt per claim, the outcome, Zalo's SMS fallback.

At the provider boundary delivery is at least once: a sender may crash after the
provider took a message and before we recorded it; its lease then runs out and another
sender tries again. The notification id goes with every attempt as the provider's
request id, and the providers differ in what they make of it: eSMS drops a repeated
``RequestId`` (error 124, which counts as sent here), and so does our own generic
gateway (the stand-in of ``deploy/sinks.py``, by its ``Idempotency-Key``). Twilio's
``I-Twilio-Idempotency-Token`` is documented for its webhooks, not for sending, and
Zalo ZNS takes a ``tracking_id`` it only echoes back: with those a crash at that very
moment can send a message twice. E-mail carries a Message-ID derived from the id, so a
repeat can be recognised as the same mail, but SMTP relays deliver it anyway.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from services.common.clock import Clock
from services.common.events import Event
from services.common.kafka import Bus
from services.common.outbox import stage
from services.notify import domain
from services.notify.channels import PermanentError, SmsProvider, TransientError
from services.notify.domain import CANCELLED, DEFERRED, FAILED, PENDING, SENT, UNDELIVERED
from services.notify.mail import SmtpSender
from services.notify.notifier import Written, delivery_event
from services.notify.providers import ZnsSender
from services.notify.settings import NotifySettings
from services.notify.store import DEQUEUE, Store

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class Senders:
    email: SmtpSender
    sms: SmsProvider
    zalo: ZnsSender | None = None


def applied(doc: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``doc`` after ``update``, for the operators ``_finish`` uses ($set, $unset, $push
    of one value or of ``$each``, $inc)."""
    out = {**doc, **update.get("$set", {})}
    for key in update.get("$unset", {}):
        out.pop(key, None)
    for key, value in update.get("$push", {}).items():
        more = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        out[key] = [*out.get(key, []), *more]
    for key, n in update.get("$inc", {}).items():
        out[key] = out.get(key, 0) + n
    return out


class Quota:
    """Each provider's per-minute limit, shared by every sender through the database.
    A sender takes a chunk of the minute's sends at a time, so that a message costs a
    database command once per chunk rather than once per send; what it does not use by
    the end of the minute is lost, so the limit may be underused, never exceeded."""

    def __init__(self, store: Store, limits: dict[str, int], clock: Clock,
                 chunk: int = 10) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        self.chunk = chunk
        # key -> (window, sends left of the chunk, the minute's limit reached)
        self._left: dict[str, tuple[int, int, bool]] = {}
        self._lock = threading.Lock()  # the consumer and the sender job share it

    def allow(self, channel: str, key: str) -> bool:
        limit = self.limits[channel]
        window = int(self.clock().timestamp()) // 60
        with self._lock:
            taken_in, left, spent = self._left.get(key, (-1, 0, False))
            if taken_in == window and (left or spent):
                if left:
                    self._left[key] = (window, left - 1, spent)
                return bool(left)  # none left and the minute's limit spent: no command
            n = max(1, min(self.chunk, limit // 10))
            total = self.store.take_quota(key, window, n)
            got = max(0, min(n, limit - (total - n)))
            # Fewer than asked: the limit is reached for everyone until the next minute.
            self._left[key] = (window, max(0, got - 1), got < n)
            return got > 0

    def sweep(self) -> int:
        """Drop old windows (no TTL indexes on FerretDB)."""
        return self.store.sweep_quotas(int(self.clock().timestamp()) // 60 - 1)


class Delivery:
    def __init__(self, settings: NotifySettings, store: Store, senders: Senders, bus: Bus,
                 clock: Clock, keys: Any) -> None:
        self.settings = settings
        self.store = store
        self.senders = senders
        self.bus = bus
        self.clock = clock
        self.keys = keys
        # After a provider failed for now (a timeout, a 5xx), messages are no longer
        # sent from the consumer for a minute: a provider that hangs would hold the
        # consumer's batch past Kafka's poll interval. The sender job takes them.
        self.at_once_after: datetime | None = None
        self.quota = Quota(store, {"sms": settings.sms_rate_per_minute,
                                   "email": settings.email_rate_per_minute,
                                   "zalo": settings.sms_rate_per_minute}, clock)
        self._pool = ThreadPoolExecutor(settings.send_concurrency,
                                        thread_name_prefix="notify-send")

    def together(self, fn: Callable[[T], None], items: Iterable[T],
                 key: Callable[[T], Any] = id) -> None:
        """``fn`` over ``items``, up to ``send_concurrency`` at once, and wait for all.
        Items of the same ``key`` (one recipient) go one after the other, in order: a
        reader gets their messages in the order they were written.

        A send is mostly waiting: on the gateway (a real SMS provider answers in tens to
        hundreds of milliseconds), then on Kafka and the database; one at a time, a
        provider answering in 200 ms caps a process at 5 messages a second. The first
        failure is raised once every item has ended, so the caller's retry finds each
        sent message recorded under its key."""
        lanes: dict[Any, list[T]] = {}
        for item in items:
            lanes.setdefault(key(item), []).append(item)

        def run(lane: list[T]) -> None:
            for item in lane:
                fn(item)

        if len(lanes) < 2 or self.settings.send_concurrency < 2:
            for lane in lanes.values():
                run(lane)
            return
        futures = [self._pool.submit(run, lane) for lane in lanes.values()]
        failures = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if failures:
            raise failures[0]

    # ------------------------------------------------------------ the sender job

    def send_due(self, limit: int = 200) -> int:
        """Send every notification due now (up to ``limit``); return how many were handled."""
        lease = timedelta(seconds=self.settings.lease_seconds)
        sent: list[str] = []

        def claim_and_send(found: dict[str, Any]) -> None:
            # A conditional find_one_and_update: one another sender took meanwhile no
            # longer matches and is skipped; what it returns is used as it is.
            token = uuid.uuid4().hex
            doc = self.store.claim(found["_id"], self.clock(), lease, token)
            if doc is not None:
                sent.append(doc["_id"])
                self.send_claimed(Written(doc, token), checked=False)

        while len(sent) < limit:
            asked = limit - len(sent)
            due = self.store.due(self.clock(), asked)
            self.together(claim_and_send, due, key=lambda d: d.get("recipient"))
            if len(due) < asked:
                break  # that was all there was
        return len(sent)

    def at_once(self) -> bool:
        """Whether a message may be sent from where it is written, now."""
        return self.at_once_after is None or self.clock() >= self.at_once_after

    def send_claimed(self, written: Written, *, checked: bool = True) -> None:
        """One attempt for a notification this process holds the claim of. ``checked``:
        its writer has just read the petition's stop flag."""
        fallback = None
        try:
            fallback = self._deliver(written.doc, written.token, checked, written.stored,
                                     written.outcomes)
        except Exception:
            # Left claimed: the lease runs out and a sender's pass retries it.
            log.exception("delivery crashed", extra={"notification": written.doc["_id"]})
            if not written.stored:  # written claimed now, as its writer would have
                self.store.insert_notification(written.doc)
        if fallback:
            self.fallback(*fallback)

    def _deliver(self, doc: dict[str, Any], token: str, checked: bool,
                 stored: bool = True, outcomes: list[dict[str, Any]] | None = None
                 ) -> tuple[dict[str, Any], str] | None:
        """Send one claimed notification; returns (Zalo message, reason) when it failed
        for good and its SMS fallback is due. ``stored`` False: not written yet, the
        outcome writes it (or goes into ``outcomes``, written later with others)."""
        record = partial(self._finish, stored=stored, outcomes=outcomes)

        def finish(*args: Any, **kwargs: Any) -> None:  # an outcome with no fallback
            record(*args, **kwargs)

        now = self.clock()
        channel, template = doc["channel"], doc["template"]
        if (not checked and template not in domain.REPLIES and doc.get("petition_id")
                and self.store.stopped(doc["petition_id"])):
            return finish(doc, token, {"state": CANCELLED, "reason": "stopped by recipient"})
        if domain.expired(doc.get("expires_at"), now):
            return finish(doc, token, {"state": CANCELLED, "reason": "expired"})
        if template == "dialogue_reminder" and domain.reminder_stale(
                doc["starts_at"], doc["hours_before"], self.settings.reminder_offsets, now):
            return finish(doc, token, {"state": CANCELLED, "reason": "reminder too late"})
        quiet = self.settings.quiet_hours
        if channel != "email" and not doc.get("urgent") and domain.in_quiet_hours(now, *quiet):
            return finish(doc, token, {"state": DEFERRED, "reason": "quiet hours",
                                       "due_at": domain.quiet_hours_end(now, *quiet)})
        provider = {"sms": self.senders.sms.name, "email": self.senders.email.provider,
                    "zalo": self.senders.zalo.name if self.senders.zalo else "zns"}[channel]
        if not self.quota.allow(channel, f"{channel}:{provider}"):
            window = (int(now.timestamp()) // 60 + 1) * 60
            return finish(doc, token, {"state": DEFERRED, "reason": "rate limit",
                                       "due_at": datetime.fromtimestamp(window, now.tzinfo)})
        number = doc.get("attempt_count", 0) + 1
        attempt: dict[str, Any] = {"number": number, "at": now, "provider": provider}
        try:
            result = self._send(doc, channel)
        except (TransientError, PermanentError) as exc:
            transient = isinstance(exc, TransientError)
            if transient:
                self.at_once_after = now + timedelta(seconds=60)
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
            kept = record(doc, token, fields, attempt=attempt, event=outcome.event)
            if channel == "zalo" and outcome.state == FAILED:
                return kept or doc, f"Zalo: {exc}"
            return None
        attempt.update(outcome="sent", message_id=result.message_id, status=result.status)
        return finish(doc, token, {"state": SENT, "sent_at": now, "reason": None,
                                   "provider_message_id": result.message_id},
                      attempt=attempt, event="notification.sent")

    def _send(self, doc: dict[str, Any], channel: str):
        to = self.keys.decrypt(doc["to_enc"], doc["_id"])
        if channel == "sms":
            text = (self.keys.decrypt(doc["text_enc"], doc["_id"])
                    if doc.get("text_enc") else doc["text"])
            return self.senders.sms.send(to, text, doc["_id"])
        if channel == "zalo":
            if self.senders.zalo is None:
                raise PermanentError("Zalo ZNS is not configured", provider="zns")
            return self.senders.zalo.send(to, doc["zns"]["template_id"], doc["zns"]["data"],
                                          doc["_id"])
        return self.senders.email.send(to, doc["subject"], doc["text"], doc["html"],
                                       idempotency_key=doc["_id"])

    def _finish(self, doc: dict[str, Any], token: str, fields: dict[str, Any], *,
                attempt: dict[str, Any] | None = None, event: str | None = None,
                stored: bool = True, outcomes: list[dict[str, Any]] | None = None
                ) -> dict[str, Any] | None:
        """Record the outcome in one update, if this sender still holds the claim.

        Its event is published first and the outcome written after: a crash in between
        sends the message again (at least once, as above) with an event of the same id.
        Only when Kafka refuses is the event staged in the document's outbox instead,
        for the relay; so a send costs one write, not a write and an outbox clearing.
        The notification as it will be written when it goes into ``outcomes``.
        """
        now = self.clock()
        update: dict[str, Any] = {"$set": {**fields, "updated_at": now, "lease_until": None,
                                           "lease_token": None}}
        if fields["state"] in domain.FINAL:
            update["$unset"] = DEQUEUE
        else:
            update["$set"]["wake_at"] = fields.get("due_at") or now
        count = doc.get("attempt_count", 0)
        if attempt:
            update["$push"] = {"attempts": attempt}
            update["$inc"] = {"attempt_count": 1}
            count += 1
            update["$set"]["provider"] = attempt["provider"]
        if event:
            merged = {**doc, **fields, "attempt_count": count,
                      "provider": attempt["provider"] if attempt else doc.get("provider")}
            ev = delivery_event(self.settings.service, event, merged, now,
                                reason=fields.get("reason"))
            if not self._publish(ev):
                update = stage(update, [ev], now)
        if stored:
            self.store.finish(doc["_id"], token, update)
        elif outcomes is not None:  # written with the others of its batch
            kept = applied(doc, update)
            outcomes.append(kept)  # list.append: safe across threads
            return kept
        else:  # its first write: the notification as it ends up
            self.store.insert_outcome(applied(doc, update))
        return None

    def _publish(self, event: Event) -> bool:
        try:
            self.bus.publish(event)
            return True
        except Exception:
            log.warning("delivery event not published now; the outbox relay will",
                        exc_info=True)
            return False

    # ------------------------------------------------------------ Zalo's fallback

    def fallback(self, doc: dict[str, Any], reason: str) -> bool:
        """The SMS that replaces a Zalo message. Its key is derived from the Zalo
        message's id, so a failure, a timeout and a late report cannot make two."""
        if doc.get("text") is None:
            return False
        now = self.clock()
        key = domain.notification_key(f"fallback:{doc['_id']}", f"{doc['recipient']}/sms",
                                      doc["template"])
        sms_id = domain.notification_id(key)
        to = self.keys.decrypt(doc["to_enc"], doc["_id"])
        keep = ("cause_event_id", "template", "recipient", "recipient_kind", "to_masked",
                "petition_id", "dialogue_id", "commitment_id", "locality", "urgent", "text",
                "segments", "recipient_name", "starts_at", "hours_before", "expires_at")
        fresh: dict[str, Any] = {
            **{k: doc.get(k) for k in keep if k in doc},
            "_id": sms_id, "key": key, "channel": "sms",
            "to_enc": self.keys.encrypt(to, sms_id), "subject": None, "html": None,
            "state": PENDING, "attempts": [], "attempt_count": 0, "attempt_base": 0,
            "due_at": now, "created_at": now, "updated_at": now, "sent_at": None,
            "reason": None, "fallback_of": doc["_id"], "fallback_reason": reason,
        }
        if doc.get("text_enc"):
            fresh["text_enc"] = self.keys.encrypt(self.keys.decrypt(doc["text_enc"], doc["_id"]),
                                                  sms_id)
        created = self.store.insert_notification(fresh)
        if created:
            self.store.set_fields(doc["_id"], {"fallback_id": sms_id})
            doc["fallback_id"] = sms_id  # for a message still to be written with its batch
            log.info("zalo message falls back to SMS",
                     extra={"notification": doc["_id"], "fallback": sms_id})
        return created

    def zns_timeouts(self, limit: int = 200) -> int:
        """ZNS messages with no delivery report in time go by SMS (once)."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.zns_fallback_seconds)
        count = 0
        for doc in self.store.unreported_zns(cutoff, limit):
            reason = f"no delivery report within {self.settings.zns_fallback_seconds} s"
            _, moved = self.store.record_report(
                {"_id": doc["_id"]},
                {"delivery": UNDELIVERED, "delivery_at": now, "updated_at": now},
                {"at": now, "provider": "notify", "outcome": UNDELIVERED, "reason": reason},
                keep_late=False)
            if moved:
                count += self.fallback(doc, reason)
        return count
