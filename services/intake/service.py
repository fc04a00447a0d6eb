"""The intake service layer: one method per command, from HTTP or from an event.

Every state change and its events are one ``update_one`` (``outbox.stage``) with a
filter on the expected state, so a replay or a race changes nothing.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import logging
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

from marshmallow import ValidationError
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common import paging, phones
from services.common.auth import Principal
from services.common.crypto import CryptoError, mask_email, seal, unseal
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import Event, new_event
from services.common.kafka import Rejected
from services.common.kit import Kit
from services.common.localities import top_level
from services.common.outbox import FIELD, Outbox, new_document, stage
from services.common.ratelimit import RateLimiter
from services.common.text import fold, words
from services.intake import domain
from services.intake.clustering import Centroid, Clusterer, features
from services.intake.domain import Taxonomy
from services.intake.schemas import PetitionIn
from services.intake.settings import IntakeSettings
from services.intake.store import Store

log = logging.getLogger(__name__)

_NS = uuid.UUID("0b7a3c52-8f1e-4d6a-9c2b-5e4f3a2d1c0b")
OPEN = "open"
FIRST_DAY = "petitions.first_day"
MAX_BAND = "issues.max_band"
# Set while a petition waits to be grouped, unset in the same write that groups it:
# FerretDB cannot find ``issue_id: null`` by index, but finds this flag by one.
UNGROUPED = "ungrouped"
# Denunciations (tố cáo) are never grouped into issues: an issue can reach a public
# agenda, and the law keeps a denunciation and its denouncer confidential.
DENUNCIATION = "denunciation"
NOT_FOUND_VI = "Không tìm thấy kiến nghị với mã tra cứu và thông tin xác minh này."


def external_id(source_system: str, external_ref: str) -> str:
    """The petition id of an external submission: the same on every resend."""
    return str(uuid.uuid5(_NS, f"{source_system}\n{external_ref}"))


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None



def bucket_key(ward: str, category: str) -> str:
    """The clustering bucket of an issue: its commune and category."""
    return f"{ward}|{category}"


def searchable(title: str, content: str, created_at: datetime) -> dict[str, Any]:
    """The fields the officer list filters on: the folded text, its words (FerretDB
    answers an equality on an array member with an index, a regex never) and the
    creation day and month (see services/common/paging.py)."""
    text = f"{title} {content}"
    found = words(text)
    return {"search": fold(text), "terms": sorted({*found, *pairs(found)}),
            **paging.time_keys(created_at)}


def pairs(found: list[str]) -> list[str]:
    """Adjacent words, so that a phrase narrows in the backend as much as it matches:
    a common word alone would bring every petition that has it."""
    return [f"{a} {b}" for a, b in itertools.pairwise(found)]


def _slot(at: datetime) -> int:
    """When a centroid last changed, in 10-second steps (an equality to filter on)."""
    return int(at.timestamp()) // 10


class Intake:
    def __init__(self, kit: Kit, settings: IntakeSettings, taxonomy: Taxonomy) -> None:
        self.kit = kit
        self.settings = settings
        self.taxonomy = taxonomy
        self.store = Store(kit.db)
        self.clusterer = Clusterer(settings.cluster_threshold)
        # The in-memory index is a cache of the centroids collection: per bucket, when
        # it was last read and which centroid version (``cv``) of each issue it holds.
        self._lock = threading.RLock()
        self._synced: dict[tuple[str, str], datetime] = {}
        self._cv: dict[str, int] = {}
        self._bounds: dict[str, Any] = {}  # see _widen

    @property
    def clock(self):
        return self.kit.clock

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.kit.bus, [self.store.petitions, self.store.issues], clock=self.clock)

    @cached_property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.kit.db, self.settings.public_rate_limit, clock=self.clock)

    @cached_property
    def lookup_limiter(self) -> RateLimiter:
        return RateLimiter(self.kit.db, self.settings.lookup_rate_limit, clock=self.clock)

    def _event(self, type_: str, subject: str, data: dict[str, Any], now: datetime,
               cause: Event | None = None) -> Event:
        return new_event(type_, subject, data, source=self.settings.service, cause=cause,
                         time=now)

    @staticmethod
    def _ref(doc: dict[str, Any]) -> dict[str, Any]:
        return {"petition_id": doc["_id"], "tracking_code": doc["tracking_code"],
                "locality": doc["locality"], "category": doc.get("category"),
                "issue_id": doc.get("issue_id")}

    # --- submission -------------------------------------------------------------------
    def submit(self, data: dict[str, Any], *, principal: Principal | None = None,
               external: tuple[str, str] | None = None,
               cause: Event | None = None) -> dict[str, Any]:
        """Store a new petition with its ``petition.received`` and publish it. Grouping
        into an issue happens off the request path, in the consumer of that event
        (``on_received``), so the answer and the acknowledgement never wait for it."""
        data = domain.check_submission(data)
        category = data.get("category")
        if category:
            if category not in self.taxonomy.names:
                raise Invalid("category", f"unknown category {category!r}",
                              detail_vi="Lĩnh vực không hợp lệ.")
        else:
            category = self.taxonomy.classify(data["title"], data["content"])
        now = self.clock()
        pid = external_id(*external) if external else str(uuid.uuid4())
        if external:
            found = self.store.petitions.find_one({"_id": pid})
            if found:  # a resend: publish what may still be pending, change nothing
                self.outbox.flush(self.store.petitions, pid, found)
                return found
        person = data["petitioner"]
        phone, email = person.get("phone"), person.get("email")
        keys = self.kit.keys
        pii = {k: person.get(k) for k in ("full_name", "phone", "email", "address")}
        if phone:
            who = f"phone:{phone}"
        elif email:
            who = f"email:{email}"
        elif person.get("full_name"):
            who = f"name:{fold(person['full_name'])}|{fold(person.get('address') or '')}"
        else:
            who = f"petition:{pid}"
        kind = data["kind"]
        due = domain.due_date(now, *self.settings.due(kind))
        channel = data.get("channel") or ("external" if external else "web")
        base = {
            "_id": pid, "kind": kind, "title": data["title"], "content": data["content"],
            "category": category, "locality": {"province_code": data["locality"]["province_code"],
                                               "ward_code": data["locality"].get("ward_code")},
            **top_level(data["locality"]),
            "channel": channel, "status": domain.RECEIVED,
            "history": [{"status": domain.RECEIVED, "at": now, "note": None}],
            "pii": keys.encrypt_json(pii, context=pid) if any(pii.values()) else None,
            "phone_fingerprint": keys.fingerprint(phone) if phone else None,
            "petitioner_fingerprint": keys.fingerprint(who),
            "last4_fp": keys.fingerprint(f"{pid}|last4|{phone[-4:]}") if phone else None,
            "email_fp": keys.fingerprint(f"{pid}|email|{email}") if email else None,
            "masked_phone": phones.mask(phone) if phone else None,
            "consent_notifications": bool(person.get("consent_notifications")),
            "attachments": data.get("attachments") or [],
            "submitted_by": ({"sub": principal.sub, "roles": sorted(principal.roles)}
                             if principal else None),
            "source_system": external[0] if external else None,
            "external_ref": external[1] if external else None,
            **searchable(data["title"], data["content"], now),
            "due_date": due.isoformat(), "issue_id": None, "events_seen": [],
            **({} if kind == DENUNCIATION else {UNGROUPED: True}),
            "created_at": now, "updated_at": now,
        }
        for _attempt in range(5):
            code = domain.new_code()
            contact = {
                "contact_token": seal(self.settings.contact_public_key,
                                      {"phone": phone, "email": email,
                                       "name": person.get("full_name"), "tracking_code": code,
                                       "channel": person.get("preferred_channel")}),
                "masked_phone": phones.mask(phone) if phone else None,
                "masked_email": mask_email(email) if email else None,
                "consent_notifications": bool(person.get("consent_notifications")),
                "preferred_channel": person.get("preferred_channel"),
            }
            doc = {**base, "tracking_code": code, "contact": contact}
            received = self._event("petition.received", pid, {
                **self._ref(doc), "kind": kind, "title": doc["title"], "channel": channel,
                "due_date": due, "received_at": now, "contact": contact,
                "external_ref": doc["external_ref"], "source_system": doc["source_system"],
            }, now, cause)
            stored = new_document(doc, [received], now)
            try:
                self.store.petitions.insert_one(stored)
                break
            except DuplicateKeyError:
                found = self.store.petitions.find_one({"_id": pid})
                if found:  # the same external submission, stored by a concurrent delivery
                    return found
                continue  # tracking code collision: draw another
        else:
            raise RuntimeError("could not draw a unique tracking code")
        self._widen(FIRST_DAY, paging.day_key(now), lower=True)
        if principal:
            self.kit.audit.record(principal, "petition.submit", "petition", pid,
                                  {"channel": channel})
        # Published at once from the document just written (no read back); should it
        # fail, the relay publishes it.
        self.outbox.flush(self.store.petitions, pid, stored)
        return doc

    def on_received(self, event: Event) -> None:
        """``petition.received`` (intake's own, keyed by petition): group the petition.
        One consumer owns each petition's partition, so one writer groups it."""
        self.group_petition(event.subject, cause=event)

    def group_petition(self, pid: str, cause: Event | None = None) -> dict[str, Any] | None:
        """Group a stored petition into an issue unless it is grouped already (a replay)
        or a denunciation; publish its events. The petition as it is then."""
        doc = self.store.petitions.find_one({"_id": pid}, {FIELD: 0})
        if doc is None or not doc.get(UNGROUPED):
            return doc
        if doc["kind"] == DENUNCIATION:  # left out of issues (reclassified, say)
            self.store.petitions.update_one({"_id": pid}, {"$unset": {UNGROUPED: ""}})
            return {k: v for k, v in doc.items() if k != UNGROUPED}
        return self.group(doc, cause=cause)

    # --- clustering ---------------------------------------------------------------------
    def _bucket(self, doc: dict[str, Any]) -> tuple[str, str]:
        return (doc["locality"].get("ward_code") or "", doc["category"])

    def _sync(self, bucket: tuple[str, str], *, full: bool = False) -> None:
        """Bring the in-memory index of one bucket up to date with the centroids.

        Other processes (gunicorn workers, the consumer) change centroids too; each
        change sets ``slot`` (its time in 10-second steps), and FerretDB filters only
        by equality, so re-reading the slots since the last read (with a margin for
        clock skew) keeps every process's index correct at the cost of one or two
        small queries; a bucket not read for a minute is read whole.
        """
        ward, category = bucket
        key = bucket_key(ward, category)
        since = None if full else self._synced.get(bucket)
        now = self.clock()
        first, last = (_slot(since - timedelta(seconds=5)), _slot(now)) if since else (0, -1)
        whole = since is None or last - first > 6
        if whole:
            queries = [{"bucket": key, "status": OPEN}]
        else:
            queries = [{"bucket": key, "slot": s} for s in range(first, last + 1)]
        seen = set()
        for query in queries:
            for doc in self.store.centroids.find(query):
                iid = doc["_id"]
                seen.add(iid)
                if doc["status"] != OPEN:
                    self._forget(iid)
                elif self._cv.get(iid) != doc["cv"] or iid not in self.clusterer:
                    self.clusterer.add_issue(iid, ward, category,
                                             Centroid.from_doc(doc["centroid"]))
                    self._cv[iid] = doc["cv"]
        if whole:  # what is no longer open
            for iid in self.clusterer.issues_in(ward, category) - seen:
                self._forget(iid)
        self._synced[bucket] = now

    def _forget(self, issue_id: str) -> None:
        self.clusterer.remove_issue(issue_id)
        self._cv.pop(issue_id, None)

    def _save_centroid(self, issue_id: str, bucket: str, centroid: Centroid, status: str,
                       now: datetime) -> int:
        """Write an issue's centroid as it is now (after a rebuild); its new ``cv``."""
        doc = self.store.centroids.find_one_and_update(
            {"_id": issue_id},
            {"$set": {"centroid": centroid.to_doc(), "status": status, "bucket": bucket,
                      "slot": _slot(now), "updated_at": now}, "$inc": {"cv": 1}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["cv"]

    def group(self, doc: dict[str, Any], *, cause: Event | None = None) -> dict[str, Any]:
        """Put a petition into the most similar open issue of its bucket, or a new one,
        and publish ``petition.grouped``."""
        vector = features(doc["title"], doc["content"])
        bucket = self._bucket(doc)
        now = self.clock()
        created = None
        with self._lock:
            for _attempt in range(10):
                self._sync(bucket)
                issue_id, score = self.clusterer.assign(*bucket, vector)
                if issue_id is None:
                    issue_id = str(uuid.uuid4())
                    centroid = Centroid()
                    centroid.add(vector)
                    self.store.centroids.insert_one({
                        "_id": issue_id, "bucket": bucket_key(*bucket), "status": OPEN,
                        "cv": 1, "slot": _slot(now), "centroid": centroid.to_doc(),
                        "updated_at": now})
                    created = self._new_issue(issue_id, doc, now, petition_count=1,
                                              daily={paging.day_key(now): 1})
                    self.clusterer.add_issue(issue_id, *bucket, centroid)
                    self._cv[issue_id] = 1
                    score = None
                    break
                live = self.clusterer.centroid(issue_id)
                updated = Centroid(vector=dict(live.vector), count=live.count)
                updated.add(vector)
                cv = self._cv[issue_id]
                result = self.store.centroids.update_one(
                    {"_id": issue_id, "cv": cv, "status": OPEN},
                    {"$set": {"centroid": updated.to_doc(), "slot": _slot(now),
                              "updated_at": now}, "$inc": {"cv": 1}})
                if result.matched_count:
                    self.clusterer.observe(issue_id, vector)
                    self._cv[issue_id] = cv + 1
                    break
                # Another process changed the issue meanwhile: re-read it and retry.
                self._sync(bucket, full=True)
            else:
                raise RuntimeError("issue kept changing while grouping")
        new_petitioner = self._count_petitioner(issue_id, doc["petitioner_fingerprint"])
        issue = self.refresh_heat(issue_id, cause=cause, petition=None if created else now,
                                  new_petitioner=new_petitioner, member=doc["_id"])
        grouped = self._event("petition.grouped", doc["_id"], {
            **self._ref({**doc, "issue_id": issue_id}), **self._snapshot(issue),
            "similarity": round(score, 4) if score is not None else None}, now, cause)
        claim = {"issue_id": issue_id, "similarity": score, "updated_at": now}
        after = self.store.petitions.find_one_and_update(
            {"_id": doc["_id"], "issue_id": None},
            stage({"$set": claim, "$unset": {UNGROUPED: ""}}, [grouped], now),
            return_document=ReturnDocument.AFTER)
        if after is not None:  # publish from the document as written: no read back
            self.outbox.flush(self.store.petitions, doc["_id"], after)
        return {**{k: v for k, v in doc.items() if k != UNGROUPED}, **claim}

    def sweep_ungrouped(self, older_than: timedelta = timedelta(minutes=10),
                        limit: int = 500) -> int:
        """The safety net: group petitions left without an issue, say reclassified by a
        request that died before grouping them. New petitions are the consumer's (Kafka
        hands a crashed consumer's events to the next one); younger ones are left to it,
        with a margin for a consumer that lags."""
        cutoff = self.clock() - older_than
        count = 0
        for doc in self.store.petitions.find({UNGROUPED: True},
                                             {"_id": 1, "updated_at": 1}).limit(limit):
            if doc["updated_at"] > cutoff:
                continue
            self.group_petition(doc["_id"])
            count += 1
        if count:
            log.warning("grouped petitions left ungrouped", extra={"count": count})
        return count

    def _new_issue(self, issue_id: str, first: dict[str, Any], now: datetime,
                   **fields: Any) -> dict[str, Any]:
        locality = first["locality"]
        issue = {
            "_id": issue_id, "title": first["title"], "category": first["category"],
            **top_level(locality), "locality": locality, "status": OPEN, "petition_count": 0,
            "distinct_petitioners": 0, "heat": 0.0, "trending": False, "version": 1,
            "daily": {}, "merged_into": None, "created_at": now, "updated_at": now,
            "last_petition_at": now, "outbox": [], **paging.heat_keys(0.0),
            **paging.time_keys(now), **fields}
        self.store.issues.insert_one(issue)
        return issue

    @staticmethod
    def _snapshot(issue: dict[str, Any]) -> dict[str, Any]:
        return {"issue_title": issue["title"], "issue_version": issue["version"],
                "petition_count": issue["petition_count"],
                "distinct_petitioners": issue["distinct_petitioners"], "heat": issue["heat"]}

    def _count_petitioner(self, issue_id: str, fingerprint: str) -> bool:
        """Record that this petitioner wrote about the issue; True the first time."""
        try:
            self.store.petitioners.insert_one({"_id": f"{issue_id}|{fingerprint}",
                                               "issue_id": issue_id,
                                               "fingerprint": fingerprint})
        except DuplicateKeyError:
            return False
        return True

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
        now = self.clock()
        # Read, compute, then write only if nobody changed the issue meanwhile (its
        # version): the heat matches the counts, and a crossing stages one event.
        for _attempt in range(20):
            issue = self.store.issues.find_one({"_id": issue_id}, {"outbox": 0})
            after, update, events = self._heat_update(issue, now, cause, petition,
                                                      new_petitioner, member)
            result = self.store.issues.update_one(
                {"_id": issue_id, "version": issue["version"]}, stage(update, events, now))
            if result.matched_count:
                break
        else:
            raise RuntimeError(f"issue {issue_id} kept changing while counting it")
        if events:
            self.outbox.flush(self.store.issues, issue_id)
        self._widen(MAX_BAND, after["heat_band"], lower=False)
        return after

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
        threshold = self.settings.trending_threshold
        events = []
        if value >= threshold and not issue["trending"] and issue["status"] == OPEN:
            ids = [p["_id"] for p in self.store.petitions.find({"issue_id": issue_id},
                                                                {"_id": 1})]
            if member and member not in ids:
                ids.append(member)
            events.append(self._event("issue.trending", issue_id, {
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

    def _widen(self, marker: str, value: Any, *, lower: bool) -> None:
        """Move a bound kept in ``meta`` - the oldest petition's day, where newest-first
        walks end; the highest heat band, where hottest-first walks start - out to
        ``value`` when it lies beyond. Each process remembers the furthest it has seen,
        so the database is asked only when a value goes further."""
        known = self._bounds.get(marker)
        if known is not None and (value >= known if lower else value <= known):
            return
        beyond = {"$gt": value} if lower else {"$lt": value}
        moved = self.store.meta.update_one({"_id": marker, "value": beyond},
                                           {"$set": {"value": value}})
        if not moved.matched_count and known is None:
            with contextlib.suppress(DuplicateKeyError):  # further already, or the first
                self.store.meta.insert_one({"_id": marker, "value": value})
        self._bounds[marker] = value if known is None else (min if lower else max)(known,
                                                                                  value)

    def _bound(self, marker: str) -> Any:
        doc = self.store.meta.find_one({"_id": marker})
        return doc["value"] if doc else None

    def sweep_trending(self) -> int:
        """Recompute heat of issues that are trending or had petitions lately, so that
        heat decays and the trending flag drops when it falls below the threshold."""
        now = self.clock()
        since = now - timedelta(days=self.settings.heat_window_days + 1)
        query = {"status": OPEN, "$or": [{"trending": True},
                                         {"last_petition_at": {"$gte": since}}]}
        count = 0
        for issue in self.store.issues.find(query, {"_id": 1}):
            self.refresh_heat(issue["_id"])
            count += 1
        return count

    def _rebuild_issue(self, issue_id: str, now: datetime) -> dict[str, Any] | None:
        """Recompute centroid, counts and petitioners of an issue from its petitions
        (after a merge, split or reclassification); close it when it is empty."""
        members = list(self.store.petitions.find(
            {"issue_id": issue_id},
            {"title": 1, "content": 1, "petitioner_fingerprint": 1, "created_at": 1}
        ).sort("created_at", 1))
        centroid = Centroid()
        daily: dict[str, int] = {}
        for p in members:
            centroid.add(features(p["title"], p["content"]))
            day = paging.day_key(p["created_at"])
            daily[day] = daily.get(day, 0) + 1
        fingerprints = {p["petitioner_fingerprint"] for p in members}
        self.store.petitioners.delete_many({"issue_id": issue_id})
        if fingerprints:
            self.store.petitioners.insert_many([
                {"_id": f"{issue_id}|{fp}", "issue_id": issue_id, "fingerprint": fp}
                for fp in fingerprints])
        update: dict[str, Any] = {"updated_at": now, "petition_count": len(members),
                                  "distinct_petitioners": len(fingerprints), "daily": daily}
        if not members:
            update["status"] = "closed"
        issue = self.store.issues.find_one_and_update(
            {"_id": issue_id}, {"$set": update, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER)
        ward = issue["locality"].get("ward_code") or ""
        with self._lock:
            cv = self._save_centroid(issue_id, bucket_key(ward, issue["category"]), centroid,
                                     issue["status"], now)
            if issue["status"] == OPEN:
                self.clusterer.add_issue(issue_id, ward, issue["category"], centroid)
                self._cv[issue_id] = cv
            else:
                self._forget(issue_id)
        return self.refresh_heat(issue_id) if issue["status"] == OPEN else issue

    # --- reads --------------------------------------------------------------------------
    def _find(self, ref: str) -> dict[str, Any]:
        try:
            code = domain.parse_code(ref)
        except domain.BadCode:
            code = None
        doc = self.store.petitions.find_one({"tracking_code": code} if code else {"_id": ref},
                                            {"outbox": 0})
        if doc is None:
            raise NotFound(f"no petition {ref}", detail_vi="Không tìm thấy kiến nghị.")
        return doc

    def _officer_doc(self, ref: str, principal: Principal) -> dict[str, Any]:
        doc = self._find(ref)
        principal.require_scope(doc["locality"]["province_code"], doc["locality"].get("ward_code"))
        return doc

    def citizen_doc(self, code: str, phone_last4: str | None,
                    email: str | None) -> dict[str, Any]:
        """The petition for a citizen holding its code and a second factor. A wrong or
        missing second factor answers exactly like an unknown code."""
        try:
            code = domain.parse_code(code)
        except domain.BadCode as exc:
            raise Invalid("tracking_code", str(exc),
                          detail_vi="Mã tra cứu không hợp lệ, vui lòng kiểm tra lại.") from None
        doc = self.store.petitions.find_one({"tracking_code": code}, {"outbox": 0})
        keys = self.kit.keys
        ok = False
        if doc is not None:
            pid = doc["_id"]
            if phone_last4 and doc.get("last4_fp"):
                ok = hmac.compare_digest(keys.fingerprint(f"{pid}|last4|{phone_last4}"),
                                         doc["last4_fp"])
            if not ok and email and doc.get("email_fp"):
                ok = hmac.compare_digest(
                    keys.fingerprint(f"{pid}|email|{email.strip().lower()}"), doc["email_fp"])
        if not ok:
            raise NotFound("no petition with this code and second factor",
                           detail_vi=NOT_FOUND_VI)
        return doc

    def citizen_view(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "tracking_code": doc["tracking_code"], "status": doc["status"],
            "status_vi": domain.STATUS_VI[doc["status"]], "kind": doc["kind"],
            "title": doc["title"], "category": doc["category"],
            "category_name": self.taxonomy.names.get(doc["category"], doc["category"]),
            "locality": doc["locality"], "due_date": _day(doc.get("due_date")),
            "created_at": doc["created_at"],
            "history": [{**h, "status_vi": domain.STATUS_VI[h["status"]]}
                        for h in doc.get("history", [])],
            "answer": doc.get("answer"),
        }

    def summary(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {**{k: doc.get(k) for k in (
            "tracking_code", "kind", "title", "category", "status", "locality", "channel",
            "issue_id", "created_at", "masked_phone")},
            "id": doc["_id"], "due_date": _day(doc.get("due_date"))}

    def officer_view(self, ref: str, principal: Principal) -> dict[str, Any]:
        doc = self._officer_doc(ref, principal)
        person: dict[str, Any] = {}
        if doc.get("pii"):
            person = self.kit.keys.decrypt_json(doc["pii"], context=doc["_id"])
            # Reading personal data is itself an act the audit trail records.
            self.kit.audit.record(principal, "petition.read_personal_data", "petition",
                                  doc["_id"])
        person["consent_notifications"] = doc.get("consent_notifications", False)
        return {**self.summary(doc), "content": doc["content"], "petitioner": person,
                "attachments": doc.get("attachments", []),
                "history": [{**h, "status_vi": domain.STATUS_VI[h["status"]]}
                            for h in doc.get("history", [])],
                **{k: doc.get(k) for k in ("answer", "submitted_by", "external_ref",
                                           "source_system", "reject_reason", "accepted_at")}}

    def list_petitions(self, args: dict[str, Any], principal: Principal) -> dict[str, Any]:
        query: dict[str, Any] = dict(principal.scope_filter(""))
        for name, path in (("province_code", "province_code"),
                           ("ward_code", "ward_code"), ("category", "category"),
                           ("kind", "kind"), ("status", "status"), ("issue_id", "issue_id")):
            if args.get(name):
                if path in query and query[path] != args[name]:
                    query[path] = {"$in": []}  # asks outside the scope: nothing
                else:
                    query[path] = args[name]
        span = {}
        if args.get("received_from"):
            span["$gte"] = args["received_from"]
        if args.get("received_to"):
            span["$lt"] = args["received_to"]
        if span:
            query["created_at"] = span
        if args.get("q"):
            # The rarest pair of words, or word (guessed: the longest) narrows in the
            # backend; the phrase is then matched among those.
            asked = words(args["q"])
            query["terms"] = max(pairs(asked) or asked or [""], key=len)
            query["search"] = {"$regex": re.escape(fold(args["q"]))}
        page, size = args["page"], args["page_size"]
        now = self.clock()
        newest = min(now, args.get("received_to") or now)
        oldest = self.first_day()
        if args.get("received_from"):
            oldest = max(oldest, args["received_from"].astimezone(UTC).date())
        found, whole = paging.newest_first(
            lambda q: self.store.petitions.find(q, {"outbox": 0, "content": 0, "terms": 0}),
            query, newest=newest.astimezone(UTC).date(), oldest=oldest, need=page * size,
            key=lambda d: (d["created_at"], d["_id"]))
        return {"items": [self.summary(d) for d in found[(page - 1) * size:page * size]],
                "total": len(found), "total_exact": whole, "page": page, "page_size": size}

    def first_day(self) -> date:
        """The day of the oldest petition: where a newest-first walk ends."""
        day = self._bound(FIRST_DAY)
        return date.fromisoformat(day) if day else self.clock().astimezone(UTC).date()

    def _apply(self, doc: dict[str, Any], action: str, *, set_: dict[str, Any] | None = None,
               note: str | None = None, events: list[Event] = (),
               extra: dict[str, Any] | None = None, cause: Event | None = None) -> bool:
        """Move ``doc`` through ``action`` in one conditional update with its events."""
        allowed, target = domain.transition(doc["status"], action)
        now = self.clock()
        update: dict[str, Any] = {"$set": {"status": target, "updated_at": now, **(set_ or {})}}
        push: dict[str, Any] = {}
        if target != doc["status"] or note:
            push["history"] = {"status": target, "at": now, "note": note}
        if cause is not None:
            push["events_seen"] = cause.id
        if push:
            update["$push"] = push
        query = {"_id": doc["_id"], "status": {"$in": list(allowed)}, **(extra or {})}
        if cause is not None:
            query["events_seen"] = {"$ne": cause.id}
        result = self.store.petitions.update_one(query, stage(update, events, now))
        if result.matched_count:
            self.outbox.flush(self.store.petitions, doc["_id"])
        return bool(result.matched_count)

    def _officer_transition(self, ref: str, action: str, principal: Principal,
                            make: Any, **kwargs: Any) -> dict[str, Any]:
        doc = self._officer_doc(ref, principal)
        domain.transition(doc["status"], action)
        now = self.clock()
        events = make(doc, now)
        if not self._apply(doc, action, events=events, **kwargs):
            raise Conflict("the petition changed meanwhile; reload it")
        self.kit.audit.record(principal, f"petition.{action}", "petition", doc["_id"],
                              {k: v for k, v in kwargs.items() if k == "note"})
        return self.summary(self._find(doc["_id"]))

    def accept(self, ref: str, principal: Principal, note: str | None) -> dict[str, Any]:
        now = self.clock()
        doc = self._officer_doc(ref, principal)
        due = domain.due_date(now, *self.settings.due(doc["kind"]))
        return self._officer_transition(
            ref, "accept", principal,
            lambda d, t: [self._event("petition.accepted", d["_id"], {
                **self._ref(d), "due_date": due, "accepted_at": t}, t)],
            set_={"accepted_at": now, "due_date": due.isoformat()}, note=note)

    def reject(self, ref: str, principal: Principal, reason: str) -> dict[str, Any]:
        return self._officer_transition(
            ref, "reject", principal,
            lambda d, t: [self._event("petition.rejected", d["_id"], {
                **self._ref(d), "reason": reason, "contact": d["contact"]}, t)],
            set_={"reject_reason": reason}, note=reason)

    def close(self, ref: str, principal: Principal, note: str | None) -> dict[str, Any]:
        return self._officer_transition(
            ref, "close", principal,
            lambda d, t: [self._event("petition.closed", d["_id"], {
                **self._ref(d), "closed_at": t, "note": note}, t)],
            set_={"closed_at": self.clock()}, note=note)

    def answer(self, ref: str, principal: Principal, text: str) -> dict[str, Any]:
        now = self.clock()
        return self._officer_transition(
            ref, "answer", principal,
            lambda d, t: [self._event("petition.answered", d["_id"], {
                **self._ref(d), "answer": text, "commitment_id": None, "answered_at": t,
                "contact": d["contact"]}, t)],
            set_={"answer": {"text": text, "at": now, "commitment_id": None},
                  "answered_at": now})

    def reclassify(self, ref: str, principal: Principal, category: str,
                   note: str | None) -> dict[str, Any]:
        """New category: the petition leaves its issue and is grouped in the new bucket."""
        if category not in self.taxonomy.names:
            raise Invalid("category", f"unknown category {category!r}",
                          detail_vi="Lĩnh vực không hợp lệ.")
        doc = self._officer_doc(ref, principal)
        allowed, _ = domain.transition(doc["status"], "reclassify")
        if doc["category"] == category:
            return self.summary(doc)
        now = self.clock()
        result = self.store.petitions.update_one(
            {"_id": doc["_id"], "status": {"$in": list(allowed)}, "category": doc["category"]},
            {"$set": {"category": category, "issue_id": None, UNGROUPED: True,
                      "updated_at": now}})
        if not result.matched_count:
            raise Conflict("the petition changed meanwhile; reload it")
        self.kit.audit.record(principal, "petition.reclassify", "petition", doc["_id"],
                              {"from": doc["category"], "to": category, "note": note})
        if doc.get("issue_id"):
            self._rebuild_issue(doc["issue_id"], now)
        return self.summary(self.group_petition(doc["_id"]) or doc)

    def withdraw(self, code: str, factor: dict[str, Any]) -> dict[str, Any]:
        doc = self.citizen_doc(code, factor.get("phone_last4"), factor.get("email"))
        domain.transition(doc["status"], "withdraw")
        reason = factor.get("reason")
        now = self.clock()
        event = self._event("petition.withdrawn", doc["_id"], {**self._ref(doc),
                                                                "reason": reason}, now)
        if not self._apply(doc, "withdraw", note=reason, events=[event],
                           set_={"withdrawn_at": now}):
            raise Conflict("the petition changed meanwhile")
        return self.citizen_view(self._find(doc["_id"]))

    def reopen(self, code: str, factor: dict[str, Any]) -> dict[str, Any]:
        doc = self.citizen_doc(code, factor.get("phone_last4"), factor.get("email"))
        domain.transition(doc["status"], "reopen")
        now = self.clock()
        domain.check_reopen(doc.get("answered_at"), now, self.settings.reopen_window_days)
        reason = factor["reason"]
        event = self._event("petition.reopened", doc["_id"], {**self._ref(doc),
                                                               "reason": reason}, now)
        if not self._apply(doc, "reopen", note=reason, events=[event],
                           set_={"reopened_at": now}):
            raise Conflict("the petition changed meanwhile")
        return self.citizen_view(self._find(doc["_id"]))

    # --- issues ----------------------------------------------------------------------------
    @staticmethod
    def issue_view(issue: dict[str, Any]) -> dict[str, Any]:
        return {**{k: issue.get(k) for k in (
            "title", "category", "locality", "status", "petition_count", "distinct_petitioners",
            "heat", "trending", "version", "merged_into", "created_at", "updated_at")},
            "id": issue["_id"]}

    def list_issues(self, args: dict[str, Any], principal: Principal) -> dict[str, Any]:
        query: dict[str, Any] = dict(principal.scope_filter(""))
        for name, path in (("province_code", "province_code"),
                           ("ward_code", "ward_code"), ("category", "category"),
                           ("status", "status"), ("trending", "trending")):
            if args.get(name) is not None:
                if path in query and query[path] != args[name]:
                    query[path] = {"$in": []}
                else:
                    query[path] = args[name]
        sort = args["sort"]
        field, descending = sort.lstrip("-"), sort.startswith("-")
        page, size = args["page"], args["page_size"]
        need = page * size

        def find(q: dict[str, Any]) -> Any:
            return self.store.issues.find(q, {"outbox": 0, "daily": 0})

        if sort == "-heat":  # the hottest first: the agenda's view, walked by heat band
            found, whole = paging.walk(
                find, query, paging.HEAT, top=self._bound(MAX_BAND) or 0, bottom=0,
                need=need, key=lambda d: (d["heat"], paging.Desc(d["_id"])))
        elif sort == "-created_at":
            found, whole = paging.newest_first(
                find, query, newest=self.clock().astimezone(UTC).date(),
                oldest=self.first_day(), need=need,
                key=lambda d: (d["created_at"], paging.Desc(d["_id"])))
        else:  # rarer orders: every match, sorted here
            found = sorted(find(query), key=lambda d: (d[field], d["_id"]))
            if descending:
                found.sort(key=lambda d: d[field], reverse=True)  # stable: _id stays ascending
            whole = True
        return {"items": [self.issue_view(d) for d in found[(page - 1) * size:need]],
                "total": len(found), "total_exact": whole, "page": page, "page_size": size}

    def _issue(self, issue_id: str, principal: Principal) -> dict[str, Any]:
        issue = self.store.issues.find_one({"_id": issue_id}, {"outbox": 0})
        if issue is None:
            raise NotFound(f"no issue {issue_id}", detail_vi="Không tìm thấy vấn đề.")
        principal.require_scope(issue["locality"]["province_code"],
                                issue["locality"].get("ward_code"))
        return issue

    def get_issue(self, issue_id: str, principal: Principal) -> dict[str, Any]:
        return self.issue_view(self._issue(issue_id, principal))

    def merge(self, into_id: str, from_id: str, principal: Principal) -> dict[str, Any]:
        """Fold issue ``from_id`` into ``into_id``: its petitions move, it is marked merged."""
        if into_id == from_id:
            raise Invalid("issue_id", "cannot merge an issue into itself",
                          detail_vi="Không thể gộp một vấn đề vào chính nó.")
        into, other = self._issue(into_id, principal), self._issue(from_id, principal)
        if into["status"] != OPEN or other["status"] != OPEN:
            raise Conflict("only open issues can be merged")
        now = self.clock()
        moved = self.store.issues.update_one(
            {"_id": from_id, "status": OPEN},
            {"$set": {"status": "merged", "merged_into": into_id, "updated_at": now},
             "$inc": {"version": 1}})
        if not moved.matched_count:
            raise Conflict("the issue changed meanwhile")
        self.store.centroids.update_one(
            {"_id": from_id}, {"$set": {"status": "merged", "slot": _slot(now),
                                        "updated_at": now}, "$inc": {"cv": 1}})
        ids = [p["_id"] for p in self.store.petitions.find({"issue_id": from_id}, {"_id": 1})]
        self.store.petitions.update_many({"issue_id": from_id},
                                         {"$set": {"issue_id": into_id, "updated_at": now}})
        with self._lock:
            self._forget(from_id)
        issue = self._rebuild_issue(into_id, now)
        all_ids = [p["_id"] for p in self.store.petitions.find({"issue_id": into_id},
                                                                {"_id": 1})]
        event = self._event("issue.merged", into_id, {
            "issue_id": into_id, "merged_issue_id": from_id, "petition_ids": all_ids,
            "locality": issue["locality"], "category": issue["category"],
            "title": issue["title"], "petition_count": issue["petition_count"],
            "distinct_petitioners": issue["distinct_petitioners"], "heat": issue["heat"],
            "issue_version": issue["version"]}, now)
        self.store.issues.update_one({"_id": into_id}, stage({}, [event], now))
        self.outbox.flush(self.store.issues, into_id)
        self.kit.audit.record(principal, "issue.merge", "issue", into_id,
                              {"merged_issue_id": from_id, "moved_petitions": ids})
        return self.issue_view(issue)

    def split(self, issue_id: str, petition_ids: list[str],
              principal: Principal) -> dict[str, Any]:
        """Move some petitions of an issue into a new issue of their own."""
        issue = self._issue(issue_id, principal)
        if issue["status"] != OPEN:
            raise Conflict("only an open issue can be split")
        wanted = list(dict.fromkeys(petition_ids))
        members = list(self.store.petitions.find({"_id": {"$in": wanted}, "issue_id": issue_id},
                                                 {"outbox": 0}).sort("created_at", 1))
        if len(members) != len(wanted):
            raise Invalid("petition_ids", "every petition must belong to this issue",
                          detail_vi="Các kiến nghị được chọn phải thuộc vấn đề này.")
        if len(members) >= issue["petition_count"]:
            raise Invalid("petition_ids", "leave at least one petition in the issue",
                          detail_vi="Phải giữ lại ít nhất một kiến nghị trong vấn đề.")
        now = self.clock()
        new_id = str(uuid.uuid4())
        self._new_issue(new_id, {**members[0], "locality": issue["locality"],
                                 "category": issue["category"]}, now, split_from=issue_id)
        self.store.petitions.update_many({"_id": {"$in": wanted}, "issue_id": issue_id},
                                         {"$set": {"issue_id": new_id, "updated_at": now}})
        self._rebuild_issue(issue_id, now)
        created = self._rebuild_issue(new_id, now)
        for p in members:
            event = self._event("petition.grouped", p["_id"], {
                **self._ref({**p, "issue_id": new_id}), **self._snapshot(created),
                "similarity": None}, now)
            self.store.petitions.update_one({"_id": p["_id"]}, stage({}, [event], now))
            self.outbox.flush(self.store.petitions, p["_id"])
        self.kit.audit.record(principal, "issue.split", "issue", issue_id,
                              {"new_issue_id": new_id, "petition_ids": wanted})
        return self.issue_view(created)

    # --- consumed events ---------------------------------------------------------------------
    def on_submitted(self, event: Event) -> None:
        """``petition.submitted`` from an external channel: same checks as HTTP."""
        d = event.data
        payload: dict[str, Any] = {k: d.get(k) for k in (
            "kind", "title", "content", "category", "locality", "channel", "attachments")}
        if d.get("petitioner_token"):
            try:
                payload["petitioner"] = unseal(self.settings.intake_private_keys,
                                               d["petitioner_token"])
            except CryptoError as exc:
                raise Rejected(f"petitioner_token: {exc}") from None
        elif d.get("petitioner"):
            payload["petitioner"] = d["petitioner"]
        try:
            data = PetitionIn().load(payload)
        except ValidationError as exc:
            raise Rejected(f"invalid submission: {exc.messages}") from None
        try:
            self.submit(data, external=(d["source_system"], d["external_ref"]), cause=event)
        except Invalid as exc:
            raise Rejected(f"invalid submission: {exc.extra.get('errors')}") from None

    def _linked(self, event: Event, action: str, make: Any, **kwargs: Any) -> None:
        for pid in event.data.get("petition_ids") or []:
            doc = self.store.petitions.find_one({"_id": pid}, {"outbox": 0})
            if doc is None:
                log.warning("commitment names an unknown petition",
                            extra={"petition_id": pid, "event_id": event.id})
                continue
            if event.id in doc.get("events_seen", []):
                continue  # a replay
            allowed, _ = domain.TRANSITIONS[action]
            if doc["status"] not in allowed:
                log.info("petition not in a state for this event",
                         extra={"petition_id": pid, "status": doc["status"],
                                "event_type": event.type})
                continue
            now = self.clock()
            self._apply(doc, action, events=make(doc, now), cause=event,
                        **{k: (v(doc, now) if callable(v) else v) for k, v in kwargs.items()})

    def on_commitment_assigned(self, event: Event) -> None:
        d = event.data
        self._linked(event, "assign", lambda doc, now: [self._event(
            "petition.assigned", doc["_id"], {
                **self._ref(doc), "commitment_id": d["commitment_id"],
                "agency_id": d["agency_id"], "deadline": d.get("deadline")}, now, event)],
            set_={"commitment_id": d["commitment_id"], "agency_id": d["agency_id"]},
            note="Đã giao cơ quan giải quyết")

    def on_commitment_resolved(self, event: Event) -> None:
        d = event.data
        answer = {"text": d["answer"], "at": d["resolved_at"], "commitment_id": d["commitment_id"]}
        self._linked(event, "answer", lambda doc, now: [self._event(
            "petition.answered", doc["_id"], {
                **self._ref(doc), "answer": d["answer"], "commitment_id": d["commitment_id"],
                "answered_at": d["resolved_at"], "contact": doc["contact"]}, now, event)],
            set_=lambda doc, now: {"answer": answer, "answered_at": now,
                                   "commitment_id": d["commitment_id"]})

    def on_commitment_reopened(self, event: Event) -> None:
        d = event.data
        self._linked(event, "resume", lambda doc, now: [self._event(
            "petition.reopened", doc["_id"], {**self._ref(doc), "reason": d["note"]},
            now, event)], note=d["note"])
