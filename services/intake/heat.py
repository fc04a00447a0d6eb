"""An issue's heat and the trending flag: counting a petition into its issue, the
decay sweep, and ``issue.trending`` staged once per crossing of the threshold. A part
of ``Grouping`` (services/intake/grouping.py), which holds the issue cache it uses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.common import paging
from services.common.events import Event
from services.common.outbox import stage
from services.intake import domain
from services.intake.context import Context
from services.intake.store import OPEN, Store


class Heat:
    """Mixed into ``Grouping``: uses its issue cache (``_recall``) and ``_written``."""

    ctx: Context
    store: Store
    settings: Any

    def compute_heat(self, issue: dict[str, Any], now: datetime) -> float:
        return domain.heat_of_days(issue.get("daily") or {},
                                   issue.get("distinct_petitioners", 0), now,
                                   self.settings.heat_window_days)

    def refresh_heat(self, issue_id: str, *, cause: Event | None = None,
                     petition: datetime | None = None, new_petitioner: bool = False,
                     member: str | None = None) -> dict[str, Any]:
        """Count a new petition (at ``petition``) if any, recompute the issue's heat and
        publish ``issue.trending`` when it crosses the threshold: one read and one
        conditional write, so the trending event is staged once per crossing.
        ``member`` is a petition being grouped into it, not yet marked as its member."""
        now = self.ctx.clock()
        # Read, compute, then write only if nobody changed the issue meanwhile (its
        # version): the heat matches the counts, and a crossing stages one event.
        issue = self._recall(issue_id)
        for _attempt in range(20):
            if issue is None:
                issue = self.store.issue(issue_id)
            after, update, events = self._heat_update(issue, now, cause, petition,
                                                      new_petitioner, member)
            if self.store.change_issue({"_id": issue_id, "version": issue["version"]},
                                       stage(update, events, now)):
                break
            issue = None  # changed elsewhere (or a stale copy): read it
        else:
            raise RuntimeError(f"issue {issue_id} kept changing while counting it")
        self._written(after, events)
        return after

    def _heat_update(self, issue: dict[str, Any], now: datetime, cause: Event | None,
                     petition: datetime | None, new_petitioner: bool, member: str | None,
                     members: list[str] | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any], list[Event]]:
        """The issue after counting and heating it, the update that does it, its events.
        ``members``: the issue's petitions when known (a new issue), else read if needed."""
        issue_id = issue["_id"]
        daily = dict(issue.get("daily") or {})
        inc: dict[str, Any] = {"version": 1}
        set_: dict[str, Any] = {"updated_at": now}
        if petition:
            day = paging.day_key(petition)
            daily[day] = daily.get(day, 0) + 1
            inc.update({f"daily.{day}": 1, "petition_count": 1})
            set_["last_petition_at"] = petition
        if new_petitioner:
            inc["distinct_petitioners"] = 1
        after = {**issue, "daily": daily, "version": issue["version"] + 1,
                 **{k: issue[k] + v for k, v in inc.items()
                    if k in ("petition_count", "distinct_petitioners")}}
        value = self.compute_heat(after, now)
        set_["heat"] = after["heat"] = value
        set_.update(paging.heat_keys(value))
        after.update(paging.heat_keys(value))
        update: dict[str, Any] = {"$set": set_, "$inc": inc}
        stale = domain.stale_days(daily, now, self.settings.heat_window_days)
        if stale:
            update["$unset"] = {f"daily.{k}": "" for k in stale}
            after["daily"] = {k: v for k, v in daily.items() if k not in stale}
        threshold = self.settings.trending_threshold
        events = []
        if value >= threshold and not issue["trending"] and issue["status"] == OPEN:
            ids = list(members) if members is not None else self.store.member_ids(issue_id)
            if member and member not in ids:
                ids.append(member)
            events.append(self.ctx.event("issue.trending", issue_id, {
                "issue_id": issue_id, "title": issue["title"],
                "category": issue["category"], "locality": issue["locality"],
                "heat": value, "threshold": threshold,
                "petition_count": after["petition_count"],
                "distinct_petitioners": after["distinct_petitioners"],
                "petition_ids": ids, "issue_version": after["version"]}, now, cause))
            set_.update(trending=True, trending_since=now)
            after["trending"] = True
        elif value < threshold and issue["trending"]:
            set_["trending"] = after["trending"] = False
        return after, update, events

    def sweep_trending(self) -> int:
        """Recompute heat of issues that are trending or had petitions lately, so that
        heat decays and the trending flag drops when it falls below the threshold."""
        now = self.ctx.clock()
        ids = self.store.heated(now - timedelta(days=self.settings.heat_window_days + 1))
        for issue_id in ids:
            self.refresh_heat(issue_id)
        return len(ids)
