"""Vietnamese message templates: e-mail (subject, text, HTML) and SMS. Pure, no I/O.

``render(name, channel, context)`` turns a template name and a plain dict into a
:class:`Rendered` message. Context values are plain data: strings, ints, lists of
strings, and aware datetimes (UTC is expected; ISO 8601 strings with an offset are
accepted too, since contexts are often built from events). Deadlines may also be
``datetime.date``. Everything is shown in Vietnam time (Asia/Ho_Chi_Minh) as dd/mm/yyyy
and HH:MM.

SMS are written without diacritics by default and must fit in two GSM-7 segments
(306 characters). When user text (an answer, a reason, a topic) is too long, it is cut at
a word boundary with "..." and, where the template has one, a link to the full text is
added. A message that still cannot fit raises :class:`SmsTooLongError` rather than
being sent in pieces a person cannot follow.

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
=================================  ==================================================
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.common.text import nfc
from services.notify.sms import is_gsm7, segments, to_sms_text

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_SMS_SEGMENTS = 2
DEFAULT_PLATFORM = "Hệ thống Đối thoại với Nhân dân"

Channel = Literal["sms", "email"]

STATUS_NAMES: dict[str, str] = {
    "received": "Đã tiếp nhận",
    "accepted": "Đã thụ lý",
    "assigned": "Đang giải quyết",
    "on_agenda": "Đưa vào chương trình đối thoại",
    "answered": "Đã có trả lời",
    "closed": "Đã kết thúc",
    "rejected": "Không thụ lý",
    "withdrawn": "Đã rút",
    "reopened": "Mở lại",
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


# ---------------------------------------------------------------- context access

_LINE_SPACE = re.compile(r"[^\S\n]+")
_MANY_LINES = re.compile(r"\n{3,}")


class _Ctx:
    def __init__(self, template: str, data: Mapping[str, Any]) -> None:
        self.template = template
        self.data = data

    def _raw(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise TemplateError(f"{self.template}: context needs {key!r}")
            return None
        return value

    def text(self, key: str) -> str:
        return nfc(str(self._raw(key, True)))

    def opt_text(self, key: str) -> str | None:
        value = self._raw(key, False)
        return None if value is None else nfc(str(value))

    def block(self, key: str) -> str:
        """Multi-line user text: NFC, tidy spaces, keep paragraphs."""
        value = unicodedata.normalize("NFC", str(self._raw(key, True)))
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        lines = [_LINE_SPACE.sub(" ", line).strip() for line in value.split("\n")]
        return _MANY_LINES.sub("\n\n", "\n".join(lines)).strip()

    def _when(self, key: str, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise TemplateError(f"{self.template}: {key!r} is not ISO 8601") from None
        if not isinstance(value, datetime):
            raise TemplateError(f"{self.template}: {key!r} must be a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise TemplateError(f"{self.template}: {key!r} is a naive datetime")
        return value

    def when(self, key: str) -> datetime:
        return self._when(key, self._raw(key, True))

    def opt_when(self, key: str) -> datetime | None:
        value = self._raw(key, False)
        return None if value is None else self._when(key, value)

    def day(self, key: str) -> str:
        """A deadline: a date, an aware datetime or an ISO string, shown dd/mm/yyyy."""
        value = self._raw(key, True)
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise TemplateError(f"{self.template}: {key!r} is not a date") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return format_date(value)
        return format_date(self._when(key, value))

    def opt_day(self, key: str) -> str | None:
        return None if self._raw(key, False) is None else self.day(key)

    def number(self, key: str) -> int:
        value = self._raw(key, True)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{self.template}: {key!r} must be a whole number") from None

    def opt_number(self, key: str) -> int | None:
        return None if self._raw(key, False) is None else self.number(key)

    def items(self, key: str) -> list[str]:
        value = self._raw(key, False)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        return [nfc(str(v)) for v in value if str(v).strip()]

    def place(self) -> tuple[str | None, str | None]:
        venue, online = self.opt_text("venue"), self.opt_text("online_url")
        if not venue and not online:
            raise TemplateError(f"{self.template}: context needs 'venue' or 'online_url'")
        return venue, online

    @property
    def platform(self) -> str:
        return self.opt_text("platform_name") or DEFAULT_PLATFORM


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


def _citizen_greeting(c: _Ctx) -> str:
    name = c.opt_text("recipient_name")
    return f"Kính gửi Ông/Bà {name}," if name else "Kính gửi Ông/Bà,"


def _official_greeting(c: _Ctx, fallback: str) -> str:
    # Administrative style: "Kính gửi: <cơ quan>" on its own line, no comma.
    return f"Kính gửi: {c.opt_text('recipient_name') or fallback}"


# ---------------------------------------------------------------- SMS fitting


@dataclass
class _Sms:
    variants: list[str]  # constant format strings, tried in order
    values: dict[str, str]  # user text, substituted into the variants
    shrink: list[str] = field(default_factory=list)  # keys that may be cut, in this order


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

_DOTS = re.compile(r"\.{4,}")


def _fit_sms(name: str, sms: _Sms, keep_diacritics: bool, max_segments: int) -> str:
    def build(fmt: str, values: Mapping[str, str]) -> str:
        text = to_sms_text(fmt.format(**values), keep_diacritics=keep_diacritics)
        return _DOTS.sub("...", text)  # a cut value ("...") followed by the format's "."

    def fits(text: str) -> bool:
        return segments(text) <= max_segments

    for fmt in sms.variants:
        text = build(fmt, sms.values)
        if fits(text):
            return text
    fmt, values = sms.variants[-1], dict(sms.values)
    for key in sms.shrink:
        original = values[key]
        lo, hi = 0, len(original)  # find the longest cut that still fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            values[key] = _cut(original, mid)
            if fits(build(fmt, values)):
                lo = mid
            else:
                hi = mid - 1
        values[key] = _cut(original, lo)
        text = build(fmt, values)
        if fits(text):
            return text
    raise SmsTooLongError(f"{name}: SMS cannot fit in {max_segments} segments: {text!r}")


def _sms_place(venue: str | None, online: str | None, values: dict[str, str]) -> str:
    """Format fragment for where a dialogue happens; fills ``values``."""
    if venue:
        values["venue"] = venue
    if online:
        values["online_url"] = online
    if venue and online:
        return "tại {venue} hoặc trực tuyến: {online_url}"
    return "tại {venue}" if venue else "trực tuyến: {online_url}"


def _place_variants(
    head: str,
    tail: str,
    venue: str | None,
    online: str | None,
    details_url: str | None,
    values: dict[str, str],
) -> list[str]:
    """SMS formats for a dialogue, longest first; fills ``values``.

    When there is a venue and a details page, the online link is the first thing to go:
    the details page carries it, and the place and topic matter more in a short text.
    """
    link = ""
    if details_url:
        values["url"] = details_url
        link = " Chi tiết: {url}"
    variants = [head + _sms_place(venue, online, values) + tail + link]
    if venue and online and details_url:
        variants.append(head + _sms_place(venue, None, values) + tail + link)
    return variants


# ---------------------------------------------------------------- registry

_EMAILS: dict[str, Callable[[_Ctx], _Email]] = {}
_SMSES: dict[str, Callable[[_Ctx], _Sms]] = {}


def _email(name: str) -> Callable[[Callable[[_Ctx], _Email]], Callable[[_Ctx], _Email]]:
    def register(fn: Callable[[_Ctx], _Email]) -> Callable[[_Ctx], _Email]:
        _EMAILS[name] = fn
        return fn

    return register


def _sms(name: str) -> Callable[[Callable[[_Ctx], _Sms]], Callable[[_Ctx], _Sms]]:
    def register(fn: Callable[[_Ctx], _Sms]) -> Callable[[_Ctx], _Sms]:
        _SMSES[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- petitions


@_email("petition_received")
def _petition_received_email(c: _Ctx) -> _Email:
    code = c.text("tracking_code")
    received = c.opt_when("received_at")
    lead = "Kiến nghị của Ông/Bà đã được tiếp nhận"
    lead += f" lúc {format_datetime(received)}." if received else "."
    return _Email(
        subject=f"Đã tiếp nhận kiến nghị của Ông/Bà – mã tra cứu {code}",
        greeting=_citizen_greeting(c),
        blocks=[
            _P(lead),
            _Facts(
                [
                    ("Mã tra cứu", code),
                    ("Nội dung", c.opt_text("petition_title")),
                    ("Hạn trả lời dự kiến", c.opt_day("due_at")),
                ]
            ),
            _P("Ông/Bà vui lòng giữ mã tra cứu để theo dõi kết quả giải quyết:"),
            _Link("Tra cứu trên mạng", c.text("lookup_url")),
            _P(f"Hoặc soạn tin TT {code} gửi {c.text('sms_number')}."),
        ],
    )


@_sms("petition_received")
def _petition_received_sms(c: _Ctx) -> _Sms:
    return _Sms(
        ["Kiến nghị của Ông/Bà đã được tiếp nhận. Mã tra cứu: {code}. "
         "Tra cứu tại {url} hoặc soạn TT {code} gửi {number}."],
        {"code": c.text("tracking_code"), "url": c.text("lookup_url"),
         "number": c.text("sms_number")},
    )


@_email("petition_rejected")
def _petition_rejected_email(c: _Ctx) -> _Email:
    code = c.text("tracking_code")
    title = c.opt_text("petition_title")
    lead = f"Kiến nghị mã {code}"
    lead += f" (“{title}”)" if title else ""
    blocks: list[_Block] = [
        _P(lead + " của Ông/Bà không được thụ lý."),
        _Quote("Lý do", c.block("reason")),
    ]
    if hotline := c.opt_text("hotline"):
        blocks.append(_P(f"Nếu cần trao đổi thêm, Ông/Bà vui lòng gọi số {hotline}."))
    if url := c.opt_text("lookup_url"):
        blocks.append(_Link("Tra cứu", url))
    return _Email(f"Kiến nghị {code} không được thụ lý", _citizen_greeting(c), blocks)


@_sms("petition_rejected")
def _petition_rejected_sms(c: _Ctx) -> _Sms:
    values = {"code": c.text("tracking_code"), "reason": c.text("reason")}
    fmt = "Kiến nghị {code} không được thụ lý. Lý do: {reason}"
    if url := c.opt_text("lookup_url"):
        values["url"] = url
        fmt += " Chi tiết: {url}"
    return _Sms([fmt], values, ["reason"])


@_email("petition_answered")
def _petition_answered_email(c: _Ctx) -> _Email:
    code = c.text("tracking_code")
    by = c.opt_text("answered_by")
    at = c.opt_when("answered_at")
    title = c.opt_text("petition_title")
    lead = f"Kiến nghị mã {code}" + (f" (“{title}”)" if title else "") + " của Ông/Bà đã có trả lời"
    lead += f" của {by}" if by else ""
    lead += f" ngày {format_date(at)}." if at else "."
    return _Email(
        subject=f"Kiến nghị {code} đã có trả lời",
        greeting=_citizen_greeting(c),
        blocks=[
            _P(lead),
            _Quote("Nội dung trả lời", c.block("answer")),
            _P(
                "Nếu chưa đồng ý với nội dung trả lời, Ông/Bà có thể đề nghị mở lại kiến nghị "
                "tại trang tra cứu:"
            ),
            _Link("Tra cứu", c.text("lookup_url")),
        ],
    )


@_sms("petition_answered")
def _petition_answered_sms(c: _Ctx) -> _Sms:
    values = {"code": c.text("tracking_code"), "answer": c.text("answer"),
              "url": c.text("lookup_url")}
    head = "Kiến nghị {code} đã có trả lời"
    if by := c.opt_text("answered_by"):
        values["by"] = by
        head += " của {by}"
    return _Sms(
        [head + ": {answer}", head + ": {answer} Xem đầy đủ: {url}"],
        values,
        ["answer", "by"] if by else ["answer"],
    )


# ---------------------------------------------------------------- dialogues


def _format_name(c: _Ctx) -> str | None:
    fmt = c.opt_text("format")
    return DIALOGUE_FORMATS.get(fmt, fmt) if fmt else None


def _place_facts(c: _Ctx) -> list[tuple[str, str | None]]:
    venue, online = c.place()
    return [("Địa điểm", venue), ("Hình thức", _format_name(c)), ("Tham gia trực tuyến", online)]


@_email("dialogue_invitation")
def _dialogue_invitation_email(c: _Ctx) -> _Email:
    topic, host, starts = c.text("topic"), c.text("host"), c.when("starts_at")
    kind = c.opt_text("kind")
    kind_name = f" {DIALOGUE_KINDS.get(kind, kind)}" if kind else ""
    ends = c.opt_when("ends_at")
    blocks: list[_Block] = [
        _P(
            f"{host} trân trọng kính mời Ông/Bà tham dự buổi đối thoại{kind_name} "
            f"với Nhân dân về nội dung: {topic}."
        )
    ]
    if code := c.opt_text("tracking_code"):
        blocks.append(_P(f"Kiến nghị mã {code} của Ông/Bà có trong chương trình buổi đối thoại."))
    when = format_datetime(starts, weekday=True)
    if ends:
        when = f"{when}, đến {format_time(ends)}"
    blocks.append(_Facts([("Thời gian", when), ("Chủ trì", host), *_place_facts(c)]))
    if note := c.opt_text("note"):
        blocks.append(_P(note))
    if url := c.opt_text("dialogue_url"):
        blocks.append(_Link("Chương trình và thông tin chi tiết", url))
    return _Email(
        subject=f"Thư mời dự đối thoại: {topic} – {format_datetime(starts)}",
        greeting=_citizen_greeting(c),
        blocks=blocks,
    )


@_sms("dialogue_invitation")
def _dialogue_invitation_sms(c: _Ctx) -> _Sms:
    starts = c.when("starts_at")
    venue, online = c.place()
    values = {"host": c.text("host"), "topic": c.text("topic"),
              "time": format_datetime(starts)}
    variants = _place_variants(
        "Mời Ông/Bà dự đối thoại với {host} về: {topic}. Lúc {time}, ", ".",
        venue, online, c.opt_text("dialogue_url"), values,
    )
    return _Sms(variants, values, ["topic", "venue", "host"] if venue else ["topic", "host"])


@_email("dialogue_agency_notice")
def _dialogue_agency_notice_email(c: _Ctx) -> _Email:
    agency, topic, host = c.text("agency_name"), c.text("topic"), c.text("host")
    role = c.text("role")
    role_name = AGENCY_ROLES.get(role, role)
    starts = c.when("starts_at")
    lead = (
        f"{agency} được phân công là {role_name} chuẩn bị nội dung cho buổi đối thoại của "
        f"{host} với Nhân dân về: {topic}."
    )
    if role == "coordinating" and (lead_agency := c.opt_text("lead_agency")):
        lead += f" Cơ quan chủ trì: {lead_agency}."
    blocks: list[_Block] = [
        _P(lead),
        _Facts([("Thời gian", format_datetime(starts, weekday=True)), *_place_facts(c)]),
    ]
    if agenda := c.items("agenda"):
        blocks.append(_List("Nội dung chương trình", agenda))
    if prepare_by := c.opt_day("prepare_by"):
        blocks.append(_P(f"Đề nghị gửi báo cáo, tài liệu chuẩn bị trước ngày {prepare_by}."))
    if url := c.opt_text("dialogue_url"):
        blocks.append(_Link("Thông tin chi tiết", url))
    return _Email(
        subject=f"Phân công chuẩn bị đối thoại ngày {format_date(starts)}: {topic}",
        greeting=_official_greeting(c, agency),
        blocks=blocks,
    )


@_sms("dialogue_agency_notice")
def _dialogue_agency_notice_sms(c: _Ctx) -> _Sms:
    venue, online = c.place()
    role = c.text("role")
    values = {"agency": c.text("agency_name"), "role": AGENCY_ROLES.get(role, role),
              "topic": c.text("topic"), "time": format_datetime(c.when("starts_at"))}
    variants = _place_variants(
        "{agency} là {role} buổi đối thoại về: {topic}. Lúc {time}, ", ".",
        venue, online, c.opt_text("dialogue_url"), values,
    )
    return _Sms(variants, values, ["topic", "venue"] if venue else ["topic"])


@_email("dialogue_rescheduled")
def _dialogue_rescheduled_email(c: _Ctx) -> _Email:
    topic = c.text("topic")
    old, new = c.when("old_starts_at"), c.when("new_starts_at")
    blocks: list[_Block] = [
        _P(
            f"Buổi đối thoại về “{topic}” dự kiến lúc {format_datetime(old)} "
            f"được chuyển sang {format_datetime(new, weekday=True)}."
        ),
        _Facts(
            [
                ("Thời gian mới", format_datetime(new, weekday=True)),
                ("Thời gian cũ", format_datetime(old)),
                ("Chủ trì", c.opt_text("host")),
                *_place_facts(c),
            ]
        ),
    ]
    if c.opt_text("reason"):
        blocks.append(_Quote("Lý do", c.block("reason")))
    blocks.append(_P("Mong Ông/Bà thông cảm và sắp xếp tham dự."))
    if url := c.opt_text("dialogue_url"):
        blocks.append(_Link("Thông tin chi tiết", url))
    return _Email(
        subject=f"Đổi thời gian đối thoại: {topic} – sang {format_datetime(new)}",
        greeting=_citizen_greeting(c),
        blocks=blocks,
    )


@_sms("dialogue_rescheduled")
def _dialogue_rescheduled_sms(c: _Ctx) -> _Sms:
    venue, online = c.place()
    values = {"topic": c.text("topic"), "old": format_datetime(c.when("old_starts_at")),
              "new": format_datetime(c.when("new_starts_at"))}
    shrink = ["topic", "venue"] if venue else ["topic"]
    tail = "."
    if reason := c.opt_text("reason"):
        values["reason"] = reason
        tail = ". Lý do: {reason}"
        shrink.insert(0, "reason")
    variants = _place_variants(
        "Đối thoại về: {topic} đổi từ {old} sang {new}, ", tail,
        venue, online, c.opt_text("dialogue_url"), values,
    )
    return _Sms(variants, values, shrink)


@_email("dialogue_cancelled")
def _dialogue_cancelled_email(c: _Ctx) -> _Email:
    topic, starts = c.text("topic"), c.when("starts_at")
    host = c.opt_text("host")
    lead = f"Buổi đối thoại về “{topic}”"
    lead += f" do {host} chủ trì" if host else ""
    lead += f", dự kiến lúc {format_datetime(starts, weekday=True)}, đã bị hủy."
    blocks: list[_Block] = [
        _P(lead),
        _Quote("Lý do", c.block("reason")),
        _P("Thông tin về buổi đối thoại thay thế (nếu có) sẽ được gửi tới Ông/Bà."),
    ]
    if url := c.opt_text("dialogue_url"):
        blocks.append(_Link("Thông tin chi tiết", url))
    return _Email(f"Hủy buổi đối thoại: {topic}", _citizen_greeting(c), blocks)


@_sms("dialogue_cancelled")
def _dialogue_cancelled_sms(c: _Ctx) -> _Sms:
    return _Sms(
        ["Buổi đối thoại về: {topic} lúc {time} đã bị hủy. Lý do: {reason}"],
        {"topic": c.text("topic"), "time": format_datetime(c.when("starts_at")),
         "reason": c.text("reason")},
        ["reason", "topic"],
    )


def _hours_phrase(hours: int) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} ngày"
    return f"{hours} giờ"


@_email("dialogue_reminder")
def _dialogue_reminder_email(c: _Ctx) -> _Email:
    topic, starts = c.text("topic"), c.when("starts_at")
    hours = c.number("hours_before")
    blocks: list[_Block] = [
        _P(
            f"Còn {_hours_phrase(hours)} nữa, buổi đối thoại về “{topic}” sẽ bắt đầu lúc "
            f"{format_datetime(starts, weekday=True)}."
        ),
        _Facts(
            [("Thời gian", format_datetime(starts, weekday=True)),
             ("Chủ trì", c.opt_text("host")), *_place_facts(c)]
        ),
    ]
    if url := c.opt_text("dialogue_url"):
        blocks.append(_Link("Chương trình và thông tin chi tiết", url))
    return _Email(
        subject=f"Nhắc lịch đối thoại: {topic} – {format_datetime(starts)}",
        greeting=_citizen_greeting(c),
        blocks=blocks,
    )


@_sms("dialogue_reminder")
def _dialogue_reminder_sms(c: _Ctx) -> _Sms:
    venue, online = c.place()
    values = {"topic": c.text("topic"), "time": format_datetime(c.when("starts_at")),
              "left": _hours_phrase(c.number("hours_before"))}
    variants = _place_variants(
        "Nhắc lịch: còn {left} nữa, lúc {time}, đối thoại về: {topic}, ", ".",
        venue, online, c.opt_text("dialogue_url"), values,
    )
    return _Sms(variants, values, ["topic", "venue"] if venue else ["topic"])


# ---------------------------------------------------------------- commitments


def _progress(c: _Ctx) -> str | None:
    progress = c.opt_number("progress")
    return None if progress is None else f"{progress}%"


@_email("commitment_assigned")
def _commitment_assigned_email(c: _Ctx) -> _Email:
    agency, deadline = c.text("agency_name"), c.day("deadline")
    topic, held = c.text("dialogue_topic"), c.day("dialogue_date")
    number = c.opt_text("notice_number")
    source = f"Theo Thông báo kết luận số {number}, sau" if number else "Sau"
    host = c.opt_text("host")
    lead = f"{source} buổi đối thoại ngày {held}"
    lead += f" của {host}" if host else ""
    lead += f" với Nhân dân về “{topic}”, {agency} được giao chủ trì thực hiện kết luận sau:"
    count = c.opt_number("petitions_count")
    coordinating = c.items("coordinating_agencies")
    blocks: list[_Block] = [
        _P(lead),
        _Quote("Kết luận", c.block("conclusion")),
        _Facts(
            [
                ("Hạn hoàn thành", deadline),
                ("Cơ quan phối hợp", ", ".join(coordinating) or None),
                ("Số kiến nghị liên quan", None if count is None else format_number(count)),
            ]
        ),
        _P(
            f"Đề nghị {agency} cập nhật tiến độ và báo cáo kết quả trên hệ thống trước thời hạn; "
            "kết quả sẽ được thông báo tới người dân có kiến nghị liên quan."
        ),
    ]
    if url := c.opt_text("commitment_url"):
        blocks.append(_Link("Cập nhật tiến độ", url))
    return _Email(
        subject=f"Giao thực hiện kết luận đối thoại ngày {held} – hạn {deadline}",
        greeting=_official_greeting(c, agency),
        blocks=blocks,
    )


@_sms("commitment_assigned")
def _commitment_assigned_sms(c: _Ctx) -> _Sms:
    values = {"agency": c.text("agency_name"), "held": c.day("dialogue_date"),
              "conclusion": c.text("conclusion"), "deadline": c.day("deadline")}
    fmt = (
        "{agency} được giao thực hiện kết luận đối thoại ngày {held}: {conclusion} "
        "Hạn: {deadline}."
    )
    if url := c.opt_text("commitment_url"):
        values["url"] = url
        fmt += " Chi tiết: {url}"
    return _Sms([fmt], values, ["conclusion", "agency"])


def _commitment_facts(c: _Ctx, extra: tuple[str, str]) -> _Facts:
    return _Facts(
        [
            ("Cơ quan chủ trì", c.text("agency_name")),
            ("Hạn hoàn thành", c.day("deadline")),
            extra,
            ("Tiến độ đã báo cáo", _progress(c)),
        ]
    )


@_email("commitment_deadline_approaching")
def _commitment_deadline_approaching_email(c: _Ctx) -> _Email:
    agency, deadline, left = c.text("agency_name"), c.day("deadline"), c.number("days_left")
    blocks: list[_Block] = [
        _P(
            f"Kết luận sau đây giao {agency} thực hiện còn {left} ngày nữa là đến hạn "
            f"({deadline}):"
        ),
        _Quote("Kết luận", c.block("conclusion")),
        _commitment_facts(c, ("Số ngày còn lại", str(left))),
        _P("Đề nghị cập nhật tiến độ và báo cáo kết quả trước thời hạn."),
    ]
    if url := c.opt_text("commitment_url"):
        blocks.append(_Link("Cập nhật tiến độ", url))
    return _Email(
        subject=f"Sắp đến hạn ({deadline}, còn {left} ngày): kết luận đối thoại giao {agency}",
        greeting=_official_greeting(c, agency),
        blocks=blocks,
    )


@_sms("commitment_deadline_approaching")
def _commitment_deadline_approaching_sms(c: _Ctx) -> _Sms:
    values = {"agency": c.text("agency_name"), "conclusion": c.text("conclusion"),
              "deadline": c.day("deadline"), "left": str(c.number("days_left"))}
    fmt = "Nhắc hạn: kết luận giao {agency} còn {left} ngày (hạn {deadline}): {conclusion}"
    if url := c.opt_text("commitment_url"):
        values["url"] = url
        fmt += " Cập nhật: {url}"
    return _Sms([fmt], values, ["conclusion", "agency"])


@_email("commitment_overdue")
def _commitment_overdue_email(c: _Ctx) -> _Email:
    agency, deadline, late = c.text("agency_name"), c.day("deadline"), c.number("days_late")
    blocks: list[_Block] = [
        _P(f"Kết luận sau đây giao {agency} thực hiện đã quá hạn {late} ngày (hạn {deadline}):"),
        _Quote("Kết luận", c.block("conclusion")),
        _commitment_facts(c, ("Số ngày quá hạn", str(late))),
        _P(
            "Đề nghị khẩn trương hoàn thành và báo cáo kết quả. Kết luận quá hạn sẽ được báo cáo "
            "người chủ trì đối thoại và Mặt trận Tổ quốc để đôn đốc, giám sát."
        ),
    ]
    if url := c.opt_text("commitment_url"):
        blocks.append(_Link("Cập nhật tiến độ", url))
    return _Email(
        subject=f"Quá hạn {late} ngày: kết luận đối thoại giao {agency}",
        greeting=_official_greeting(c, agency),
        blocks=blocks,
    )


@_sms("commitment_overdue")
def _commitment_overdue_sms(c: _Ctx) -> _Sms:
    values = {"agency": c.text("agency_name"), "conclusion": c.text("conclusion"),
              "deadline": c.day("deadline"), "late": str(c.number("days_late"))}
    fmt = "Quá hạn {late} ngày (hạn {deadline}): kết luận giao {agency}: {conclusion}"
    if url := c.opt_text("commitment_url"):
        values["url"] = url
        fmt += " Cập nhật: {url}"
    return _Sms([fmt], values, ["conclusion", "agency"])


@_email("commitment_escalated")
def _commitment_escalated_email(c: _Ctx) -> _Email:
    agency, deadline, late = c.text("agency_name"), c.day("deadline"), c.number("days_late")
    level, to = c.number("level"), c.text("escalated_to")
    topic = c.opt_text("dialogue_topic")
    lead = f"Kết luận sau đây giao {agency} thực hiện"
    lead += f" (đối thoại về “{topic}”)" if topic else ""
    lead += (
        f" đã quá hạn {late} ngày (hạn {deadline}) và được chuyển lên {to} "
        f"để đôn đốc, xử lý (cấp {level})."
    )
    blocks: list[_Block] = [
        _P(lead),
        _Quote("Kết luận", c.block("conclusion")),
        _Facts([("Cơ quan chủ trì", agency), ("Hạn hoàn thành", deadline),
                ("Số ngày quá hạn", str(late)), ("Cấp xử lý", f"Cấp {level} – {to}")]),
    ]
    if url := c.opt_text("commitment_url"):
        blocks.append(_Link("Chi tiết", url))
    return _Email(
        subject=f"Chuyển cấp {level}: kết luận giao {agency} quá hạn {late} ngày",
        greeting=_official_greeting(c, to),
        blocks=blocks,
    )


@_sms("commitment_escalated")
def _commitment_escalated_sms(c: _Ctx) -> _Sms:
    values = {"agency": c.text("agency_name"), "conclusion": c.text("conclusion"),
              "deadline": c.day("deadline"), "late": str(c.number("days_late")),
              "level": str(c.number("level")), "to": c.text("escalated_to")}
    fmt = ("Chuyển cấp {level} ({to}): kết luận giao {agency} quá hạn {late} ngày "
           "(hạn {deadline}): {conclusion}")
    if url := c.opt_text("commitment_url"):
        values["url"] = url
        fmt += " Chi tiết: {url}"
    return _Sms([fmt], values, ["conclusion", "to", "agency"])


# ---------------------------------------------------------------- compliance


def _in_sentence(name: str) -> str:
    # "Xã Gia Viễn" reads "xã Gia Viễn" after "Ủy ban nhân dân"; other names stay as given.
    for unit in ("Xã ", "Phường ", "Đặc khu "):
        if name.startswith(unit):
            return unit.lower() + name[len(unit):]
    return name


@_email("dialogue_required")
def _dialogue_required_email(c: _Ctx) -> _Email:
    commune = c.text("commune_name")
    requesters, threshold = c.number("requesters"), c.number("threshold")
    voters, year = c.opt_number("voters"), c.opt_number("year")
    reached = requesters >= threshold
    lead = (
        f"Đến nay đã có {format_number(requesters)} cử tri của {_in_sentence(commune)} "
        "đề nghị tổ chức đối thoại"
    )
    if topic := c.opt_text("request_topic"):
        lead += f" về “{topic}”"
    if reached:
        lead += f", đạt ngưỡng {format_number(threshold)} cử tri (10% tổng số cử tri)."
    else:
        lead += (
            f", chưa đạt ngưỡng {format_number(threshold)} cử tri (10% tổng số cử tri; "
            f"còn thiếu {format_number(threshold - requesters)})."
        )
    blocks: list[_Block] = [
        _P(lead),
        _Facts(
            [
                ("Số cử tri đề nghị", format_number(requesters)),
                ("Ngưỡng 10%", format_number(threshold)),
                ("Tổng số cử tri", None if voters is None else format_number(voters)),
                ("Năm", None if year is None else str(year)),
            ]
        ),
        _P(
            "Theo Điều 43 Luật Tổ chức chính quyền địa phương năm 2025, Ủy ban nhân dân cấp xã "
            "phối hợp với Ủy ban Mặt trận Tổ quốc Việt Nam cùng cấp tổ chức đối thoại với "
            "Nhân dân ít nhất mỗi năm một lần và khi có từ 10% cử tri trở lên đề nghị."
        ),
    ]
    if reached:
        blocks.append(_P("Đề nghị sắp xếp tổ chức đối thoại và thông báo trước ít nhất 7 ngày."))
    if url := c.opt_text("dashboard_url"):
        blocks.append(_Link("Chi tiết", url))
    subject = (
        f"Yêu cầu tổ chức đối thoại tại {_in_sentence(commune)}: "
        f"{format_number(requesters)} cử tri đề nghị"
        if reached
        else f"Đề nghị đối thoại tại {_in_sentence(commune)}: {format_number(requesters)}/"
        f"{format_number(threshold)} cử tri"
    )
    return _Email(
        subject=subject,
        greeting=_official_greeting(c, f"Ủy ban nhân dân {_in_sentence(commune)}"),
        blocks=blocks,
    )


@_sms("dialogue_required")
def _dialogue_required_sms(c: _Ctx) -> _Sms:
    requesters, threshold = c.number("requesters"), c.number("threshold")
    values = {"commune": c.text("commune_name"), "n": format_number(requesters),
              "t": format_number(threshold)}
    if requesters >= threshold:
        fmt = ("{commune}: {n} cử tri đề nghị đối thoại, đạt ngưỡng 10% ({t} cử tri). "
               "Đề nghị tổ chức đối thoại theo Điều 43 Luật Tổ chức CQĐP 2025.")
    else:
        fmt = "{commune}: {n}/{t} cử tri (ngưỡng 10%) đã đề nghị đối thoại."
    if url := c.opt_text("dashboard_url"):
        values["url"] = url
        fmt += " Chi tiết: {url}"
    return _Sms([fmt], values, ["commune"])


# ---------------------------------------------------------------- SMS replies


@_sms("sms_status_reply")
def _sms_status_reply(c: _Ctx) -> _Sms:
    code = c.text("tracking_code")
    status = c.opt_text("status")
    values = {"code": code}
    if status is None:
        fmt = "Không tìm thấy kiến nghị mã {code}. Vui lòng kiểm tra lại mã"
        if number := c.opt_text("sms_number"):
            values["number"] = number
            fmt += " và soạn TT <mã> gửi {number}"
        return _Sms([fmt + "."], values)
    values["status"] = status_name(status)
    fmt = "Kiến nghị {code}: {status}"
    if updated := c.opt_when("updated_at"):
        values["updated"] = format_date(updated)
        fmt += " (cập nhật {updated})"
    fmt += "."
    shrink: list[str] = []
    if dialogue := c.opt_when("dialogue_starts_at"):
        values["dialogue"] = format_datetime(dialogue)
        fmt += " Đối thoại lúc {dialogue}."
    if note := c.opt_text("note"):
        values["note"] = note
        fmt += " {note}"
        shrink.append("note")
    if url := c.opt_text("lookup_url"):
        values["url"] = url
        fmt += " Chi tiết: {url}"
    return _Sms([fmt], values, shrink)


@_sms("sms_stop_reply")
def _sms_stop_reply(c: _Ctx) -> _Sms:
    code = c.opt_text("tracking_code")
    number = c.opt_text("sms_number")
    values: dict[str, str] = {}
    if code and c.data.get("found") is False:
        values["code"] = code
        return _Sms(["Không tìm thấy kiến nghị mã {code} gắn với số điện thoại này."], values)
    if code:
        values["code"] = code
        fmt = "Ông/Bà sẽ không nhận tin nhắn về kiến nghị {code} nữa."
        if number:
            values["number"] = number
            fmt += " Vẫn tra cứu được: soạn TT {code} gửi {number}."
    else:
        fmt = "Ông/Bà sẽ không nhận tin nhắn từ hệ thống nữa."
    return _Sms([fmt], values)


@_sms("sms_help_reply")
def _sms_help_reply(c: _Ctx) -> _Sms:
    values = {"number": c.text("sms_number")}
    fmt = ("Tra cứu kiến nghị: soạn TT <mã> gửi {number}. "
           "Ngừng nhận tin: soạn HUY <mã> gửi {number}.")
    if hotline := c.opt_text("hotline"):
        values["hotline"] = hotline
        fmt += " Đường dây nóng: {hotline}."
    if url := c.opt_text("lookup_url"):
        values["url"] = url
        # Last, with nothing after it: phones would take a trailing "." into the link.
        fmt += " Tra cứu trên mạng: {url}"
    return _Sms([fmt], values)


# ---------------------------------------------------------------- public API

TEMPLATE_NAMES: tuple[str, ...] = tuple(dict.fromkeys([*_EMAILS, *_SMSES]))


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
    ctx = _Ctx(name, context)
    if channel == "email":
        if name not in _EMAILS:
            raise TemplateError(f"{name} has no e-mail form")
        mail = _EMAILS[name](ctx)
        return Rendered(
            template=name,
            channel="email",
            subject=nfc(mail.subject),
            text=_email_text(mail, ctx.platform),
            html=_email_html(mail, ctx.platform),
            segments=None,
        )
    if channel == "sms":
        if name not in _SMSES:
            raise TemplateError(f"{name} has no SMS form")
        text = _fit_sms(name, _SMSES[name](ctx), keep_diacritics, max_segments)
        count = check_sms(text, max_segments, require_gsm7=not keep_diacritics)
        return Rendered(name, "sms", None, text, None, count)
    raise TemplateError(f"unknown channel {channel!r}: use 'sms' or 'email'")


__all__ = [
    "AGENCY_ROLES",
    "DIALOGUE_FORMATS",
    "DIALOGUE_KINDS",
    "MAX_SMS_SEGMENTS",
    "STATUS_NAMES",
    "TEMPLATE_NAMES",
    "Rendered",
    "SmsTooLongError",
    "TemplateError",
    "channels_for",
    "check_sms",
    "format_date",
    "format_datetime",
    "format_number",
    "format_time",
    "render",
    "status_name",
    "to_vietnam_time",
]
