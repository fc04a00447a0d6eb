"""What the scheduling API's schemas share: text limits and the people and places of a
dialogue or a reception day."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.schemas import LocalityOut
from services.scheduling.domain import BODIES

TEXT = validate.Length(1, 500)


class PersonIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    body = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(BODIES),
                         metadata={"description": "body represented; read from the title "
                                                  "when absent"})


class Person(Schema):
    name = fields.String()
    title = fields.String()
    body = fields.String(allow_none=True)


Locality = LocalityOut
