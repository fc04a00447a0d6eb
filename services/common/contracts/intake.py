"""Events of the intake service (petitions and issues), and the submissions it consumes.

Topic ``intake.petitions`` is keyed by petition id (issue events by issue id).
Petition events carry the petition's locality and, where a person may be told,
its ``contact`` (a sealed token, never the plaintext).
"""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.contracts.fields import Contact, ids, locality
from services.common.events import EventSchema, event

TOPIC = "intake.petitions"
SUBMISSIONS = "intake.submissions"

KINDS = ("feedback", "complaint", "denunciation", "voters_petition")
# One vocabulary for every service (intake's API and pages, notify's messages): the
# Vietnamese name of each petition kind and status. A petition whose kind is not
# known is "đơn"; a complaint is never called "kiến nghị".
KIND_VI = {"feedback": "Phản ánh, kiến nghị", "complaint": "Khiếu nại",
           "denunciation": "Tố cáo", "voters_petition": "Kiến nghị cử tri"}
# Only the statuses intake's state machine reaches: a petition on a dialogue's agenda
# keeps its status (the portal reads the agenda from scheduling's dialogues).
PETITION_STATUS_VI = {
    "received": "Đã tiếp nhận", "accepted": "Đã thụ lý", "assigned": "Đang giải quyết",
    "answered": "Đã có trả lời", "closed": "Đã kết thúc", "rejected": "Không thụ lý",
    "withdrawn": "Đã rút", "reopened": "Đang xem xét lại",
}
CHANNELS = ("web", "sms", "hotline", "in_person", "front", "organisation", "external")


class PetitionRef(EventSchema):
    petition_id = fields.String(required=True)
    tracking_code = fields.String(required=True)
    locality = locality(required=True)
    category = fields.String(load_default=None, allow_none=True)
    issue_id = fields.String(load_default=None, allow_none=True)
    # The petition's status once the change is made (a key of PETITION_STATUS_VI), so
    # no consumer infers intake's state machine from event names. Absent from events
    # published before it was added.
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(tuple(PETITION_STATUS_VI)))


@event("petition.received", topic=TOPIC)
class PetitionReceived(PetitionRef):
    """A petition entered the system (any channel)."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    due_date = fields.Date(load_default=None, allow_none=True)
    received_at = fields.AwareDateTime(required=True)
    contact = fields.Nested(Contact, required=True)
    external_ref = fields.String(load_default=None, allow_none=True)
    source_system = fields.String(load_default=None, allow_none=True)


@event("petition.accepted", topic=TOPIC)
class PetitionAccepted(PetitionRef):
    """An officer accepted (thụ lý) the petition; the statutory clock runs from here."""

    due_date = fields.Date(load_default=None, allow_none=True)
    accepted_at = fields.AwareDateTime(required=True)


@event("petition.rejected", topic=TOPIC)
class PetitionRejected(PetitionRef):
    """Not accepted, with the reason the petitioner is told."""

    reason = fields.String(required=True)
    contact = fields.Nested(Contact, required=True)


@event("petition.withdrawn", topic=TOPIC)
class PetitionWithdrawn(PetitionRef):
    """The citizen withdrew it."""

    reason = fields.String(load_default=None, allow_none=True)


@event("petition.reopened", topic=TOPIC)
class PetitionReopened(PetitionRef):
    """The citizen reopened an answered petition, or its commitment was reopened."""

    reason = fields.String(required=True)


@event("petition.grouped", topic=TOPIC)
class PetitionGrouped(PetitionRef):
    """The petition joined an issue (a cluster of similar petitions).

    Carries a snapshot of the issue; ``issue_version`` grows with every change of
    the issue so a read model can ignore an older snapshot arriving late.
    """

    issue_title = fields.String(required=True)
    issue_version = fields.Integer(required=True)
    petition_count = fields.Integer(required=True)
    distinct_petitioners = fields.Integer(required=True)
    heat = fields.Float(required=True)
    similarity = fields.Float(load_default=None, allow_none=True)


@event("issue.trending", topic=TOPIC)
class IssueTrending(EventSchema):
    """An issue's heat crossed the trending threshold (once per crossing)."""

    issue_id = fields.String(required=True)
    title = fields.String(required=True)
    category = fields.String(required=True)
    locality = locality(required=True)
    heat = fields.Float(required=True)
    threshold = fields.Float(required=True)
    petition_count = fields.Integer(required=True)
    distinct_petitioners = fields.Integer(required=True)
    petition_ids = ids(required=True)
    issue_version = fields.Integer(required=True)


@event("issue.merged", topic=TOPIC)
class IssueMerged(EventSchema):
    """Issue ``merged_issue_id`` was merged into ``issue_id``."""

    issue_id = fields.String(required=True)
    merged_issue_id = fields.String(required=True)
    petition_ids = ids(required=True)
    locality = locality(required=True)
    category = fields.String(required=True)
    title = fields.String(required=True)
    petition_count = fields.Integer(required=True)
    distinct_petitioners = fields.Integer(required=True)
    heat = fields.Float(required=True)
    issue_version = fields.Integer(required=True)


@event("petition.assigned", topic=TOPIC)
class PetitionAssigned(PetitionRef):
    """A dialogue conclusion answering this petition was assigned to an agency."""

    commitment_id = fields.String(required=True)
    agency_id = fields.String(required=True)
    deadline = fields.Date(load_default=None, allow_none=True)


@event("petition.answered", topic=TOPIC)
class PetitionAnswered(PetitionRef):
    """The petitioner has an answer (from a resolved commitment or an officer)."""

    answer = fields.String(required=True)
    commitment_id = fields.String(load_default=None, allow_none=True)
    answered_at = fields.AwareDateTime(required=True)
    contact = fields.Nested(Contact, required=True)


@event("petition.kind_corrected", topic=TOPIC)
class PetitionKindCorrected(PetitionRef):
    """An officer corrected the petition's kind (and a complaint's instance, complexity
    or area), or extended a denunciation: its deadline follows."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    previous_kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    due_date = fields.Date(load_default=None, allow_none=True)
    accept_by = fields.Date(load_default=None, allow_none=True)
    deadline_source = fields.String(load_default=None, allow_none=True)
    corrected_at = fields.AwareDateTime(required=True)


@event("petition.closed", topic=TOPIC)
class PetitionClosed(PetitionRef):
    """Closed for good."""

    closed_at = fields.AwareDateTime(required=True)
    note = fields.String(load_default=None, allow_none=True)


class Attachment(EventSchema):
    name = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    url = fields.Url(required=True)


class SubmissionPetitioner(EventSchema):
    full_name = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    address = fields.String(load_default=None, allow_none=True)
    consent_notifications = fields.Boolean(load_default=False)
    preferred_channel = fields.String(load_default=None, allow_none=True,
                                      validate=validate.OneOf(("sms", "zalo", "email")))


@event("petition.submitted", topic=SUBMISSIONS)
class PetitionSubmitted(EventSchema):
    """A petition from an external channel (national portal, hotline system, Front app).

    The same fields as ``POST /api/v1/petitions`` plus ``external_ref`` and
    ``source_system``. The petitioner should travel sealed to intake's public key
    as ``petitioner_token`` (``INTAKE_PRIVATE_KEYS``, services/intake/settings.py); a
    plaintext ``petitioner`` is accepted only for systems that cannot seal yet and is
    deprecated. Intake
    validates it exactly as an HTTP submission and dead-letters what fails.
    """

    external_ref = fields.String(required=True, validate=validate.Length(1, 200))
    source_system = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True)
    title = fields.String(required=True)
    content = fields.String(required=True)
    category = fields.String(load_default=None, allow_none=True)
    locality = fields.Dict(required=True)
    channel = fields.String(load_default="external")
    petitioner_token = fields.String(load_default=None, allow_none=True)
    petitioner = fields.Nested(SubmissionPetitioner, load_default=None, allow_none=True)
    attachments = fields.List(fields.Nested(Attachment), load_default=list)
