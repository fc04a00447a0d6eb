"""Each agency's own feed of its commitments: ``agency.<agency_id>.commitments``.

An agency may not read ``followup.commitments`` (every agency's work is there), so every
commitment event that names an agency is staged a second time for that agency's topic:
the same envelope (same id, key and bytes), in the same outbox entry list as the original,
so the relay publishes both or neither is pulled off, and a consumer deduplicates by id
exactly as on ``followup.commitments``. Nothing personal is in these events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.contracts.followup import AGENCY_COMMITMENTS, agency_commitments_topic
from services.common.events import Event


@dataclass(frozen=True)
class Copy:
    """One event bound for another topic; what ``outbox.entry`` reads of an event."""

    event: Event
    topic: str

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def subject(self) -> str:
        return self.event.subject

    def to_json(self) -> bytes:
        return self.event.to_json()


def agencies_of(event: Event) -> list[str]:
    """The agencies an event concerns: its agency and, on a reassignment, the previous one
    (which learns the commitment is no longer its own)."""
    if AGENCY_COMMITMENTS not in event.event_type.also_on:
        return []
    found = [event.data.get("agency_id"), event.data.get("previous_agency_id")]
    return list(dict.fromkeys(a for a in found if a))


def with_feeds(events: Iterable[Event]) -> list[Event | Copy]:
    """``events``, each followed by its copies for the agencies it concerns."""
    out: list[Event | Copy] = []
    for event in events:
        out.append(event)
        out.extend(Copy(event, agency_commitments_topic(a)) for a in agencies_of(event))
    return out
