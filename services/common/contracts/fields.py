"""Field shapes that several event schemas share."""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.events import EventSchema

PROVINCE = validate.Regexp(r"^\d{2}$", error="province code must be two digits, e.g. '37'")
WARD = validate.Regexp(r"^\d{5}$", error="commune code must be five digits, e.g. '14464'")
AGENCY = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$",
                         error="agency id: lower-case letters, digits and '-', e.g. so-tnmt-37")


class Locality(EventSchema):
    province_code = fields.String(required=True, validate=PROVINCE)
    ward_code = fields.String(load_default=None, allow_none=True, validate=WARD)


class Host(EventSchema):
    name = fields.String(required=True)
    title = fields.String(required=True, metadata={"example": "Bí thư Đảng ủy xã"})


def locality(**kwargs) -> fields.Nested:
    return fields.Nested(Locality, **kwargs)


def agency_id(**kwargs) -> fields.String:
    return fields.String(validate=AGENCY, **kwargs)


def ids(**kwargs) -> fields.List:
    return fields.List(fields.String(), **kwargs)


class Contact(EventSchema):
    """How notify may reach a petitioner, without personal data in clear."""

    contact_token = fields.String(load_default=None, allow_none=True, metadata={
        "description": "contact sealed to notify's public key (services.common.crypto.seal)"})
    masked_phone = fields.String(load_default=None, allow_none=True,
                                 metadata={"example": "+8491****678"})
    masked_email = fields.String(load_default=None, allow_none=True)
    consent_notifications = fields.Boolean(load_default=False)
    preferred_channel = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("sms", "zalo", "email")),
        metadata={"description": "how the petitioner chose to be told (none given: SMS, "
                                 "and e-mail when there is an address)"})
