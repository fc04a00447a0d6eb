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
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common import paging
from services.common.events import Event
from services.common.localities import top_level
from services.common.outbox import FIELD, FLAG, PENDING, entry, new_document, stage
from services.intake.clustering import Centroid, Clusterer, features
from services.intake.context import Context
from services.intake.heat import Heat
from services.intake.store import OPEN, UNGROUPED, bucket_key, bucket_of, slot
from services.intake.views import MAX_BAND, ref

log = logging.getLogger(__name__)
DENUNCIATION = "denunciation"
ISSUE_CACHE = 5000  # issues remembered per process (a few KB each)
# A process that has not read the changed centroids for longer than this reads every
# open centroid again rather than walking slot by slot (one query per 10 s).
WALK_LIMIT = timedelta(seconds=60)


@dataclass
class Grouped:
    """A petition counted into its issue, not yet recorded as grouped."""

    pid: str
    event: Event  # its petition.grouped
    claim: dict[str, Any]  # what its write sets
    published: list[dict[str, Any]]  # its outbox entries known published (to clear)
    whole: bool  # whether they were its whole outbox
    at: datetime
    petition: dict[str, Any]  # the petition once grouped


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
        "bucket": bucket_key(locality.get("ward_code") or "", first["category"]),
        "distinct_petitioners": 0, "heat": 0.0, "trending": False, "version": 1,
        "daily": {}, "merged_into": None, "created_at": now, "updated_at": now,
        "last_petition_at": now, "outbox": [], **paging.heat_keys(0.0),
        **paging.time_keys(now), **fields}


class Grouping(Heat):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.settings = ctx.settings
        self.clusterer = Clusterer(ctx.settings.cluster_threshold)
        # The in-memory index is a cache of every open issue's centroid (the centroid
        # lives in the issue document): which centroid version (``cv``) of each it holds,
        # and up to when it has read what other processes changed.
        self.lock = threading.RLock()
        self._cv: dict[str, int] = {}
        self._walked: datetime | None = None
        # How long the index is trusted without reading the centroids changed since.
        # Every write to an issue is conditional on its version and ``cv``, so a stale
        # centroid is caught by the write; what a short trust may miss is an issue
        # another process opened meanwhile (then a petition opens its own).
        self.trust = timedelta(seconds=ctx.settings.centroid_trust_seconds)
        # Whether the worker's timed job (``walk``) keeps the index fresh: grouping a
        # petition then walks itself only if the job fell behind.
        self._walker = False
        # The issues this process last wrote, as written (without their centroid):
        # counting a petition starts from them, its write conditional on their version
        # (a miss reads the issue again).
        self._issues: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- the consumer -------------------------------------------------------------------
    def on_received(self, event: Event) -> None:
        """``petition.received`` (intake's own, keyed by petition): group the petition."""
        self.group_petition(event.subject, cause=event)

    def on_received_batch(self, events: list[Event]) -> None:
        """A poll's consecutive ``petition.received``: their petitions read with one
        ``$in`` find, each counted into its issue as one by one, then every
        ``petition.grouped`` published and the petitions written with one bulk write.
        A failure part way still writes the petitions grouped so far (their issues
        counted them), so that the one-by-one retry of the batch skips them."""
        docs = self.store.petitions_with_outbox([e.subject for e in events])
        todo: list[tuple[dict[str, Any], Event, dict[str, float]]] = []
        seen: set[str] = set()
        for event in events:
            doc = docs.get(event.subject)
            if doc is None or event.subject in seen:  # a duplicate in the same poll
                continue
            seen.add(event.subject)
            if not doc.get(UNGROUPED):
                continue
            if doc["kind"] == DENUNCIATION:
                self._leave_out(doc)
                continue
            todo.append((doc, event, features(doc["title"], doc["content"])))
        paired = self._pair_ahead(todo)
        done: list[Grouped] = []
        try:
            for doc, event, vector in todo:
                done.append(self._place(doc, event, vector, paired.get(doc["_id"])))
        finally:
            self._record(done)

    def _pair_ahead(self, todo: list[tuple[dict[str, Any], Event, dict[str, float]]]
                    ) -> dict[str, tuple[str, bool]]:
        """The petitioner pairs of a poll's petitions, for the issues the index says they
        join, inserted in one command: petition id -> (issue, whether new). A petition
        that joins another issue after all undoes its pair, as one counted alone does. A
        pair twice in the poll (one petitioner, two petitions) is left to each in turn."""
        guesses: dict[str, tuple[str, str]] = {}
        with self.lock:
            self._sync()
            for doc, _, vector in todo:
                issue_id, _score = self.clusterer.assign(*self.bucket(doc), vector)
                issue = self._recall(issue_id) if issue_id else None
                fp = doc["petitioner_fingerprint"]
                if issue is not None and fp != issue.get("first_petitioner"):
                    guesses[doc["_id"]] = (issue_id, fp)
        times = Counter(guesses.values())
        guesses = {pid: pair for pid, pair in guesses.items() if times[pair] == 1}
        new = self.store.count_petitioners(list(guesses.values()))
        return {pid: (pair[0], fresh) for (pid, pair), fresh in zip(guesses.items(), new,
                                                                     strict=True)}

    def group_petition(self, pid: str, cause: Event | None = None) -> dict[str, Any] | None:
        """Group a stored petition into an issue unless it is grouped already (a replay)
        or a denunciation; publish its events. The petition as it is then."""
        # with its outbox: the grouping's write clears the petition.received it handles
        doc = self.store.petition_with_outbox(pid)
        if doc is None or not doc.get(UNGROUPED):
            return {k: v for k, v in doc.items() if k != FIELD} if doc else None
        if doc["kind"] == DENUNCIATION:  # left out of issues (reclassified, say)
            return self._leave_out(doc)
        return self.group(doc, cause=cause)

    def _leave_out(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.store.change_petition({"_id": doc["_id"]}, {"$unset": {UNGROUPED: ""}})
        return {k: v for k, v in doc.items() if k not in (UNGROUPED, FIELD)}

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

    def walk(self) -> None:
        """The worker's timed job, every ``trust`` period: read the centroids changed
        lately, so that grouping a petition seldom waits for it."""
        with self.lock:
            self._walker = True
            self._sync(self.trust)

    def _sync(self, fresh: timedelta | None = None) -> None:
        """Bring the in-memory index up to date with the issues' centroids.

        Other processes (another consumer, web workers rebuilding issues) change
        centroids too; each change sets the issue's ``slot`` (its time in 10-second
        steps), and FerretDB filters only by equality, so reading the slots since the
        last walk (with a margin for clock skew) keeps every process's index correct at
        the cost of one or two small queries per ``trust`` period, whatever the rate
        of petitions. The first time, or after a long pause, every open centroid is
        read (the clusterer weighs words by how many open issues use them, so it wants
        them all anyway).
        """
        now = self.ctx.clock()
        since = self._walked
        if fresh is None:
            fresh = self.trust * 3 if self._walker else self.trust
        if since is not None and timedelta(0) <= now - since < fresh:
            return
        if since is None or not timedelta(0) <= now - since <= WALK_LIMIT:
            seen = set()
            for doc in self.store.open_centroids():
                seen.add(doc["_id"])
                self._learn(doc)
            for iid in set(self._cv) - seen:  # no longer open
                self.forget(iid)
        else:
            for doc in self.store.centroids_changed(range(slot(since - timedelta(seconds=5)),
                                                          slot(now) + 1)):
                self._learn(doc)
        self._walked = now

    def _learn(self, doc: dict[str, Any]) -> None:
        """Take an issue's centroid as stored (or forget the issue if it is not open)."""
        iid = doc["_id"]
        if doc.get("status") != OPEN or doc.get("centroid") is None or not doc.get("bucket"):
            self.forget(iid)
        elif self._cv.get(iid) != doc.get("cv") or iid not in self.clusterer:
            self.clusterer.add_issue(iid, *bucket_of(doc["bucket"]),
                                     Centroid.from_doc(doc["centroid"]))
            self._cv[iid] = doc.get("cv")

    def forget(self, issue_id: str) -> None:
        with self.lock:
            self.clusterer.remove_issue(issue_id)
            self._cv.pop(issue_id, None)
            self._issues.pop(issue_id, None)

    # --- grouping -----------------------------------------------------------------------
    def group(self, doc: dict[str, Any], *, cause: Event | None = None) -> dict[str, Any]:
        """Put a petition into the most similar open issue of its bucket, or a new one,
        and publish ``petition.grouped``. ``doc`` as stored, with its outbox if
        ``cause`` is its ``petition.received`` (that entry is cleared too)."""
        done = self._place(doc, cause)
        self._record([done])
        return done.petition

    def _place(self, doc: dict[str, Any], cause: Event | None,
               vector: dict[str, float] | None = None,
               paired: tuple[str, bool] | None = None) -> Grouped:
        """Count the petition into its issue; what is left is to publish and record it.
        ``paired``: its petitioner's pair, inserted ahead for an issue (see
        ``_pair_ahead``)."""
        if vector is None:
            vector = features(doc["title"], doc["content"])
        now = self.ctx.clock()
        with self.lock:
            issue, score = self._count(doc, vector, now, cause, paired)
        issue_id = issue["_id"]
        grouped = self.ctx.event("petition.grouped", doc["_id"], {
            **ref({**doc, "issue_id": issue_id}), **snapshot(issue),
            "similarity": round(score, 4) if score is not None else None}, now, cause)
        claim = {"issue_id": issue_id, "similarity": score, "updated_at": now}
        # The entry of the event being handled has been published (it is what this
        # consumer received): the grouping's write clears it, not a write of its own.
        published = [e for e in doc.get(FIELD) or [] if cause and e.get("id") == cause.id]
        petition = {**{k: v for k, v in doc.items() if k not in (UNGROUPED, FIELD)}, **claim}
        return Grouped(doc["_id"], grouped, claim, published,
                       published == (doc.get(FIELD) or []), now, petition)

    def _record(self, done: list[Grouped]) -> None:
        """Publish the ``petition.grouped`` of petitions counted into their issues, then
        write them grouped (one bulk write). A crash in between regroups them on
        redelivery: at least once, as ever."""
        if not done:
            return
        try:
            self.ctx.kit.bus.publish_all([g.event for g in done])
        except Exception:  # the broker did not take them: the outbox and its relay will
            log.warning("publishing petition.grouped failed; staged for the relay",
                        exc_info=True)
            for g in done:
                update = {"$set": g.claim, "$unset": {UNGROUPED: ""}}
                after = self.store.claim_grouping(g.pid, stage(update, [g.event], g.at))
                if after is not None:
                    self.ctx.outbox.flush(self.store.petitions, g.pid, after)
            return
        first, then = [], []
        for g in done:
            query = {"_id": g.pid, "issue_id": None, UNGROUPED: True}
            update = {"$set": g.claim, "$unset": {UNGROUPED: ""}}
            pull = {**update, "$pullAll": {FIELD: g.published}} if g.published else update
            if g.published and g.whole:
                # the usual case: the outbox holds just that entry, emptied with its
                # markers (the relay then has nothing to look at)
                first.append(({**query, FIELD: g.published},
                              {"$set": {**g.claim, FIELD: []},
                               "$unset": {UNGROUPED: "", PENDING: "", FLAG: ""}}))
                then.append((query, pull))  # if more was staged, or the relay cleared it
            else:
                first.append((query, pull))
        if self.store.group_petitions(first) < len(first) and then:
            # only petitions still ungrouped match: those whose outbox changed meanwhile
            self.store.group_petitions(then)

    def _count(self, doc: dict[str, Any], vector: dict[str, float], now: datetime,
               cause: Event | None, paired: tuple[str, bool] | None = None
               ) -> tuple[dict[str, Any], float | None]:
        """Count the petition into the issue it joins, or a new one: the issue as
        written and the similarity (None for a new issue). Joining is one conditional
        write of the issue (counts, heat, centroid) and, for a petitioner new to it,
        one insert of the pair (unless ``paired`` inserted it ahead); opening an issue
        is one insert."""
        bucket = self.bucket(doc)
        fp = doc["petitioner_fingerprint"]
        # paired: (issue, pair inserted) once decided
        try:
            for _attempt in range(10):
                self._sync()
                issue_id, score = self.clusterer.assign(*bucket, vector)
                if issue_id is None:
                    return self._open(doc, vector, bucket, now, cause), None
                cv = self._cv[issue_id]
                issue = self._recall(issue_id)
                if issue is None or issue.get("cv") != cv:
                    fresh = self.store.issue_with_centroid(issue_id)
                    self._learn(fresh or {"_id": issue_id})
                    if fresh is None or issue_id not in self.clusterer:
                        continue  # no longer open: place the petition again
                    issue = self._remember({k: v for k, v in fresh.items() if k != "centroid"})
                    if self._cv[issue_id] != cv:
                        continue  # its centroid moved: place the petition again
                if paired is None or paired[0] != issue_id:
                    if paired and paired[1]:
                        self.store.uncount_petitioner(paired[0], fp)
                    new = (fp != issue.get("first_petitioner")
                           and self.store.count_petitioner(issue_id, fp))
                    paired = (issue_id, new)
                live = self.clusterer.centroid(issue_id)
                moved = Centroid(vector=dict(live.vector), count=live.count)
                moved.add(vector)
                after, update, events = self._heat_update(issue, now, cause, now, paired[1],
                                                          doc["_id"])
                update["$set"].update(centroid=moved.to_doc(), slot=slot(now))
                update["$inc"]["cv"] = 1
                if self.store.change_issue({"_id": issue_id, "version": issue["version"],
                                            "cv": cv, "status": OPEN},
                                           stage(update, events, now)):
                    self.clusterer.observe(issue_id, vector)
                    self._cv[issue_id] = after["cv"] = cv + 1
                    paired = None  # counted where it was inserted
                    self._written(after, events)
                    return after, score
                # Another process changed the issue meanwhile: read it again and retry.
                self._issues.pop(issue_id, None)
            raise RuntimeError("issues kept changing while grouping")
        finally:
            if paired and paired[1]:  # inserted for an issue the petition did not join
                self.store.uncount_petitioner(paired[0], fp)

    def _open(self, doc: dict[str, Any], vector: dict[str, float], bucket: tuple[str, str],
              now: datetime, cause: Event | None) -> dict[str, Any]:
        """A new issue for the petition, its first petitioner kept in it (no pair to
        insert for them): one insert."""
        issue_id = str(uuid.uuid4())
        centroid = Centroid()
        centroid.add(vector)
        base = new_issue(issue_id, doc, now, first_petitioner=doc["petitioner_fingerprint"])
        after, _, events = self._heat_update(base, now, cause, now, True, doc["_id"],
                                             members=[doc["_id"]])
        after.update(centroid=centroid.to_doc(), cv=1, bucket=bucket_key(*bucket),
                     slot=slot(now))
        stored = new_document({k: v for k, v in after.items() if k != "outbox"}, events, now)
        self.store.insert_issue(stored)
        self.clusterer.add_issue(issue_id, *bucket, centroid)
        self._cv[issue_id] = 1
        after.pop("centroid")
        self._written(after, events, stored)
        return after

    def _written(self, issue: dict[str, Any], events: list[Event],
                 stored: dict[str, Any] | None = None) -> None:
        """After an issue's write: remember it, publish what it staged, widen the bound."""
        self._remember({k: v for k, v in issue.items() if k != "outbox"})
        if events:  # what was staged is known: no read (others staged meanwhile stay)
            staged = stored or {"_id": issue["_id"], "outbox": [entry(e) for e in events]}
            self.ctx.outbox.flush(self.store.issues, issue["_id"], staged)
        self.store.bounds.widen(MAX_BAND, issue["heat_band"], lower=False)

    def _recall(self, issue_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._issues.get(issue_id)

    def _remember(self, issue: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._issues[issue["_id"]] = issue
            self._issues.move_to_end(issue["_id"])
            while len(self._issues) > ISSUE_CACHE:
                self._issues.popitem(last=False)
        return issue

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
                                  "distinct_petitioners": len(fingerprints), "daily": daily,
                                  "centroid": centroid.to_doc(), "slot": slot(now),
                                  # every petitioner is a pair now (reset above)
                                  "first_petitioner": None}
        if not members:
            fields["status"] = "closed"
        with self.lock:
            issue = self.store.recount_issue(issue_id, fields)
            key = bucket_key(*self.bucket(issue))
            if issue.get("bucket") != key:  # an issue just split off: its bucket too
                self.store.change_issue({"_id": issue_id}, {"$set": {"bucket": key}})
            self._issues.pop(issue_id, None)
            if issue["status"] == OPEN:
                self.clusterer.add_issue(issue_id, *bucket_of(key), centroid)
                self._cv[issue_id] = issue["cv"]
            else:
                self.forget(issue_id)
        return self.refresh_heat(issue_id) if issue["status"] == OPEN else issue
