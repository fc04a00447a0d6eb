"""Everything notify does with consumed events, in one table."""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import Event
from services.notify.dispatch import Dispatch

TOPICS = ("intake.petitions", "scheduling.dialogues", "followup.commitments")


def event_handlers(dispatch: Dispatch) -> dict[str, Callable[[Event], None]]:
    return {
        # petitions: the read model, and what the petitioner is told
        "petition.received": dispatch.petition_received,
        "petition.accepted": dispatch.petition_status("accepted"),
        "petition.assigned": dispatch.petition_status("assigned"),
        "petition.rejected": dispatch.petition_rejected,
        "petition.answered": dispatch.petition_answered,
        "petition.closed": dispatch.petition_status("closed"),
        "petition.withdrawn": dispatch.petition_status("withdrawn"),
        "petition.reopened": dispatch.petition_status("reopened"),
        # dialogues: invitations, agency notices, reminders
        "dialogue.announced": dispatch.dialogue_announced,
        "dialogue.rescheduled": dispatch.dialogue_rescheduled,
        "dialogue.cancelled": dispatch.dialogue_cancelled,
        "dialogue.held": dispatch.dialogue_held,
        "dialogue.concluded": dispatch.dialogue_concluded,
        "dialogue.required": dispatch.dialogue_required,
        # a citizen's request for a dialogue: the one-time code that confirms it
        "dialogue_request.code_issued": dispatch.code_issued,
        # commitments: the responsible agency, then the host and the Front
        "commitment.assigned": dispatch.commitment_assigned,
        "commitment.deadline_approaching": dispatch.commitment_deadline_approaching,
        "commitment.overdue": dispatch.commitment_overdue,
        "commitment.escalated": dispatch.commitment_escalated,
    }


def batch_handlers(dispatch: Dispatch) -> dict[str, Callable[[list[Event]], None]]:
    """A poll's consecutive events of these types go at once (services/common/kafka.py)."""
    return {"petition.received": dispatch.petitions_received}
