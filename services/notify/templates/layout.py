"""An e-mail body as text and as HTML.

A body is plain text in paragraphs separated by blank lines, with four conventions (see
``messages/README.md``): lines ``| Label: value`` form a table (a row without a value is
left out); ``Label:`` followed by lines ``> ...`` is a quotation of user text (the
``quote`` filter writes them); ``Label:`` followed by ``- item`` lines is a list; a
paragraph ``Label: https://...`` is a link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from services.notify.templates.context import TemplateError


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
class Email:
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


def email_text(mail: Email, platform: str) -> str:
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


def email_html(mail: Email, platform: str) -> str:
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


# ---------------------------------------------------------------- e-mail from text

_PARAGRAPHS = re.compile(r"\n[^\S\n]*\n+")
_LINK = re.compile(r"^(?P<label>[^:\n]{1,80}): (?P<url>https?://\S+)$", re.IGNORECASE)


def blocks_of(body: str) -> tuple[str, list[_Block]]:
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

