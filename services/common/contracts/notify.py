"""Events of the notify service: what was delivered to whom (masked), or why not."""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.events import EventSchema, event

TOPIC = "notify.deliveries"
RECIPIENT_KINDS = ("petitioner", "agency", "host", "front", "secretariat", "invitee")


class Delivery(EventSchema):
    notification_id = fields.String(required=True)
    template = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(("sms", "email", "zalo")))
    recipient = fields.String(required=True, metadata={"description": "masked phone or email"})
    recipient_kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS))
    cause_event_id = fields.String(required=True)
    petition_id = fields.String(load_default=None, allow_none=True)
    dialogue_id = fields.String(load_default=None, allow_none=True)
    commitment_id = fields.String(load_default=None, allow_none=True)
    attempts = fields.Integer(required=True)
    provider = fields.String(load_default=None, allow_none=True)


@event("notification.sent", topic=TOPIC)
class NotificationSent(Delivery):
    """The provider accepted the message."""

    sent_at = fields.AwareDateTime(required=True)


@event("notification.failed", topic=TOPIC)
class NotificationFailed(Delivery):
    """Permanently failed, or out of attempts, with the provider's reason."""

    reason = fields.String(required=True)
    failed_at = fields.AwareDateTime(required=True)
