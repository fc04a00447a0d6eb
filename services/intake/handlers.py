"""What intake does with each consumed event type: the whole consumed behaviour."""

from __future__ import annotations

from collections.abc import Callable

from services.common.contracts.followup import TOPIC as COMMITMENTS
from services.common.contracts.intake import SUBMISSIONS
from services.common.contracts.intake import TOPIC as PETITIONS
from services.common.events import Event
from services.intake.service import Intake

GROUP = "intake"
# Its own petitions topic too: grouping a petition into an issue follows its
# ``petition.received``, off the request path, one consumer per petition's partition.
TOPICS = (SUBMISSIONS, PETITIONS, COMMITMENTS)


def event_handlers(intake: Intake) -> dict[str, Callable[[Event], None]]:
    return {
        "petition.submitted": intake.on_submitted,
        "petition.received": intake.on_received,
        "commitment.assigned": intake.on_commitment_assigned,
        "commitment.resolved": intake.on_commitment_resolved,
        "commitment.reopened": intake.on_commitment_reopened,
    }
