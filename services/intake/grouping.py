"""Grouping petitions into issues, off the request path: intake's consumer groups each
petition on its ``petition.received`` (one consumer owns each petition's partition,
so one writer groups it), keeps each issue's counts and heat, and flags trending
issues. Rebuilding an issue (after a merge, split or reclassification) lives here
too, with the sweeps that catch what a crash left behind.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from services.common import paging
from services.common.events import Event
from services.common.localities import top_level
from services.common.outbox import stage
from services.intake import domain
from services.intake.clustering import Centroid, Clusterer, features
from services.intake.context import Context
from services.intake.store import OPEN, UNGROUPED, bucket_key, slot
from services.intake.views import MAX_BAND, ref

log = logging.getLogger(__name__)
DENUNCIATION = "denunciation"
ISSUE_CACHE = 5000  # issues remembered per process (a few KB each)


def snapshot(issue: dict[str, Any]) -> dict[str, Any]:
    """What a ``petition.grouped`` says of its issue."""
    return {"issue_title": issue["title"], "issue_version": issue["version"],
            "petition_count": issue["petition_count"],
            "distinct_petitioners": issue["distinct_petitioners"], "heat": issue["heat"]}


def new_issue(issue_id: str, first: dict[str, Any], now: datetime,
              **fields: Any) -> dict[str, Any]:
    """A new issue named after its first petition."""
    locality = first["locality"]
    return {
        "_id": issue_id, "title": first["title"], "category": first["category"],
        **top_level(locality), "locality": locality, "status": OPEN, "petition_count": 0,
        "distinct_petitioners": 0, "heat": 0.0, "trending": False, "version": 1,
        "daily": {}, "merged_into": None, "created_at": now, "updated_at": now,
        "last_petition_at": now, "outbox": [], **paging.heat_keys(0.0),
        **paging.time_keys(now), **fields}


class Grouping:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.settings = ctx.settings
        self.clusterer = Clusterer(ctx.settings.cluster_threshold)
        # The in-memory index is a cache of the centroids collection: per bucket, when
        # it was last read and which centroid version (``cv``) of each issue it holds.
        self.lock = threading.RLock()
        self._synced: dict[tuple[str, str], datetime] = {}
        self._cv: dict[str, int] = {}
        # How long a bucket's index is trusted without reading the centroids again.
        # Every write to a centroid is conditional on its version, so a stale entry
        # is caught by the write; what a short trust may miss is an issue another
        # process opened meanwhile in the bucket (then a petition opens its own).
        self.trust = timedelta(seconds=ctx.settings.centroid_trust_seconds)
        # The issues this process last wrote, as written: counting a petition starts
        # from them, its write conditional on their version (a miss reads it again).
        self._issues: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- the consumer -------------------------------------------------------------------
    def on_received(self, event: Event) -> None:
        """``petition.received`` (intake's own, keyed by petition): group the petition."""
        self.group_petition(event.subject, cause=event)

    def group_petition(self, pid: str, cause: Event | None = None) -> dict[str, Any] | None:
        """Group a stored petition into an issue unless it is grouped already (a replay)
        or a denunciation; publish its events. The petition as it is then."""
        doc = self.store.petition(pid)
        if doc is None or not doc.get(UNGROUPED):
            return doc
        if doc["kind"] == DENUNCIATION:  # left out of issues (reclassified, say)
            self.store.change_petition({"_id": pid}, {"$unset": {UNGROUPED: ""}})
            return {k: v for k, v in doc.items() if k != UNGROUPED}
        return self.group(doc, cause=cause)

    def sweep_ungrouped(self, older_than: timedelta = timedelta(minutes=10),
                        limit: int = 500) -> int:
        """The safety net: group petitions left without an issue, say reclassified by a
        request that died before grouping them. New petitions are the consumer's (Kafka
        hands a crashed consumer's events to the next one); younger ones are left to it,
        with a margin for a consumer that lags."""
        cutoff = self.ctx.clock() - older_than
        count = 0
        for doc in list(self.store.ungrouped(limit)):
            if doc["updated_at"] > cutoff:
                continue
            self.group_petition(doc["_id"])
            count += 1
        if count:
            log.warning("grouped petitions left ungrouped", extra={"count": count})
        return count

    # --- the in-memory index ------------------------------------------------------------
    @staticmethod
    def bucket(doc: dict[str, Any]) -> tuple[str, str]:
        return (doc["locality"].get("ward_code") or "", doc["category"])

    def _sync(self, bucket: tuple[str, str], *, full: bool = False) -> None:
        """Bring the in-memory index of one bucket up to date with the centroids.

        Other processes (web workers rebuilding issues, another consumer after a
        rebalance) change centroids too; each change sets ``slot`` (its time in
        10-second steps), and FerretDB filters only by equality, so re-reading the
        slots since the last read (with a margin for clock skew) keeps every process's
        index correct at the cost of one or two small queries; a bucket not read for a
        minute is read whole.
        """
        ward, category = bucket
        since = None if full else self._synced.get(bucket)
        now = self.ctx.clock()
        if since is not None and timedelta(0) <= now - since < self.trust:
            return
        first, last = (slot(since - timedelta(seconds=5)), slot(now)) if since else (0, -1)
        whole = since is None or last - first > 6
        seen = set()
        for doc in self.store.centroids_in(bucket_key(ward, category),
                                           None if whole else range(first, last + 1)):
            iid = doc["_id"]
            seen.add(iid)
            if doc["status"] != OPEN:
                self.forget(iid)
            elif self._cv.get(iid) != doc["cv"] or iid not in self.clusterer:
                self.clusterer.add_issue(iid, ward, category, Centroid.from_doc(doc["centroid"]))
                self._cv[iid] = doc["cv"]
        if whole:  # what is no longer open
            for iid in self.clusterer.issues_in(ward, category) - seen:
                self.forget(iid)
        self._synced[bucket] = now

    def forget(self, issue_id: str) -> None:
        with self.lock:
            self.clusterer.remove_issue(issue_id)
            self._cv.pop(issue_id, None)

    def _place(self, doc: dict[str, Any], vector: Any, now: datetime
               ) -> tuple[str, float | None, dict[str, Any] | None]:
        """The issue the petition joins (its centroid already moved), its similarity,
        and the issue when it is a new one."""
        bucket = self.bucket(doc)
        with self.lock:
            for _attempt in range(10):
                self._sync(bucket)
                issue_id, score = self.clusterer.assign(*bucket, vector)
                if issue_id is None:
                    issue_id = str(uuid.uuid4())
                    centroid = Centroid()
                    centroid.add(vector)
                    self.store.insert_centroid(issue_id, bucket_key(*bucket),
                                               centroid.to_doc(), now)
                    created = new_issue(issue_id, doc, now, petition_count=1,
                                        daily={paging.day_key(now): 1})
                    self.store.insert_issue(created)
                    self._remember({k: v for k, v in created.items() if k != "outbox"})
                    self.clusterer.add_issue(issue_id, *bucket, centroid)
                    self._cv[issue_id] = 1
                    return issue_id, None, created
                live = self.clusterer.centroid(issue_id)
                updated = Centroid(vector=dict(live.vector), count=live.count)
                updated.add(vector)
                cv = self._cv[issue_id]
                if self.store.move_centroid(issue_id, cv, updated.to_doc(), now):
                    self.clusterer.observe(issue_id, vector)
                    self._cv[issue_id] = cv + 1
                    return issue_id, score, None
                # Another process changed the issue meanwhile: re-read it and retry.
                self._sync(bucket, full=True)
        raise RuntimeError("issue kept changing while grouping")

    # --- grouping -----------------------------------------------------------------------
    def group(self, doc: dict[str, Any], *, cause: Event | None = None) -> dict[str, Any]:
        """Put a petition into the most similar open issue of its bucket, or a new one,
        and publish ``petition.grouped``."""
        vector = features(doc["title"], doc["content"])
        now = self.ctx.clock()
        issue_id, score, created = self._place(doc, vector, now)
        new_petitioner = self.store.count_petitioner(issue_id, doc["petitioner_fingerprint"])
        issue = self.refresh_heat(issue_id, cause=cause, petition=None if created else now,
                                  new_petitioner=new_petitioner, member=doc["_id"])
        grouped = self.ctx.event("petition.grouped", doc["_id"], {
            **ref({**doc, "issue_id": issue_id}), **snapshot(issue),
            "similarity": round(score, 4) if score is not None else None}, now, cause)
        claim = {"issue_id": issue_id, "similarity": score, "updated_at": now}
        update = {"$set": claim, "$unset": {UNGROUPED: ""}}
        if self._publish(grouped):
            # Published and acknowledged: the grouping is one write, with no outbox to
            # clear. A crash before it regroups on redelivery: at least once.
            self.store.change_petition({"_id": doc["_id"], "issue_id": None, UNGROUPED: True},
                                       update)
        else:  # the broker did not take it: the outbox and its relay will
            after = self.store.claim_grouping(doc["_id"], stage(update, [grouped], now))
            if after is not None:
                self.ctx.outbox.flush(self.store.petitions, doc["_id"], after)
        return {**{k: v for k, v in doc.items() if k != UNGROUPED}, **claim}

    def _publish(self, event: Event) -> bool:
        try:
            self.ctx.kit.bus.publish(event)
        except Exception:
            log.warning("publishing petition.grouped failed; staged for the relay",
                        exc_info=True)
            return False
        return True

    # --- heat ---------------------------------------------------------------------------
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
                self._remember(after)
                break
            issue = None  # changed elsewhere (or a stale copy): read it
        else:
            raise RuntimeError(f"issue {issue_id} kept changing while counting it")
        if events:
            self.ctx.outbox.flush(self.store.issues, issue_id)
        self.store.bounds.widen(MAX_BAND, after["heat_band"], lower=False)
        return after

    def _recall(self, issue_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._issues.get(issue_id)

    def _remember(self, issue: dict[str, Any]) -> None:
        with self.lock:
            self._issues[issue["_id"]] = issue
            self._issues.move_to_end(issue["_id"])
            while len(self._issues) > ISSUE_CACHE:
                self._issues.popitem(last=False)

    def _heat_update(self, issue: dict[str, Any], now: datetime, cause: Event | None,
                     petition: datetime | None, new_petitioner: bool,
                     member: str | None) -> tuple[dict[str, Any], dict[str, Any], list[Event]]:
        """The issue after counting and heating it, the update that does it, its events."""
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
            ids = self.store.member_ids(issue_id)
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

    # --- rebuilding -----------------------------------------------------------------------
    def rebuild_issue(self, issue_id: str, now: datetime) -> dict[str, Any] | None:
        """Recompute centroid, counts and petitioners of an issue from its petitions
        (after a merge, split or reclassification); close it when it is empty."""
        members = self.store.members(issue_id)
        centroid = Centroid()
        daily: dict[str, int] = {}
        for p in members:
            centroid.add(features(p["title"], p["content"]))
            day = paging.day_key(p["created_at"])
            daily[day] = daily.get(day, 0) + 1
        fingerprints = {p["petitioner_fingerprint"] for p in members}
        self.store.reset_petitioners(issue_id, fingerprints)
        fields: dict[str, Any] = {"updated_at": now, "petition_count": len(members),
                                  "distinct_petitioners": len(fingerprints), "daily": daily}
        if not members:
            fields["status"] = "closed"
        issue = self.store.recount_issue(issue_id, fields)
        ward = issue["locality"].get("ward_code") or ""
        with self.lock:
            cv = self.store.save_centroid(issue_id, bucket_key(ward, issue["category"]),
                                          centroid.to_doc(), issue["status"], now)
            if issue["status"] == OPEN:
                self.clusterer.add_issue(issue_id, ward, issue["category"], centroid)
                self._cv[issue_id] = cv
            else:
                self.forget(issue_id)
        return self.refresh_heat(issue_id) if issue["status"] == OPEN else issue
