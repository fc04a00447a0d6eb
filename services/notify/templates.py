"""Vietnamese message templates: e-mail (subject, text, HTML) and SMS.

The words are Jinja2 files (Flask's own engine) under ``services/notify/messages/``, one
per template and channel, so that a person who does not program can review and change
them: ``email/<name>.j2`` (blocks ``subject`` and ``body``) and ``sms/<name>.j2``. What
is code stays here: checking and formatting the context, unaccenting SMS text, fitting
an SMS into two GSM-7 segments by cutting user text at a word, and laying an e-mail out
as text and as HTML.

An e-mail body is plain text in paragraphs separated by blank lines, with four
conventions (see ``messages/README.md``): lines ``| Label: value`` form a table (a row
without a value is left out); ``Label:`` followed by lines ``> ...`` is a quotation of
user text (the ``quote`` filter writes them); ``Label:`` followed by ``- item`` lines is
a list; a paragraph ``Label: https://...`` is a link.

An SMS file may declare ``{% set variants = 2 %}`` (forms tried in order, the first that
fits wins; the template reads ``variant``) and ``{% set shrink = ["answer", ...] %}``
(context keys that may be cut, in this order, when even the last form is too long).

``render(name, channel, context)`` turns a template name and a plain dict into a
:class:`Rendered` message. Context values are plain data: strings, ints, lists of
strings, and aware datetimes (UTC is expected; ISO 8601 strings with an offset are
accepted too). Deadlines may also be ``datetime.date``. Everything is shown in Vietnam
time (Asia/Ho_Chi_Minh) as dd/mm/yyyy and HH:MM. A message that still cannot fit raises
:class:`SmsTooLongError` rather than being sent in pieces a person cannot follow.

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
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, Template, Undefined
from jinja2 import TemplateError as JinjaError

from services.common.contracts.intake import PETITION_STATUS_VI
from services.common.text import nfc
from services.notify.sms import is_gsm7, segments, to_sms_text

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_SMS_SEGMENTS = 2
DEFAULT_PLATFORM = "Hệ thống Đối thoại với Nhân dân"

Channel = Literal["sms", "email"]

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


@dataclass(frozen=True)
class Rendered:
    template: str
    channel: Channel
    subject: str | None  # e-mail only
    text: str
    html: str | None  # e-mail only
    segments: int | None  # SMS only


# ---------------------------------------------------------------- formatting


def to_vietnam_time(value: datetime) -> datetime:
    """``value`` in Asia/Ho_Chi_Minh; naive datetimes are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TemplateError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(VN_TZ)


def format_date(value: date | datetime) -> str:
    """dd/mm/yyyy, in Vietnam time for datetimes."""
    if isinstance(value, datetime):
        value = to_vietnam_time(value)
    return value.strftime("%d/%m/%Y")


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


# ---------------------------------------------------------------- e-mail layout


@dataclass
class _P:
    text: str


@dataclass
class _Facts:
    rows: list[tuple[str, str | None]]


@dataclass
class _Quote:
    label: str
    text: str


@dataclass
class _List:
    label: str
    items: list[str]


@dataclass
class _Link:
    label: str
    url: str


_Block = _P | _Facts | _Quote | _List | _Link


@dataclass
class _Email:
    subject: str
    greeting: str
    blocks: list[_Block] = field(default_factory=list)


def _esc(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>\n")


_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


def _href(url: str) -> str:
    # Only web links become anchors: a javascript: or data: URL in context stays text.
    if _URL.match(url):
        return f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'
    return html.escape(url)


def _value_html(value: str) -> str:
    return _href(value) if _URL.match(value) else _esc(value)


def _email_text(mail: _Email, platform: str) -> str:
    parts = [mail.greeting]
    for block in mail.blocks:
        if isinstance(block, _P):
            parts.append(block.text)
        elif isinstance(block, _Facts):
            parts.append("\n".join(f"{k}: {v}" for k, v in block.rows if v))
        elif isinstance(block, _Quote):
            parts.append(f"{block.label}:\n{block.text}")
        elif isinstance(block, _List):
            parts.append("\n".join([f"{block.label}:", *(f"- {i}" for i in block.items)]))
        else:
            parts.append(f"{block.label}: {block.url}")
    parts.append(f"--\n{platform}\nĐây là thư tự động, vui lòng không trả lời thư này.")
    return "\n\n".join(p for p in parts if p) + "\n"


_STYLE_TH = "text-align:left;padding:4px 12px 4px 0;color:#555;font-weight:normal;"
_STYLE_QUOTE = (
    "margin:8px 0 16px;padding:8px 12px;border-left:4px solid #b71c1c;background:#f7f7f7;"
)


def _email_html(mail: _Email, platform: str) -> str:
    body = [f"<p>{_esc(mail.greeting)}</p>"]
    for block in mail.blocks:
        if isinstance(block, _P):
            body.append(f"<p>{_esc(block.text)}</p>")
        elif isinstance(block, _Facts):
            rows = "".join(
                f'<tr><th style="{_STYLE_TH}">{_esc(k)}</th><td>{_value_html(v)}</td></tr>'
                for k, v in block.rows
                if v
            )
            body.append(
                f'<table role="presentation" style="border-collapse:collapse">{rows}</table>'
            )
        elif isinstance(block, _Quote):
            body.append(
                f"<p><strong>{_esc(block.label)}:</strong></p>"
                f'<blockquote style="{_STYLE_QUOTE}">{_esc(block.text)}</blockquote>'
            )
        elif isinstance(block, _List):
            items = "".join(f"<li>{_esc(i)}</li>" for i in block.items)
            body.append(f"<p><strong>{_esc(block.label)}:</strong></p><ul>{items}</ul>")
        else:
            body.append(f"<p>{_esc(block.label)}: {_href(block.url)}</p>")
    body.append(
        '<hr style="border:0;border-top:1px solid #ddd">'
        f'<p style="color:#666;font-size:12px">{_esc(platform)}<br>'
        "Đây là thư tự động, vui lòng không trả lời thư này.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(mail.subject)}</title>\n</head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;'
        'color:#222">\n' + "\n".join(body) + "\n</body>\n</html>\n"
    )


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
    out.setdefault("platform_name", None)
    out["platform_name"] = out["platform_name"] or DEFAULT_PLATFORM
    if name == "sms_status_reply" and out.get("status"):
        out["status_name"] = status_name(out["status"])
    kind = out.get("petition_kind")
    out["petition_word"] = PETITION_KINDS.get(kind or "", PETITION_KINDS["feedback"])
    return out


# ---------------------------------------------------------------- Jinja2

MESSAGES = Path(__file__).with_name("messages")


def _quote(text: str | None) -> str:
    """User text as quotation lines of an e-mail body."""
    return "\n".join(f"> {line}" if line else ">" for line in (text or "").split("\n"))


def _hours_phrase(hours: int) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} ngày"
    return f"{hours} giờ"


def _in_sentence(name: str) -> str:
    # "Xã Gia Viễn" reads "xã Gia Viễn" after "Ủy ban nhân dân"; other names stay as given.
    for unit in ("Xã ", "Phường ", "Đặc khu "):
        if name.startswith(unit):
            return unit.lower() + name[len(unit):]
    return name


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


ENV = Environment(loader=FileSystemLoader(MESSAGES), autoescape=False, trim_blocks=False,
                  lstrip_blocks=True, keep_trailing_newline=False, undefined=Undefined)
ENV.filters.update(
    datetime=format_datetime, weekday=lambda v: format_datetime(v, weekday=True),
    date=format_date, time=format_time, number=format_number, quote=_quote,
    hours=_hours_phrase, in_sentence=_in_sentence, sentence=_sentence,
    bullets=lambda items: "\n".join(f"- {i}" for i in items),
)
ENV.globals.update(
    DIALOGUE_FORMATS=DIALOGUE_FORMATS, DIALOGUE_KINDS=DIALOGUE_KINDS, AGENCY_ROLES=AGENCY_ROLES,
)


def _names(channel: str) -> list[str]:
    folder = MESSAGES / channel
    return sorted(p.stem for p in folder.glob("*.j2") if not p.name.startswith("_"))


_EMAILS = frozenset(_names("email"))
_SMSES = frozenset(_names("sms"))
TEMPLATE_NAMES: tuple[str, ...] = tuple(n for n in REQUIRED if n in _EMAILS | _SMSES)


def _render_block(template: Template, block: str, values: Mapping[str, Any]) -> str:
    try:
        return "".join(template.blocks[block](template.new_context(dict(values))))
    except TemplateError:
        raise
    except (JinjaError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # A template that cannot say what it should is a failed notification, not a
        # crash of the consumer that would retry it for ever.
        raise TemplateError(f"{template.name}: {exc}") from exc


# ---------------------------------------------------------------- e-mail from text

_PARAGRAPHS = re.compile(r"\n[^\S\n]*\n+")
_LINK = re.compile(r"^(?P<label>[^:\n]{1,80}): (?P<url>https?://\S+)$", re.IGNORECASE)


def _blocks(body: str) -> tuple[str, list[_Block]]:
    """(greeting, blocks) from a rendered e-mail body (see the module docstring)."""
    paragraphs = [p.strip("\n") for p in _PARAGRAPHS.split(body.strip()) if p.strip()]
    if not paragraphs:
        raise TemplateError("empty e-mail body")
    blocks: list[_Block] = []
    for para in paragraphs[1:]:
        lines = para.split("\n")
        if all(line.startswith("| ") for line in lines):
            rows = []
            for line in lines:
                label, _, value = line[2:].partition(": ")
                rows.append((label.strip(), value.strip() or None))
            blocks.append(_Facts(rows))
        elif (len(lines) > 1 and lines[0].endswith(":")
              and all(line == ">" or line.startswith("> ") for line in lines[1:])):
            blocks.append(_Quote(lines[0][:-1], "\n".join(line[2:] for line in lines[1:])))
        elif (len(lines) > 1 and lines[0].endswith(":")
              and all(line.startswith("- ") for line in lines[1:])):
            blocks.append(_List(lines[0][:-1], [line[2:] for line in lines[1:]]))
        elif len(lines) == 1 and (match := _LINK.match(lines[0])):
            blocks.append(_Link(match["label"], match["url"]))
        else:
            blocks.append(_P(para))
    return paragraphs[0], blocks


# ---------------------------------------------------------------- SMS fitting


_DOTS = re.compile(r"\.{4,}")


def _fit_sms(name: str, template: Template, values: dict[str, Any], keep_diacritics: bool,
             max_segments: int) -> str:
    module = template.make_module(values)
    count = int(getattr(module, "variants", 1) or 1)
    shrink = [k for k in getattr(module, "shrink", []) or [] if values.get(k)]

    def build(variant: int, vals: Mapping[str, Any]) -> str:
        text = _render_block(template, "text", {**vals, "variant": variant})
        text = to_sms_text(text, keep_diacritics=keep_diacritics)
        return _DOTS.sub("...", text)  # a cut value ("...") followed by the text's "."

    def fits(text: str) -> bool:
        return segments(text) <= max_segments

    for variant in range(count):
        text = build(variant, values)
        if fits(text):
            return text
    last, vals = count - 1, dict(values)
    for key in shrink:
        original = str(vals[key])
        lo, hi = 0, len(original)  # find the longest cut that still fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            vals[key] = _cut(original, mid)
            if fits(build(last, vals)):
                lo = mid
            else:
                hi = mid - 1
        vals[key] = _cut(original, lo)
        text = build(last, vals)
        if fits(text):
            return text
    raise SmsTooLongError(f"{name}: SMS cannot fit in {max_segments} segments: {text!r}")


# ---------------------------------------------------------------- public API


def channels_for(name: str) -> tuple[Channel, ...]:
    """Channels a template can be rendered for."""
    if name not in TEMPLATE_NAMES:
        raise TemplateError(f"unknown template {name!r}")
    found: list[Channel] = []
    if name in _EMAILS:
        found.append("email")
    if name in _SMSES:
        found.append("sms")
    return tuple(found)


def render(
    name: str,
    channel: str,
    context: Mapping[str, Any],
    *,
    keep_diacritics: bool = False,
    max_segments: int = MAX_SMS_SEGMENTS,
) -> Rendered:
    """Render template ``name`` for ``channel`` ("sms" or "email") from a plain dict.

    Raises TemplateError for an unknown template or channel, a missing or malformed
    context value, and SmsTooLongError when an SMS cannot be made to fit.
    """
    if name not in TEMPLATE_NAMES:
        raise TemplateError(f"unknown template {name!r}")
    if channel not in ("sms", "email"):
        raise TemplateError(f"unknown channel {channel!r}: use 'sms' or 'email'")
    if name not in (_EMAILS if channel == "email" else _SMSES):
        raise TemplateError(f"{name} has no {'e-mail' if channel == 'email' else 'SMS'} form")
    values = prepare(name, channel, context)
    template = ENV.get_template(f"{channel}/{name}.j2")
    if channel == "email":
        subject = nfc(_render_block(template, "subject", values))
        greeting, blocks = _blocks(_render_block(template, "body", values))
        mail = _Email(subject, greeting, blocks)
        return Rendered(
            template=name,
            channel="email",
            subject=subject,
            text=_email_text(mail, values["platform_name"]),
            html=_email_html(mail, values["platform_name"]),
            segments=None,
        )
    text = _fit_sms(name, template, values, keep_diacritics, max_segments)
    count = check_sms(text, max_segments, require_gsm7=not keep_diacritics)
    return Rendered(name, "sms", None, text, None, count)


__all__ = [
    "AGENCY_ROLES",
    "DIALOGUE_FORMATS",
    "DIALOGUE_KINDS",
    "MAX_SMS_SEGMENTS",
    "PETITION_KINDS",
    "STATUS_NAMES",
    "TEMPLATE_NAMES",
    "Rendered",
    "SmsTooLongError",
    "TemplateError",
    "channels_for",
    "check_sms",
    "cut_at_word",
    "format_date",
    "format_datetime",
    "format_number",
    "format_time",
    "render",
    "status_name",
    "to_vietnam_time",
]
