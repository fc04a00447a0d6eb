"""Marshmallow shapes every service's HTTP API shares: the page, the locality and the
area filters. A service's ``schemas.py`` builds on these instead of declaring them again.

Lists answer ``{"items": [...], "total": n, "page": p, "page_size": s}``; every list takes
``page`` (1 to 100,000) and ``page_size`` (1 to 200, default 20).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.contracts.fields import PROVINCE, WARD

MAX_PAGE = 100_000
MAX_PAGE_SIZE = 200


class PageArgs(Schema):
    """``page`` and ``page_size`` of every list endpoint."""

    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE_SIZE))


class AreaArgs(PageArgs):
    """A page of a list that may be filtered on a province or a commune (the filter must
    lie inside the caller's scope: ``services.common.auth.check_filter``)."""

    province_code = fields.String(validate=PROVINCE)
    ward_code = fields.String(validate=WARD)


class Page(Schema):
    """The frame of every list answer; ``page_of`` adds its ``items``."""

    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


def page_of(item: type[Schema], name: str, base: type[Schema] = Page) -> type[Schema]:
    """The page schema of ``item`` named ``name`` (the OpenAPI component's name)."""
    return type(name, (base,), {"items": fields.List(fields.Nested(item)),
                                "__module__": item.__module__})


def page(items: list[Any], total: int, args: dict[str, Any]) -> dict[str, Any]:
    """A list answer for the ``page`` and ``page_size`` a ``PageArgs`` parsed."""
    return {"items": items, "total": total, "page": args["page"],
            "page_size": args["page_size"]}


def window(items: list[Any], args: dict[str, Any]) -> dict[str, Any]:
    """The requested page of a list held whole in memory."""
    start = (args["page"] - 1) * args["page_size"]
    return page(items[start:start + args["page_size"]], len(items), args)


class LocalityIn(Schema):
    province_code = fields.String(required=True, validate=PROVINCE)
    ward_code = fields.String(load_default=None, allow_none=True, validate=WARD)


class LocalityOut(Schema):
    province_code = fields.String()
    ward_code = fields.String(allow_none=True)


def text(high: int, low: int = 1, **kwargs: Any) -> fields.String:
    """An optional free text of ``low`` to ``high`` characters (null allowed)."""
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(low, high), **kwargs)


def required_text(high: int, low: int = 1, **kwargs: Any) -> fields.String:
    return fields.String(required=True, validate=validate.Length(low, high), **kwargs)


def in_order(start: str, end: str, *, names: tuple[str, str] | None = None) -> Any:
    """A schema check that field ``start`` is not after field ``end`` (dates or times);
    ``names`` are their names in the request when the attributes differ (``from_``).
    Use as a class attribute: ``_range = in_order("due_from", "due_to")``."""
    shown = names or (start, end)

    @validates_schema
    def check(self: Schema, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get(start) and data.get(end) and data[start] > data[end]:
            raise ValidationError(f"{shown[0]} is after {shown[1]}", shown[0])

    return check
