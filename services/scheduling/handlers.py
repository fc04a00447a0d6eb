"""What the scheduling service does with each event it consumes (from ``intake.petitions``).

All of it keeps the agenda-candidate read model current; every handler is
idempotent and tolerates out-of-order delivery (snapshots carry
``issue_version``; petition membership uses sets).
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import Event
from services.scheduling.service import Scheduling

# Petition statuses after which a petition no longer counts as open on its issue.
CLOSING = ("petition.rejected", "petition.withdrawn", "petition.answered", "petition.closed")
OPENING = ("petition.accepted", "petition.reopened", "petition.assigned")


def event_handlers(svc: Scheduling) -> dict[str, Callable[[Event], None]]:
    return {
        "petition.grouped": svc.on_grouped,
        "issue.trending": svc.on_trending,
        "issue.merged": svc.on_merged,
        **{name: svc.on_petition_closed for name in CLOSING},
        **{name: svc.on_petition_open for name in OPENING},
    }
