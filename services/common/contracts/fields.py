"""Field shapes that several event schemas share."""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.events import EventSchema

PROVINCE = validate.Regexp(r"^\d{2}$", error="province code must be two digits")
WARD = validate.Regexp(r"^\d{5}$", error="commune code must be five digits")


class Locality(EventSchema):
    province_code = fields.String(required=True, validate=PROVINCE)
    ward_code = fields.String(load_default=None, allow_none=True, validate=WARD)


def locality(**kwargs) -> fields.Nested:
    return fields.Nested(Locality, **kwargs)
