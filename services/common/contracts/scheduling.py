"""Events of the scheduling service (programmes and dialogues).

Topic ``scheduling.dialogues`` is keyed by dialogue id (programme events by
programme id, ``dialogue.required`` by commune code).
"""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.contracts.fields import Contact, Host, agency_id, ids, locality
from services.common.events import EventSchema, event

TOPIC = "scheduling.dialogues"

DIALOGUE_KINDS = ("periodic", "thematic", "ad_hoc")
LEVELS = ("province", "commune")
FORMATS = ("in_person", "online", "hybrid")


class ProgrammeItem(EventSchema):
    period = fields.String(required=True, metadata={"example": "2027-Q2 or 2027-05"})
    kind = fields.String(required=True, validate=validate.OneOf(DIALOGUE_KINDS))
    topic = fields.String(required=True)


@event("programme.published", topic=TOPIC)
class ProgrammePublished(EventSchema):
    """An annual programme of dialogues was published."""

    programme_id = fields.String(required=True)
    locality = locality(required=True)
    year = fields.Integer(required=True)
    items = fields.List(fields.Nested(ProgrammeItem), required=True)


class AgendaItem(EventSchema):
    item_id = fields.String(required=True)
    title = fields.String(required=True)
    issue_id = fields.String(load_default=None, allow_none=True)
    petition_ids = ids(load_default=list)


class DialogueFacts(EventSchema):
    """What notify needs for invitations and reminders, and others for their records."""

    dialogue_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(DIALOGUE_KINDS))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    locality = locality(required=True)
    host = fields.Nested(Host, required=True)
    lead_agency_id = agency_id(required=True)
    coordinating_agency_ids = ids(load_default=list)
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    venue = fields.String(load_default=None, allow_none=True)
    online_url = fields.String(load_default=None, allow_none=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    topic = fields.String(required=True)
    agenda = fields.List(fields.Nested(AgendaItem), load_default=list)
    petition_ids = ids(load_default=list, metadata={"description": "all agenda petitions"})


@event("dialogue.announced", topic=TOPIC)
class DialogueAnnounced(DialogueFacts):
    """The notice was published (at least 7 days ahead unless ad hoc with a reason)."""

    announced_at = fields.AwareDateTime(required=True)
    reason = fields.String(load_default=None, allow_none=True)


@event("dialogue.rescheduled", topic=TOPIC)
class DialogueRescheduled(DialogueFacts):
    """New time or place; invitees are told and reminders replaced."""

    previous_starts_at = fields.AwareDateTime(required=True)
    previous_venue = fields.String(load_default=None, allow_none=True)
    announced_at = fields.AwareDateTime(required=True)
    reason = fields.String(load_default=None, allow_none=True)


@event("dialogue.cancelled", topic=TOPIC)
class DialogueCancelled(DialogueFacts):
    """Cancelled with a reason; invitees are told and reminders dropped."""

    reason = fields.String(required=True)
    cancelled_at = fields.AwareDateTime(required=True)


class Attendance(EventSchema):
    total = fields.Integer(required=True)
    citizens = fields.Integer(load_default=0)
    front = fields.Integer(load_default=0)
    organisations = fields.Integer(load_default=0)
    agencies = fields.Integer(load_default=0)


@event("dialogue.held", topic=TOPIC)
class DialogueHeld(EventSchema):
    """The dialogue took place."""

    dialogue_id = fields.String(required=True)
    locality = locality(required=True)
    held_at = fields.AwareDateTime(required=True)
    attendance = fields.Nested(Attendance, required=True)
    discussed_item_ids = ids(load_default=list)
    discussed_petition_ids = ids(load_default=list)
    issue_ids = ids(load_default=list)


class Conclusion(EventSchema):
    conclusion_id = fields.String(required=True, metadata={"description": "stable id"})
    text = fields.String(required=True)
    responsible_agency_id = agency_id(required=True)
    coordinating_agency_ids = ids(load_default=list)
    deadline = fields.Date(load_default=None, allow_none=True)
    working_days = fields.Integer(load_default=None, allow_none=True,
                                  metadata={"description": "when no deadline: working days "
                                                           "after the notice date"})
    petition_ids = ids(load_default=list)


@event("dialogue.concluded", topic=TOPIC)
class DialogueConcluded(EventSchema):
    """The conclusion notice (thông báo kết luận) was issued."""

    dialogue_id = fields.String(required=True)
    locality = locality(required=True)
    host = fields.Nested(Host, required=True)
    topic = fields.String(required=True)
    notice_number = fields.String(required=True, metadata={"example": "15-TB/ĐU"})
    issued_at = fields.AwareDateTime(required=True)
    signed_by = fields.String(required=True)
    held_at = fields.AwareDateTime(required=True)
    late = fields.Boolean(required=True, metadata={"description": "issued > 10 days after"})
    conclusions = fields.List(fields.Nested(Conclusion), required=True)


@event("dialogue.required", topic=TOPIC)
class DialogueRequired(EventSchema):
    """At least 10% of a commune's voters asked for a dialogue this year (once per year)."""

    locality = locality(required=True)
    year = fields.Integer(required=True)
    requester_count = fields.Integer(required=True)
    voter_count = fields.Integer(required=True)
    threshold = fields.Integer(required=True)
    topics = fields.List(fields.String(), load_default=list)


@event("dialogue_request.code_issued", topic=TOPIC)
class DialogueRequestCodeIssued(EventSchema):
    """A citizen asked for a dialogue: send this one-time code to their phone; only a
    confirmed requester counts towards the 10 % (keyed by commune code)."""

    request_id = fields.String(required=True)
    locality = locality(required=True)
    contact = fields.Nested(Contact, required=True, metadata={
        "description": "contact_token seals {phone, code, name}: neither is in clear"})
    expires_at = fields.AwareDateTime(required=True)
