"""Notify's rules, as plain Python: who is told what, keys, states, retries, quiet hours.

No I/O here. The service layer loads documents, asks these functions what to do and
stores the answer with conditional updates.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.common.clock import VN_TZ, aware
from services.common.contracts.codes import BadCode, code_key, parse_code
from services.common.text import fold

# States of a notification. pending/deferred wait for due_at; sending is claimed by one
# sender until its lease ends; sent, failed and cancelled are final.
PENDING, SENDING, SENT, FAILED, CANCELLED, DEFERRED = (
    "pending", "sending", "sent", "failed", "cancelled", "deferred")
STATES = (PENDING, SENDING, SENT, FAILED, CANCELLED, DEFERRED)
WAITING = (PENDING, DEFERRED)
FINAL = (SENT, FAILED, CANCELLED)
CHANNELS = ("sms", "email", "zalo")
# Delivery as the provider reports it, after it accepted a message (state "sent"): no
# report yet means accepted; e-mail never gets one.
ACCEPTED, DELIVERED, UNDELIVERED = "accepted", "delivered", "failed"
PREFERENCES = ("sms", "zalo", "email")

# Replies to a person who just texted us: sent at once, whatever the hour or stop flag.
REPLIES = frozenset({"sms_status_reply", "sms_stop_reply", "sms_help_reply"})
# Sent at once whatever the hour: replies to what the citizen has just done (texted us,
# submitted a petition) and a dialogue they may travel to being called off. Quiet hours
# are for what the citizen did not ask for at that moment (reminders, notices, answers).
ACKNOWLEDGEMENTS = frozenset({"petition_received"})
# A one-time code the citizen is waiting for, typed into the form within minutes: it
# goes at once (whatever the hour), its text is kept encrypted (officers see it masked),
# and it is never sent after it expires.
CODES = frozenset({"dialogue_request_code"})
URGENT = REPLIES | ACKNOWLEDGEMENTS | CODES | {"dialogue_cancelled"}
MASK = "******"
# An acknowledgement is only a reply while the submission is fresh: one replayed or
# imported hours later waits for the morning like any other notice.
FRESH = timedelta(hours=1)
# Everything about a dialogue that goes stale when its time changes or it is called off.
DIALOGUE_TEMPLATES = frozenset({"dialogue_invitation", "dialogue_agency_notice",
                                "dialogue_reminder", "dialogue_rescheduled"})

_KEY_NS = uuid.UUID("0b7d2f4e-5a61-4c39-9f0a-6d2e8c3b1a47")


def notification_key(cause: str, recipient: str, template: str) -> str:
    """The idempotency key: one cause, one recipient, one template, at most one message."""
    return f"{cause}|{recipient}|{template}"


def notification_id(key: str) -> str:
    """Stable id from the key, so a replay computes the same _id and the insert is refused."""
    return str(uuid.uuid5(_KEY_NS, key))


def reminder_cause(dialogue_id: str, starts_at: datetime, hours: int) -> str:
    """Reminders are keyed by the dialogue's start: a new time means new reminders."""
    return f"reminder:{dialogue_id}:{aware(starts_at).isoformat()}:{hours}h"


def reminder_times(starts_at: datetime, offsets: tuple[int, ...],
                   now: datetime) -> list[tuple[int, datetime]]:
    """(hours_before, due_at) for each offset still in the future."""
    return [(h, starts_at - timedelta(hours=h)) for h in offsets
            if starts_at - timedelta(hours=h) > now]


def reminder_stale(starts_at: datetime, hours: int, offsets: tuple[int, ...],
                   now: datetime) -> bool:
    """A reminder that could only go out after a later one is due (or after the start),
    because the sender was down or quiet hours held it, would say the wrong thing."""
    if now >= starts_at:
        return True
    return any(now >= starts_at - timedelta(hours=h) for h in offsets if h < hours)


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True)
class Address:
    """One way to reach one recipient."""

    channel: str  # "sms" or "email"
    to: str  # E.164 phone or e-mail address (plaintext: only in memory)
    recipient: str  # stable logical id used in the key, e.g. "petition:<id>"
    kind: str  # recipient_kind of the contract
    name: str | None = None


def contact_addresses(contact: dict[str, Any], recipient: str, kind: str,
                      normalize_phone) -> list[Address]:
    """Where to tell a petitioner, from an opened contact token; bad numbers are left out.

    With a preference (``channel``: zalo, sms or email) only that channel is used:
    Zalo needs the phone (and falls back to SMS by itself), e-mail without an address
    becomes SMS. Without one, as before: SMS and/or e-mail, whatever was given.
    """
    name = contact.get("full_name") or contact.get("name")
    phone: str | None = None
    if contact.get("phone"):
        try:
            phone = normalize_phone(str(contact["phone"]))
        except ValueError:
            phone = None
    email = str(contact["email"]).strip() if contact.get("email") else None
    if email and "@" not in email:
        email = None
    choice = contact.get("channel")
    if choice == "zalo" and phone:
        return [Address("zalo", phone, recipient, kind, name)]
    if choice == "sms" and phone:
        return [Address("sms", phone, recipient, kind, name)]
    if choice == "email" and email:
        return [Address("email", email, recipient, kind, name)]
    found: list[Address] = []
    if phone:
        found.append(Address("sms", phone, recipient, kind, name))
    if email:
        found.append(Address("email", email, recipient, kind, name))
    return found


def code_key_of(code: str | None) -> str | None:
    """The prefix-free key of a tracking code, None for codes the contract cannot read."""
    try:
        return code_key(code) if code else None
    except BadCode:
        return None


def urgent(template: str, created_at: datetime, received_at: Any = None) -> bool:
    """Whether a notification goes out at once, whatever the hour."""
    if template in ACKNOWLEDGEMENTS:
        return isinstance(received_at, datetime) and created_at - aware(received_at) <= FRESH
    return template in URGENT


def expired(expires_at: datetime | None, now: datetime) -> bool:
    """A message that is worthless from ``expires_at`` on (a one-time code)."""
    return expires_at is not None and aware(now) >= aware(expires_at)


def directory_addresses(entry: dict[str, Any], contact: dict[str, Any], recipient: str,
                        kind: str) -> list[Address]:
    """Officials are written to by e-mail; a phone is used only when there is no e-mail."""
    name = entry.get("name")
    if contact.get("email"):
        return [Address("email", contact["email"], recipient, kind, name)]
    if contact.get("phone"):
        return [Address("sms", contact["phone"], recipient, kind, name)]
    return []


# ---------------------------------------------------------------- timing


def in_quiet_hours(moment: datetime, start: tuple[int, int], end: tuple[int, int]) -> bool:
    local = aware(moment).astimezone(VN_TZ).time()
    begin, finish = time(*start), time(*end)
    if begin <= finish:
        return begin <= local < finish
    return local >= begin or local < finish  # the window crosses midnight


def quiet_hours_end(moment: datetime, start: tuple[int, int], end: tuple[int, int]) -> datetime:
    """The first moment after ``moment`` outside quiet hours (07:00 Vietnam time)."""
    local = aware(moment).astimezone(VN_TZ)
    wake = datetime.combine(local.date(), time(*end), tzinfo=VN_TZ)
    if wake <= local:
        wake += timedelta(days=1)
    return aware(wake)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    wait = min(base * (2 ** (attempt - 1)), cap)
    if retry_after is not None:
        wait = max(wait, min(retry_after, cap))
    return wait


def days_between(later: date, earlier: date) -> int:
    return (later - earlier).days


# ---------------------------------------------------------------- inbound SMS


@dataclass(frozen=True)
class Command:
    verb: str  # "status", "stop" or "help"
    code: str | None = None


_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")
VERBS = ("TT", "HUY")


def read_code(words: list[str]) -> str | None:
    """The tracking code in what follows the verb, as people type it (lower case,
    spaces, no dash, a province prefix): the contract's parser; failing that, the
    first word as it stands, if it looks like a code (older or foreign codes)."""
    if not words:
        return None
    try:
        return parse_code("".join(words))
    except BadCode:
        return words[0] if _CODE.match(words[0]) else None


def parse_command(text: str) -> Command:
    """'TT 7K4M-Q2XC' -> status, 'HUY 7k4m q2xc' -> stop, anything else -> help.

    Phones add odd spacing and case, and people type 'Huỷ' with its accent; both fold.
    A verb glued to its code ('TT7K4MQ2XC') is read too.
    """
    words = fold(text or "").upper().split()
    if not words:
        return Command("help")
    verb, rest = words[0], words[1:]
    if verb not in VERBS:
        glued = next((v for v in VERBS if verb.startswith(v) and len(verb) > len(v)), None)
        if glued is None:
            return Command("help")
        verb, rest = glued, [verb[len(glued):], *rest]
        try:
            parse_code("".join(rest))
        except BadCode:
            return Command("help")  # "HUYEN ...", "TTHC ...": words, not commands
    code = read_code(rest)
    if rest and code is None:
        return Command("help")
    if verb == "TT":
        return Command("status", code) if code else Command("help")
    return Command("stop", code)


@dataclass
class Outcome:
    """What the sender decided for one claimed notification."""

    state: str
    due_at: datetime | None = None
    reason: str | None = None
    event: str | None = None  # "notification.sent" / "notification.failed"
    attempt: dict[str, Any] = field(default_factory=dict)


def after_failure(*, attempts: int, limit: int, transient: bool, reason: str, now: datetime,
                  base: float, cap: float, retry_after: float | None) -> Outcome:
    """Retry a transient failure later, or fail for good with the provider's reason."""
    if transient and attempts < limit:
        wait = backoff(attempts, base, cap, retry_after)
        return Outcome(PENDING, due_at=now + timedelta(seconds=wait), reason=reason)
    if transient:
        reason = f"gave up after {attempts} attempts: {reason}"
    return Outcome(FAILED, reason=reason, event="notification.failed")
