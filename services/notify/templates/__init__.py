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
fits wins; the template reads ``variant``), ``{% set one_segment_first = true %}`` (a form
that fits in one segment wins over an earlier one that needs two) and
``{% set shrink = ["answer", ...] %}`` (context keys that may be cut, in this order, when
even the last form is too long).

``render(name, channel, context)`` turns a template name and a plain dict into a
:class:`Rendered` message. Context values are plain data: strings, ints, lists of
strings, and aware datetimes (UTC is expected; ISO 8601 strings with an offset are
accepted too). Deadlines may also be ``datetime.date``. Everything is shown in Vietnam
time (Asia/Ho_Chi_Minh) as dd/mm/yyyy and HH:MM. A message that still cannot fit raises
:class:`SmsTooLongError` rather than being sent in pieces a person cannot follow.

The pieces: ``context`` (what each template needs, checked and formatted),
``layout`` (an e-mail body as text and HTML); the words are in ``messages/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, Template, Undefined
from jinja2 import TemplateError as JinjaError

from services.common.text import nfc
from services.notify.sms import segments, to_sms_text
from services.notify.templates.context import (
    AGENCY_ROLES,
    DIALOGUE_FORMATS,
    DIALOGUE_KINDS,
    MAX_SMS_SEGMENTS,
    PETITION_KINDS,
    PLACED,
    REQUIRED,
    STATUS_NAMES,
    SmsTooLongError,
    TemplateError,
    _cut,
    check_sms,
    cut_at_word,
    format_date,
    format_datetime,
    format_number,
    format_time,
    lookup_link,
    prepare,
    status_name,
    to_vietnam_time,
)
from services.notify.templates.layout import Email, blocks_of, email_html, email_text

Channel = Literal["sms", "email"]


@dataclass(frozen=True)
class Rendered:
    template: str
    channel: Channel
    subject: str | None  # e-mail only
    text: str
    html: str | None  # e-mail only
    segments: int | None  # SMS only



# ---------------------------------------------------------------- Jinja2

MESSAGES = Path(__file__).parent.parent / "messages"


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

    # Every segment is paid for: with ``one_segment_first`` the first form that fits in
    # one segment wins, else (and without it) the first that fits in ``max_segments``.
    forms = [build(variant, values) for variant in range(count)]
    if getattr(module, "one_segment_first", False):
        forms = [*(t for t in forms if segments(t) == 1), *forms]
    for text in forms:
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
        greeting, blocks = blocks_of(_render_block(template, "body", values))
        mail = Email(subject, greeting, blocks)
        return Rendered(
            template=name,
            channel="email",
            subject=subject,
            text=email_text(mail, values["platform_name"]),
            html=email_html(mail, values["platform_name"]),
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
    "PLACED",
    "REQUIRED",
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
    "lookup_link",
    "render",
    "status_name",
    "to_vietnam_time",
]

