"""The context of each template: what it needs, checked, normalised and formatted in
Vietnamese (dates dd/mm/yyyy and HH:MM in Vietnam time, numbers 1.250).

Context keys (``*`` required; ``platform_name`` and ``recipient_name`` are optional for all):

=================================  ==================================================
petition_received                  tracking_code*, lookup_url*, sms_number*, petition_title,
                                   received_at, due_at
petition_rejected                  tracking_code*, reason*, petition_title, lookup_url, hotline
petition_answered                  tracking_code*, answer*, lookup_url*, answered_by,
                                   answered_at, petition_title
dialogue_invitation                topic*, starts_at*, host*, venue and/or online_url*, format,
                                   kind, ends_at, dialogue_url, tracking_code, note
dialogue_agency_notice             agency_name*, role* (lead|coordinating), topic*, starts_at*,
                                   host*, venue and/or online_url*, lead_agency, agenda (list),
                                   prepare_by, dialogue_url
dialogue_rescheduled               topic*, old_starts_at*, new_starts_at*, venue and/or
                                   online_url*, reason, host, dialogue_url
dialogue_cancelled                 topic*, starts_at*, reason*, host, dialogue_url
dialogue_reminder                  topic*, starts_at*, hours_before*, venue and/or online_url*,
                                   host, dialogue_url
commitment_assigned                agency_name*, conclusion*, deadline*, dialogue_topic*,
                                   dialogue_date*, notice_number, host, coordinating_agencies
                                   (list), petitions_count, commitment_url
commitment_deadline_approaching    agency_name*, conclusion*, deadline*, days_left*, progress,
                                   commitment_url
commitment_overdue                 agency_name*, conclusion*, deadline*, days_late*, progress,
                                   commitment_url
commitment_escalated               agency_name*, conclusion*, deadline*, days_late*, level*,
                                   escalated_to*, dialogue_topic, commitment_url
dialogue_required                  commune_name*, requesters*, threshold*, voters, year,
                                   request_topic, dashboard_url
sms_status_reply (SMS only)        tracking_code*, status (None: code not found), updated_at,
                                   dialogue_starts_at, note, lookup_url, sms_number
sms_stop_reply (SMS only)          tracking_code (None: every petition), found, sms_number
sms_help_reply (SMS only)          sms_number*, lookup_url, hotline
dialogue_request_code (SMS only)   code*, expires_at*, commune_name
=================================  ==================================================

``lookup_url`` is the public look-up page (``NOTIFY_LOOKUP_URL``); a message about one
petition links to it with the code filled in (``…/tra-cuu?code=<tracking_code>``, see
:func:`lookup_link`), and Zalo's ``lookup_url`` parameter is the same link.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from services.common.clock import VN_TZ, vn_date
from services.common.contracts.intake import PETITION_STATUS_VI
from services.common.text import nfc
from services.notify.sms import is_gsm7, segments

MAX_SMS_SEGMENTS = 2
DEFAULT_PLATFORM = "Hệ thống Đối thoại với Nhân dân"

# The one vocabulary of the contract, so the SMS and the look-up page say the same thing.
STATUS_NAMES: dict[str, str] = PETITION_STATUS_VI
# A petition is named by its kind: a complaint is not a "kiến nghị".
PETITION_KINDS: dict[str, str] = {
    "feedback": "kiến nghị",
    "complaint": "đơn khiếu nại",
    "denunciation": "đơn tố cáo",
    "voters_petition": "kiến nghị cử tri",
}
DIALOGUE_FORMATS = {
    "in_person": "Trực tiếp",
    "online": "Trực tuyến",
    "hybrid": "Trực tiếp kết hợp trực tuyến",
}
DIALOGUE_KINDS = {"periodic": "định kỳ", "thematic": "chuyên đề", "ad_hoc": "đột xuất"}
AGENCY_ROLES = {"lead": "cơ quan chủ trì", "coordinating": "cơ quan phối hợp"}
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


class TemplateError(ValueError):
    """A template cannot be rendered from the context it was given."""


class SmsTooLongError(TemplateError):
    """The SMS needs more segments than allowed, or is not GSM-7 when it must be."""



# ---------------------------------------------------------------- formatting


def to_vietnam_time(value: datetime) -> datetime:
    """``value`` in Asia/Ho_Chi_Minh; naive datetimes are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TemplateError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(VN_TZ)


def format_date(value: date | datetime) -> str:
    """dd/mm/yyyy, in Vietnam time for datetimes."""
    if isinstance(value, datetime):
        to_vietnam_time(value)  # refuses a naive datetime with a TemplateError
    return vn_date(value)


def format_time(value: datetime) -> str:
    """HH:MM in Vietnam time."""
    return to_vietnam_time(value).strftime("%H:%M")


def format_datetime(value: datetime, *, weekday: bool = False) -> str:
    """"08:30 ngày 15/08/2025", or "08:30, Thứ Sáu, ngày 15/08/2025" with ``weekday``."""
    local = to_vietnam_time(value)
    if weekday:
        return f"{format_time(local)}, {WEEKDAYS[local.weekday()]}, ngày {format_date(local)}"
    return f"{format_time(local)} ngày {format_date(local)}"


def format_number(value: int) -> str:
    """Vietnamese thousands separator: 1.250."""
    return f"{value:,}".replace(",", ".")


def status_name(status: str) -> str:
    """Vietnamese display name of a petition status code."""
    try:
        return STATUS_NAMES[status]
    except KeyError:
        raise TemplateError(f"unknown petition status {status!r}") from None


def check_sms(
    text: str, max_segments: int = MAX_SMS_SEGMENTS, *, require_gsm7: bool = True
) -> int:
    """Return the segment count of ``text``; raise SmsTooLongError past the limits."""
    if require_gsm7 and not is_gsm7(text):
        bad = sorted({ch for ch in text if not is_gsm7(ch)})
        raise SmsTooLongError(f"SMS is not GSM-7 (characters {''.join(bad)!r})")
    count = segments(text)
    if count > max_segments:
        raise SmsTooLongError(
            f"SMS needs {count} segments, at most {max_segments} allowed: {text!r}"
        )
    return count


# ---------------------------------------------------------------- cutting


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit < 4:
        return ""
    head = text[: limit - 3]
    space = head.rfind(" ")
    # Prefer a word boundary, unless that would throw away too much of what is left.
    if space >= len(head) * 0.6:
        head = head[:space]
    return head.rstrip(" ,.;:-–—") + "..."


cut_at_word = _cut  # the rule ZNS parameters are cut by too




# ---------------------------------------------------------------- links


def lookup_link(base: str | None, code: str | None) -> str | None:
    """The look-up page with the tracking code filled in (``?code=``), so a citizen who
    follows the link from an SMS, a Zalo message or an e-mail only has to type the last
    digits of their phone. ``base`` as it is without a code, or when it names one."""
    if _blank(base) or _blank(code):
        return base
    base = str(base).strip()
    query = urlsplit(base).query
    if any(part.split("=", 1)[0] == "code" for part in query.split("&")):
        return base
    joint = "&" if query else ("" if base.endswith("?") else "?")
    return f"{base}{joint}code={quote(str(code).strip(), safe='')}"


# ---------------------------------------------------------------- context


# Which keys each template needs; ``*`` in the module docstring.
REQUIRED: dict[str, tuple[str, ...]] = {
    "petition_received": ("tracking_code", "lookup_url", "sms_number"),
    "petition_rejected": ("tracking_code", "reason"),
    "petition_answered": ("tracking_code", "answer", "lookup_url"),
    "dialogue_invitation": ("topic", "starts_at", "host"),
    "dialogue_agency_notice": ("agency_name", "role", "topic", "starts_at", "host"),
    "dialogue_rescheduled": ("topic", "old_starts_at", "new_starts_at"),
    "dialogue_cancelled": ("topic", "starts_at", "reason"),
    "dialogue_reminder": ("topic", "starts_at", "hours_before"),
    "commitment_assigned": ("agency_name", "conclusion", "deadline", "dialogue_topic",
                            "dialogue_date"),
    "commitment_deadline_approaching": ("agency_name", "conclusion", "deadline", "days_left"),
    "commitment_overdue": ("agency_name", "conclusion", "deadline", "days_late"),
    "commitment_escalated": ("agency_name", "conclusion", "deadline", "days_late", "level",
                             "escalated_to"),
    "dialogue_required": ("commune_name", "requesters", "threshold"),
    "sms_status_reply": ("tracking_code",),
    "sms_stop_reply": (),
    "sms_help_reply": ("sms_number",),
    "dialogue_request_code": ("code", "expires_at"),
}
# Templates about a dialogue's place: a venue, an online link or both.
PLACED = frozenset({"dialogue_invitation", "dialogue_agency_notice", "dialogue_rescheduled",
                    "dialogue_reminder"})
MOMENTS = ("received_at", "answered_at", "starts_at", "ends_at", "old_starts_at",
           "new_starts_at", "updated_at", "dialogue_starts_at", "expires_at")
DAYS = ("due_at", "deadline", "dialogue_date", "prepare_by")
NUMBERS = ("days_left", "days_late", "hours_before", "level", "requesters", "threshold",
           "voters", "year", "petitions_count", "progress")
BLOCKS = ("answer", "reason", "conclusion")  # user text that may have paragraphs
LISTS = ("agenda", "coordinating_agencies")
# Every key a template may read: absent ones are None, so "x is not none" holds.
KEYS = frozenset({
    "tracking_code", "lookup_url", "sms_number", "petition_title", "received_at", "due_at",
    "reason", "hotline", "answer", "answered_by", "answered_at", "topic", "starts_at", "host",
    "venue", "online_url", "format", "kind", "ends_at", "dialogue_url", "note", "agency_name",
    "role", "lead_agency", "agenda", "prepare_by", "old_starts_at", "new_starts_at",
    "hours_before", "conclusion", "deadline", "dialogue_topic", "dialogue_date",
    "notice_number", "coordinating_agencies", "petitions_count", "commitment_url",
    "days_left", "progress", "days_late", "level", "escalated_to", "commune_name",
    "requesters", "threshold", "voters", "year", "request_topic", "dashboard_url", "status",
    "updated_at", "dialogue_starts_at", "found", "recipient_name", "petition_kind",
    "platform_name", "code", "expires_at",
})

_LINE_SPACE = re.compile(r"[^\S\n]+")
_MANY_LINES = re.compile(r"\n{3,}")


def _block(value: str) -> str:
    """Multi-line user text: NFC, tidy spaces, keep paragraphs."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_LINE_SPACE.sub(" ", line).strip() for line in value.split("\n")]
    return _MANY_LINES.sub("\n\n", "\n".join(lines)).strip()


def _moment(name: str, key: str, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise TemplateError(f"{name}: {key!r} is not ISO 8601") from None
    if not isinstance(value, datetime):
        raise TemplateError(f"{name}: {key!r} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TemplateError(f"{name}: {key!r} is a naive datetime")
    return value


def _day(name: str, key: str, value: Any) -> str:
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise TemplateError(f"{name}: {key!r} is not a date") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return format_date(value)
    return format_date(_moment(name, key, value))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def prepare(name: str, channel: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The context as templates read it: checked, normalised and formatted."""
    for key in REQUIRED.get(name, ()):
        if _blank(context.get(key)):
            raise TemplateError(f"{name}: context needs {key!r}")
    if name in PLACED and _blank(context.get("venue")) and _blank(context.get("online_url")):
        raise TemplateError(f"{name}: context needs 'venue' or 'online_url'")
    out: dict[str, Any] = dict.fromkeys(KEYS)
    for key, value in context.items():
        if _blank(value):
            out[key] = None
        elif key in MOMENTS:
            out[key] = _moment(name, key, value)
        elif key in DAYS:
            out[key] = _day(name, key, value)
        elif key in NUMBERS:
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise TemplateError(f"{name}: {key!r} must be a whole number") from None
        elif key in LISTS:
            items = [value] if isinstance(value, str) else list(value)
            out[key] = [nfc(str(v)) for v in items if str(v).strip()]
        elif key in BLOCKS and channel == "email":
            out[key] = _block(str(value))
        elif isinstance(value, str):
            out[key] = nfc(value)
        else:
            out[key] = value
    # Every link to the look-up page carries the code the message is about.
    out["lookup_url"] = lookup_link(out.get("lookup_url"), out.get("tracking_code"))
    out.setdefault("platform_name", None)
    out["platform_name"] = out["platform_name"] or DEFAULT_PLATFORM
    if name == "sms_status_reply" and out.get("status"):
        out["status_name"] = status_name(out["status"])
    kind = out.get("petition_kind")
    out["petition_word"] = PETITION_KINDS.get(kind or "", PETITION_KINDS["feedback"])
    return out

