"""Marshmallow schemas of notify's HTTP API."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.common.contracts.fields import AGENCY, PROVINCE, WARD
from services.common.schemas import AreaArgs, PageArgs, page_of
from services.notify.domain import CHANNELS, STATES

ROLES = ("host", "secretariat", "front")


class NotificationQuery(PageArgs):
    petition_id = fields.String()
    dialogue_id = fields.String()
    commitment_id = fields.String()
    status = fields.String(validate=validate.OneOf(STATES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))


class Attempt(Schema):
    number = fields.Integer()
    at = fields.DateTime()
    provider = fields.String(allow_none=True)
    outcome = fields.String(metadata={"description": "sent, transient or permanent"})
    status = fields.Raw(allow_none=True, metadata={"description": "HTTP/SMTP status or word"})
    code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)


class Notification(Schema):
    id = fields.String(attribute="_id")
    template = fields.String()
    channel = fields.String()
    recipient = fields.String(attribute="to_masked", metadata={"description": "masked"})
    recipient_kind = fields.String()
    status = fields.String(attribute="state")
    reason = fields.String(allow_none=True)
    cause_event_id = fields.String()
    petition_id = fields.String(allow_none=True)
    dialogue_id = fields.String(allow_none=True)
    commitment_id = fields.String(allow_none=True)
    urgent = fields.Boolean()
    due_at = fields.DateTime()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    attempt_count = fields.Integer()
    subject = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    delivery_status = fields.Method("_delivery", metadata={
        "description": "accepted (by the provider), delivered or failed; null before"})
    delivered_at = fields.DateTime(allow_none=True)
    provider = fields.String(allow_none=True)
    fallback_of = fields.String(allow_none=True,
                                metadata={"description": "the Zalo message this SMS replaces"})
    fallback_id = fields.String(allow_none=True,
                                metadata={"description": "the SMS that replaced this one"})

    def _delivery(self, doc: dict) -> str | None:
        if doc.get("delivery"):
            return doc["delivery"]
        return "accepted" if doc.get("state") == "sent" else None


class ReportAnswer(Schema):
    status = fields.String(metadata={"description": (
        "recorded, ignored or unknown (a report for an unknown message id is kept for an "
        "hour and applied once the send's answer is recorded)")})
    delivery = fields.String(allow_none=True)


class Report(Schema):
    at = fields.DateTime()
    provider = fields.String()
    outcome = fields.String(metadata={"description": "delivered or failed"})
    code = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class NotificationDetail(Notification):
    attempts = fields.List(fields.Nested(Attempt))
    reports = fields.List(fields.Nested(Report), dump_default=[],
                          metadata={"description": "delivery reports, first to last"})
    html = fields.String(allow_none=True)


NotificationPage = page_of(Notification, "NotificationPage")


class ContactIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 300),
                         metadata={"example": "Sở Xây dựng tỉnh Ninh Bình"})
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=30))

    @validates_schema
    def reachable(self, data: dict, **_kwargs: object) -> None:
        if not data.get("email") and not data.get("phone"):
            raise ValidationError("give an email, a phone or both", "email")


class AgencyIn(ContactIn):
    pass


class LocalityIn(ContactIn):
    province_code = fields.String(required=True, validate=PROVINCE)
    ward_code = fields.String(load_default=None, allow_none=True, validate=WARD)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class DirectoryQuery(AreaArgs):
    kind = fields.String(validate=validate.OneOf(("agency", "locality")))
    role = fields.String(validate=validate.OneOf(ROLES))


class DirectoryEntry(Schema):
    id = fields.String()
    kind = fields.String()
    agency_id = fields.String(allow_none=True)
    province_code = fields.String(allow_none=True)
    ward_code = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    masked_email = fields.String(allow_none=True)
    masked_phone = fields.String(allow_none=True)
    updated_at = fields.DateTime()


DirectoryPage = page_of(DirectoryEntry, "DirectoryPage")


class AgencyPath(Schema):
    agency_id = fields.String(required=True, validate=AGENCY)


class InboundJson(Schema):
    """Generic gateway: {"from": "+8491…", "text": "TT NB25-4K7Q2M", "id": "…"}."""

    sender = fields.String(required=True, data_key="from", validate=validate.Length(3, 30))
    text = fields.String(required=True, validate=validate.Length(max=1600))
    id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class InboundTwilio(Schema):
    """Twilio's webhook form; it sends many more fields than these, so others are ignored."""

    class Meta:
        unknown = EXCLUDE

    From = fields.String(required=True, validate=validate.Length(3, 30))
    Body = fields.String(required=True, validate=validate.Length(max=1600))
    MessageSid = fields.String(load_default=None, allow_none=True)


class InboundReply(Schema):
    status = fields.String()
    reply = fields.String(metadata={"description": "template of the reply SMS"})
