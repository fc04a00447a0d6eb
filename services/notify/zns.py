"""Which Zalo ZNS template says what one of our templates says: configuration, not code.

ZNS only sends templates Zalo approved beforehand, each with named, typed parameters
(a name holds 30 characters, an address 200, a code 30). ``ZNS_TEMPLATES`` maps our
template names to a ZNS template id and, for each ZNS parameter, the context key that
fills it, optionally with its maximum length::

    {"petition_received": {"template_id": "301245",
                           "params": {"ma_tra_cuu": "tracking_code",
                                      "noi_dung": "petition_title|100",
                                      "ngay_nhan": "received_at"}}}

A template without a mapping is not sent over Zalo: the citizen gets the SMS instead.
Values are shown as the e-mails and SMS show them (dates dd/mm/yyyy in Vietnam time,
statuses by their Vietnamese names) and cut at a word to fit; ``lookup_url`` is the
look-up page with the message's tracking code (``?code=``), as in the SMS and e-mails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.notify.templates import (
    STATUS_NAMES,
    cut_at_word,
    format_date,
    format_datetime,
    lookup_link,
)

DEFAULT_MAX = 30

# What the local stand-in accepts (any id works there); a province registers its own
# templates with Zalo and puts their ids here.
DEV_TEMPLATES = {
    "petition_received": {"template_id": "100001",
                          "params": {"ma_tra_cuu": "tracking_code",
                                     "noi_dung": "petition_title|100",
                                     "ngay_tiep_nhan": "received_at",
                                     "duong_dan": "lookup_url|200"}},
    "petition_answered": {"template_id": "100002",
                          "params": {"ma_tra_cuu": "tracking_code",
                                     "tra_loi": "answer|200", "ngay_tra_loi": "answered_at",
                                     "duong_dan": "lookup_url|200"}},
    "petition_rejected": {"template_id": "100003",
                          "params": {"ma_tra_cuu": "tracking_code", "ly_do": "reason|200"}},
    "dialogue_invitation": {"template_id": "100004",
                            "params": {"noi_dung": "topic|200", "thoi_gian": "starts_at",
                                       "dia_diem": "venue|200"}},
    "dialogue_reminder": {"template_id": "100005",
                          "params": {"noi_dung": "topic|200", "thoi_gian": "starts_at",
                                     "dia_diem": "venue|200"}},
    "dialogue_rescheduled": {"template_id": "100006",
                             "params": {"noi_dung": "topic|200", "thoi_gian": "new_starts_at",
                                        "dia_diem": "venue|200"}},
    "dialogue_cancelled": {"template_id": "100007",
                           "params": {"noi_dung": "topic|200", "thoi_gian": "starts_at",
                                      "ly_do": "reason|200"}},
}


class ZnsConfigError(ValueError):
    """ZNS_TEMPLATES is not what the module docstring describes."""


@dataclass(frozen=True)
class ZnsTemplate:
    template_id: str
    params: tuple[tuple[str, str, int], ...]  # (ZNS parameter, context key, max length)


def parse(raw: str | Mapping[str, Any]) -> dict[str, ZnsTemplate]:
    """``ZNS_TEMPLATES`` (JSON text or a dict) -> our template name -> ZNS template."""
    try:
        spec = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ZnsConfigError(f"not JSON: {exc}") from None
    if not isinstance(spec, Mapping):
        raise ZnsConfigError("must be a JSON object {template: {template_id, params}}")
    found: dict[str, ZnsTemplate] = {}
    for name, entry in spec.items():
        if not isinstance(entry, Mapping) or not str(entry.get("template_id", "")).strip():
            raise ZnsConfigError(f"{name}: needs a template_id")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping) or not params:
            raise ZnsConfigError(f"{name}: needs params {{zns_param: context_key}}")
        items = []
        for param, source in params.items():
            key, _, limit = str(source).partition("|")
            try:
                size = int(limit) if limit else DEFAULT_MAX
            except ValueError:
                raise ZnsConfigError(f"{name}.{param}: bad length {limit!r}") from None
            items.append((str(param), key.strip(), size))
        found[str(name)] = ZnsTemplate(str(entry["template_id"]).strip(), tuple(items))
    return found


def _show(key: str, value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value) if value.tzinfo else str(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, str) and key.endswith("_at"):
        try:
            return format_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if key == "status" and isinstance(value, str):
        return STATUS_NAMES.get(value, value)
    return " ".join(str(value).split())


def template_data(template: ZnsTemplate, context: Mapping[str, Any]) -> dict[str, str] | None:
    """The ZNS ``template_data`` for ``context``; None when a parameter has no value
    (ZNS refuses empty parameters: the SMS goes instead)."""
    data: dict[str, str] = {}
    for param, key, size in template.params:
        value = context.get(key)
        if key == "lookup_url":  # as in the SMS and e-mails: the link carries the code
            value = lookup_link(value, context.get("tracking_code"))
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        data[param] = cut_at_word(_show(key, value), size)
    return data
