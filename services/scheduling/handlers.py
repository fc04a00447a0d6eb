"""What the scheduling service does with each event it consumes (from ``intake.petitions``).

All of it keeps the agenda-candidate read model current (``agenda.AgendaModel``): every
handler is idempotent and tolerates replays and the order Kafka gives across keys.
``petition.received`` changes nothing an agenda shows, so it is not handled.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import Event
from services.scheduling.agenda import CLOSING, OPENING
from services.scheduling.service import Scheduling


def event_handlers(svc: Scheduling) -> dict[str, Callable[[Event], None]]:
    model = svc.agenda
    return {
        "petition.grouped": model.on_grouped,
        "issue.trending": model.on_trending,
        "issue.merged": model.on_merged,
        **dict.fromkeys(CLOSING + OPENING, model.on_status),
    }


def batch_handlers(svc: Scheduling) -> dict[str, Callable[[list[Event]], None]]:
    """Types whose consecutive events in one poll are handled at once (the consumer
    falls back to ``event_handlers`` one by one if that fails)."""
    return {"petition.grouped": svc.agenda.on_grouped_many}
