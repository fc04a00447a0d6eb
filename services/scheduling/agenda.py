"""The agenda-candidate read model, fed by intake's events on ``intake.petitions``.

What officers see when they build an agenda: each live issue's latest snapshot (title,
heat, counts, trending) and its open petitions. Built for the event stream as Kafka
delivers it, at least once and ordered only per key:

- petition events are keyed by petition, so one petition's events arrive in order, and a
  replay repeats a suffix of them in order: the last one applied is the latest;
- issue events (``issue.trending``, ``issue.merged``) are keyed by issue and may arrive
  before or after the petition events they relate to.

So a petition event is one upsert of the petition's own document (its issue, and whether
it is open) and, for ``petition.grouped``, one upsert of the issue's snapshot, taken only
if newer (``issue_version``). Nothing is read first. Only the rare cases read: a
snapshot of an issue that was merged meanwhile sends the petition on to the surviving
issue.
"""

from __future__ import annotations

from typing import Any

from services.common.events import Event
from services.common.kafka import Rejected
from services.scheduling.store import Store

# Petition statuses (services.common.contracts.intake) after which a petition no longer
# counts as open on its issue; any other status counts again.
CLOSED = ("rejected", "withdrawn", "answered", "closed")
CLOSING = tuple(f"petition.{s}" for s in CLOSED)
OPENING = ("petition.accepted", "petition.reopened", "petition.assigned")
_MERGE_DEPTH = 20  # an issue merged into one merged into one ... (a cycle stops here)


def is_open(status: str) -> bool:
    return status not in CLOSED


def status_of(event: Event) -> str:
    """The petition's status after the event: as intake states it, else from the type."""
    return event.data.get("status") or event.type.removeprefix("petition.")


def snapshot(data: dict[str, Any], title: str) -> dict[str, Any]:
    """What the agenda shows of an issue, from any event that carries its snapshot."""
    return {"title": data[title], "category": data.get("category"),
            "locality": dict(data["locality"]), "heat": data["heat"],
            "petition_count": data["petition_count"],
            "distinct_petitioners": data["distinct_petitioners"]}


class AgendaModel:
    def __init__(self, store: Store) -> None:
        self.store = store

    def on_grouped(self, event: Event) -> None:
        """The petition is in this issue now (a first grouping, a regrouping or a split)."""
        data = event.data
        issue_id, petition_id = data["issue_id"], data["petition_id"]
        if not issue_id:
            return
        if data.get("status"):
            self.store.put_petition(petition_id, {"issue_id": issue_id,
                                                  "open": is_open(data["status"])})
        else:  # an event from before statuses: a closure seen earlier stands
            self.store.put_petition(petition_id, {"issue_id": issue_id}, {"open": True})
        # The petition first, the issue second: a merge handled meanwhile by another
        # consumer either moves this petition or is seen here.
        if not self.store.take_snapshot(issue_id, data["issue_version"],
                                        snapshot(data, "issue_title")):
            self._follow_merge(issue_id, [petition_id])

    def on_grouped_many(self, events: list[Event]) -> None:
        """``on_grouped`` for consecutive events of one poll: their petitions in one bulk
        write, in order, then the newest snapshot of each issue in another. A snapshot
        not taken (one as new is held, or the issue was merged) sends that issue's
        petitions of the batch on, as ``on_grouped`` does for one."""
        if len(events) == 1:  # as cheap alone, and a new issue cheaper
            self.on_grouped(events[0])
            return
        petitions: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        newest: dict[str, dict[str, Any]] = {}
        members: dict[str, list[str]] = {}
        for event in events:
            data = event.data
            issue_id, petition_id = data["issue_id"], data["petition_id"]
            if not issue_id:
                continue
            if data.get("status"):
                petitions.append((petition_id, {"issue_id": issue_id,
                                                "open": is_open(data["status"])}, None))
            else:
                petitions.append((petition_id, {"issue_id": issue_id}, {"open": True}))
            members.setdefault(issue_id, []).append(petition_id)
            held = newest.get(issue_id)
            if held is None or data["issue_version"] > held["issue_version"]:
                newest[issue_id] = data
        if not petitions:
            return
        self.store.put_petitions(petitions)
        missed = self.store.take_snapshots({
            issue_id: (data["issue_version"], snapshot(data, "issue_title"))
            for issue_id, data in newest.items()})
        for issue_id in missed:
            self._follow_merge(issue_id, members[issue_id])

    def on_trending(self, event: Event) -> None:
        data = event.data
        issue_id = data["issue_id"]
        taken = self.store.take_snapshot(issue_id, data["issue_version"],
                                         {**snapshot(data, "title"), "trending": True})
        target = issue_id if taken else self._surviving(issue_id)
        if not taken:  # an older snapshot, or a merged issue: it trends all the same
            self.store.set_trending(target)
        self.store.add_unknown(list(data["petition_ids"]), target)

    def on_merged(self, event: Event) -> None:
        """The merged issue is hidden; its petitions, and its trending, go to ``issue_id``."""
        data = event.data
        into, merged = data["issue_id"], data["merged_issue_id"]
        if into == merged:
            raise Rejected("an issue cannot be merged into itself")
        old = self.store.mark_merged(merged, into) or {}
        self.store.take_snapshot(into, data["issue_version"], snapshot(data, "title"))
        if old.get("trending"):
            self.store.set_trending(into)
        self.store.move_members(merged, into)
        self.store.add_unknown(list(data["petition_ids"]), into)

    def on_status(self, event: Event) -> None:
        """Rejected, withdrawn, answered or closed stops counting; reopened, accepted or
        assigned counts again. The petition keeps its issue (a status event may predate
        a merge); one not seen before takes the issue the event names."""
        data = event.data
        status = status_of(event)
        self.store.put_petition(data["petition_id"],
                                {"open": is_open(status), "status": status},
                                {"issue_id": data["issue_id"]} if data.get("issue_id") else None)

    def _surviving(self, issue_id: str) -> str:
        """The issue that ``issue_id`` was merged into, at the end of the chain."""
        current = issue_id
        for _ in range(_MERGE_DEPTH):
            doc = self.store.issue(current)
            if not doc or not doc.get("merged_into"):
                return current
            current = doc["merged_into"]
        return current

    def _follow_merge(self, issue_id: str, petition_ids: list[str]) -> None:
        target = self._surviving(issue_id)
        if target != issue_id:
            self.store.move_petitions(petition_ids, issue_id, target)
