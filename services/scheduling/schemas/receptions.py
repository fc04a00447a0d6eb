"""Reception days (Quy định 11-QĐi/TW): a leader receives citizens on a fixed day."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.clock import vn_datetime
from services.common.contracts.fields import PROVINCE
from services.common.contracts.scheduling import LEVELS
from services.common.schemas import LocalityIn
from services.scheduling.schemas.base import TEXT, Locality, Person, PersonIn


class ReceptionIn(Schema):
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    locality = fields.Nested(LocalityIn, required=True)
    host = fields.Nested(PersonIn, required=True)
    venue = fields.String(required=True, validate=TEXT)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)


class ReceptionHoldIn(Schema):
    citizens = fields.Integer(required=True, validate=validate.Range(min=0))


class ReceptionOut(Schema):
    id = fields.String(attribute="_id")
    level = fields.String()
    locality = fields.Nested(Locality)
    unit_code = fields.String()
    host = fields.Nested(Person)
    venue = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    starts_at_display = fields.Function(lambda d: vn_datetime(d["starts_at"]))
    day = fields.String()
    state = fields.String()
    citizens = fields.Integer(allow_none=True)


class ReceptionArgs(Schema):
    unit_code = fields.String(load_default=None, validate=validate.Regexp(r"^\d{2}(\d{3})?$"))
    province_code = fields.String(load_default=None, validate=PROVINCE)
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date(required=True)


class ReceptionList(Schema):
    items = fields.List(fields.Nested(ReceptionOut))


class ReceptionComplianceArgs(Schema):
    province_code = fields.String(required=True, validate=PROVINCE)
    month = fields.String(required=True, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="YYYY-MM"))


class ReceptionRow(Schema):
    unit_code = fields.String()
    name = fields.String()
    level = fields.String()
    held = fields.Integer()
    minimum = fields.Integer()
    met = fields.Boolean()


class ReceptionComplianceOut(Schema):
    province_code = fields.String()
    month = fields.String()
    source = fields.String()
    total = fields.Integer()
    units_below_minimum = fields.Integer()
    items = fields.List(fields.Nested(ReceptionRow))
