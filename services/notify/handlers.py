"""Everything notify does with consumed events, in one table."""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import Event
from services.notify.service import NotifyService

TOPICS = ("intake.petitions", "scheduling.dialogues", "followup.commitments")


def event_handlers(service: NotifyService) -> dict[str, Callable[[Event], None]]:
    return {
        # petitions: the read model, and what the petitioner is told
        "petition.received": service.petition_received,
        "petition.accepted": service.petition_status("accepted"),
        "petition.assigned": service.petition_status("assigned"),
        "petition.rejected": service.petition_rejected,
        "petition.answered": service.petition_answered,
        "petition.closed": service.petition_status("closed"),
        "petition.withdrawn": service.petition_status("withdrawn"),
        "petition.reopened": service.petition_status("reopened"),
        # dialogues: invitations, agency notices, reminders
        "dialogue.announced": service.dialogue_announced,
        "dialogue.rescheduled": service.dialogue_rescheduled,
        "dialogue.cancelled": service.dialogue_cancelled,
        "dialogue.held": service.dialogue_held,
        "dialogue.concluded": service.dialogue_concluded,
        "dialogue.required": service.dialogue_required,
        "dialogue_request.code_issued": service.code_issued,
        # commitments: the responsible agency, then the host and the Front
        "commitment.assigned": service.commitment_assigned,
        "commitment.deadline_approaching": service.commitment_deadline_approaching,
        "commitment.overdue": service.commitment_overdue,
        "commitment.escalated": service.commitment_escalated,
    }
