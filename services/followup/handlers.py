"""Everything the follow-up service does with consumed events, in one place."""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import Event
from services.followup.service import Followup

Handlers = dict[str, Callable[[Event], None]]


def dialogue_handlers(svc: Followup) -> Handlers:
    """Group ``followup`` on ``scheduling.dialogues``."""
    return {"dialogue.concluded": svc.on_dialogue_concluded}


def agency_handlers(svc: Followup) -> Handlers:
    """Group ``followup-agencies`` on every ``agency.<agency_id>.reports`` topic."""
    return {"commitment.progress_reported": svc.on_agency_progress,
            "commitment.resolution_submitted": svc.on_agency_resolution}
