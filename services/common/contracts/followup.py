"""Events of the follow-up service (commitments), and the reports agencies send it.

Topic ``followup.commitments`` is keyed by commitment id. Each agency writes to
its own topic ``agency.<agency_id>.reports`` (keyed by commitment id too), and reads
its own commitments on ``agency.<agency_id>.commitments``: every event below that names
the agency (``agency_id``, or ``previous_agency_id`` of a reassignment), the same
envelope as on ``followup.commitments``.
"""

from __future__ import annotations

from marshmallow import fields, validate

from services.common.contracts.fields import Host, agency_id, ids, locality
from services.common.events import EventSchema, event

TOPIC = "followup.commitments"
AGENCY_TOPIC = "agency.<agency_id>.reports"
AGENCY_COMMITMENTS = "agency.<agency_id>.commitments"
OUTCOMES = ("resolved", "partially_resolved", "not_feasible")


def agency_topic(agency: str) -> str:
    return f"agency.{agency}.reports"


def agency_commitments_topic(agency: str) -> str:
    return f"agency.{agency}.commitments"


class CommitmentRef(EventSchema):
    commitment_id = fields.String(required=True)
    agency_id = agency_id(required=True)


class CommitmentFacts(CommitmentRef):
    conclusion_id = fields.String(required=True)
    dialogue_id = fields.String(required=True)
    text = fields.String(required=True)
    deadline = fields.Date(required=True)
    locality = locality(required=True)
    petition_ids = ids(load_default=list)


@event("commitment.assigned", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class CommitmentAssigned(CommitmentFacts):
    """A conclusion became a commitment of ``agency_id``, due by ``deadline``."""

    coordinating_agency_ids = ids(load_default=list)
    host = fields.Nested(Host, load_default=None, allow_none=True)
    notice_number = fields.String(load_default=None, allow_none=True)


@event("commitment.progress_reported", topic=TOPIC, also_on=(AGENCY_TOPIC, AGENCY_COMMITMENTS))
class ProgressReported(CommitmentRef):
    """Progress from the agency: over HTTP (published by followup) or on its own topic."""

    note = fields.String(required=True, validate=validate.Length(1, 5000))
    percent = fields.Integer(required=True, validate=validate.Range(0, 100))
    evidence = fields.List(fields.Url(), load_default=list)
    reason = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "required when percent decreases"})


@event("commitment.resolution_submitted", topic=AGENCY_TOPIC)
class ResolutionSubmitted(CommitmentRef):
    """The agency's system resolves the commitment with the answer citizens receive."""

    answer = fields.String(required=True, validate=validate.Length(1, 10000))
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    reason = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "required unless outcome is resolved"})


@event("commitment.deadline_approaching", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class DeadlineApproaching(CommitmentFacts):
    """The deadline is a configured number of working days away (sent once)."""

    working_days_left = fields.Integer(required=True)


@event("commitment.overdue", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Overdue(CommitmentFacts):
    """The deadline passed without a resolution (sent once)."""


@event("commitment.escalated", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Escalated(CommitmentFacts):
    """Still overdue after a configured step; addressed to the host and the Front."""

    level = fields.Integer(required=True)
    working_days_late = fields.Integer(required=True)
    host = fields.Nested(Host, load_default=None, allow_none=True)


@event("commitment.reassigned", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Reassigned(CommitmentFacts):
    """Moved to another agency (``agency_id`` is the new one)."""

    previous_agency_id = agency_id(required=True)
    reason = fields.String(required=True)


@event("commitment.deadline_extended", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class DeadlineExtended(CommitmentFacts):
    """New deadline, with a reason."""

    previous_deadline = fields.Date(required=True)
    reason = fields.String(required=True)


@event("commitment.resolved", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Resolved(CommitmentFacts):
    """Resolved: ``answer`` goes to the petitioners of ``petition_ids``."""

    answer = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    reason = fields.String(load_default=None, allow_none=True)
    resolved_at = fields.AwareDateTime(required=True)
    on_time = fields.Boolean(required=True)


@event("commitment.reopened", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Reopened(CommitmentFacts):
    """The Front judged the answer unsatisfactory; work goes on."""

    note = fields.String(required=True)


@event("commitment.assessed", topic=TOPIC, also_on=(AGENCY_COMMITMENTS,))
class Assessed(CommitmentRef):
    """The Front's assessment of a resolution."""

    assessment = fields.String(required=True,
                               validate=validate.OneOf(("satisfactory", "unsatisfactory")))
    note = fields.String(required=True)
    dialogue_id = fields.String(required=True)
