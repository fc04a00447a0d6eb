"""Scheduling's agenda-candidate read model, fed by intake's events: ``issues`` holds
each issue's latest snapshot (by ``issue_version``) and whether it trends, was merged or
is on a held dialogue's agenda; ``petitions`` which issue each petition is in and
whether it still counts as open. A part of ``Store`` (services/scheduling/store.py).
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from services.common.mongo import bulk_write, insert_new

# What an issue document holds before its first snapshot.
ISSUE_DEFAULTS: dict[str, Any] = {"trending": False, "on_held_agenda": False}


def _insert_defaults(*except_: str) -> dict[str, Any]:
    """``$setOnInsert`` of an issue first seen by something other than its snapshot."""
    fields = {**ISSUE_DEFAULTS, "issue_version": 0, "merged_into": None}
    return {k: v for k, v in fields.items() if k not in except_}


class AgendaReadModel:
    issues: Collection
    petitions: Collection

    # ``issues`` holds each issue's latest snapshot (by ``issue_version``) and whether it
    # trends, was merged or is on a held dialogue's agenda; ``petitions`` which issue each
    # petition is in and whether it still counts as open. Consuming a petition event is
    # one or two writes and no read.

    def issue(self, issue_id: str) -> dict[str, Any] | None:
        return self.issues.find_one({"_id": issue_id})

    def take_snapshot(self, issue_id: str, version: int, fields: dict[str, Any]) -> bool:
        """Take a newer snapshot of an issue in one upsert; False if the one held is as new
        or newer, or the issue was merged (out-of-order delivery, replays).

        The filter matches only an older snapshot of a live issue; an unknown issue is
        inserted; a newer or merged one makes the upsert collide on ``_id``, which
        changes nothing."""
        query = {"_id": issue_id, "issue_version": {"$lt": version}, "merged_into": None}
        update = {"$set": {**fields, "issue_version": version},
                  "$setOnInsert": {k: v for k, v in ISSUE_DEFAULTS.items() if k not in fields}}
        try:
            self.issues.update_one(query, update, upsert=True)
            return True
        except DuplicateKeyError:
            # Or another consumer inserted the issue an instant ago, with an older
            # snapshot perhaps: once more, without inserting.
            return self.issues.update_one(query, update).matched_count == 1

    def set_trending(self, issue_id: str) -> None:
        self.issues.update_one({"_id": issue_id}, {"$set": {"trending": True},
                                                   "$setOnInsert": _insert_defaults("trending")},
                               upsert=True)

    def mark_merged(self, merged_id: str, into: str) -> dict[str, Any] | None:
        """Hide a merged issue; returns it as it was (None if unknown until now)."""
        return self.issues.find_one_and_update(
            {"_id": merged_id},
            {"$set": {"merged_into": into},
             "$setOnInsert": _insert_defaults("merged_into")},
            upsert=True, return_document=ReturnDocument.BEFORE)

    def put_petition(self, petition_id: str, fields: dict[str, Any],
                     on_insert: dict[str, Any] | None = None) -> None:
        update: dict[str, Any] = {"$set": fields}
        if on_insert:
            update["$setOnInsert"] = on_insert
        self.petitions.update_one({"_id": petition_id}, update, upsert=True)

    def move_petitions(self, petition_ids: list[str], from_issue: str, to_issue: str) -> None:
        self.petitions.update_many({"_id": {"$in": petition_ids}, "issue_id": from_issue},
                                   {"$set": {"issue_id": to_issue}})

    def move_members(self, from_issue: str, to_issue: str) -> None:
        """Every petition of a merged issue goes to the surviving one."""
        self.petitions.update_many({"issue_id": from_issue}, {"$set": {"issue_id": to_issue}})

    def add_unknown(self, petition_ids: list[str], issue_id: str) -> None:
        """Petitions named by an issue event before their own event came: open members of
        ``issue_id``. Known ones keep their issue and state (their own events decide)."""
        if petition_ids:
            self.petitions.bulk_write(
                [UpdateOne({"_id": p}, {"$setOnInsert": {"issue_id": issue_id, "open": True}},
                           upsert=True) for p in petition_ids], ordered=False)

    def mark_on_held_agenda(self, issue_ids: list[str], dialogue_id: str) -> None:
        if issue_ids:
            self.issues.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"on_held_agenda": True},
                                        "$addToSet": {"held_dialogue_ids": dialogue_id},
                                        "$setOnInsert": _insert_defaults("on_held_agenda")},
                           upsert=True) for i in issue_ids], ordered=False)

    def candidates(self, locality: dict[str, Any]) -> list[dict[str, Any]]:
        """Live issues of a locality not yet on a held agenda, hottest first."""
        query: dict[str, Any] = {"merged_into": None, "on_held_agenda": False,
                                 "locality.province_code": locality["province_code"]}
        if locality.get("ward_code"):
            query["locality.ward_code"] = locality["ward_code"]
        return list(self.issues.find(query).sort("heat", DESCENDING).limit(1000))

    def open_petitions(self, issue_ids: list[str]) -> dict[str, list[str]]:
        """The open petitions of each issue."""
        found: dict[str, list[str]] = {}
        if issue_ids:
            for doc in self.petitions.find({"issue_id": {"$in": issue_ids},
                                            "open": {"$ne": False}}, {"issue_id": 1}):
                found.setdefault(doc["issue_id"], []).append(doc["_id"])
        return found

    def upgrade(self) -> None:
        """Issues stored before petitions had a document of their own listed their members
        in arrays: give each listed petition its document, then drop the arrays."""
        for doc in self.issues.find({"petition_ids": {"$exists": True}},
                                    {"petition_ids": 1, "open_petition_ids": 1,
                                     "merged_into": 1}):
            target = doc.get("merged_into") or doc["_id"]
            still_open = set(doc.get("open_petition_ids") or [])
            ops = [UpdateOne({"_id": p}, {"$setOnInsert": {"issue_id": target,
                                                           "open": p in still_open}},
                             upsert=True) for p in doc.get("petition_ids") or []]
            if ops:
                self.petitions.bulk_write(ops, ordered=False)
            self.issues.update_one({"_id": doc["_id"]},
                                   {"$unset": {"petition_ids": "", "open_petition_ids": ""}})


    def put_petitions(self, items: list[tuple[str, dict[str, Any], dict[str, Any] | None]]
                      ) -> None:
        """``put_petition`` for several, in order: the petitions new here inserted in one
        command, the others (and a petition's later items) then updated, in order."""
        taken = insert_new(self.petitions, [
            {**(on_insert or {}), **fields, "_id": petition_id}
            for petition_id, fields, on_insert in items])
        ops = []
        for i in sorted(taken):
            petition_id, fields, on_insert = items[i]
            update: dict[str, Any] = {"$set": fields}
            if on_insert:
                update["$setOnInsert"] = on_insert
            ops.append(UpdateOne({"_id": petition_id}, update, upsert=True))
        bulk_write(self.petitions, ops, ordered=True)  # in chunks

    def take_snapshots(self, snapshots: dict[str, tuple[int, dict[str, Any]]]) -> list[str]:
        """``take_snapshot`` for several issues: the issues whose snapshot was not taken.

        One bulk update of the issues held with an older snapshot (no upsert: an upsert
        that collides fails the whole reply on FerretDB). When some did not match, one
        read tells which: a new issue is upserted on its own, as ``take_snapshot`` does;
        one held as new or newer, or merged, was not taken."""
        items = list(snapshots.items())
        found = bulk_write(self.issues, [  # in chunks (services/common/mongo.py)
            UpdateOne({"_id": issue_id, "issue_version": {"$lt": version},
                       "merged_into": None},
                      {"$set": {**fields, "issue_version": version}})
            for issue_id, (version, fields) in items], ordered=False)
        if found.matched_count == len(items):
            return []
        held = {d["_id"]: d for d in self.issues.find(
            {"_id": {"$in": [issue_id for issue_id, _ in items]}},
            {"issue_version": 1, "merged_into": 1})}
        missed = []
        for issue_id, (version, fields) in items:
            doc = held.get(issue_id)
            if doc is not None and doc.get("merged_into") is None \
                    and doc.get("issue_version") == version:
                continue  # taken (or as new already: the same for its petitions)
            older = doc is None or (doc.get("merged_into") is None
                                    and (doc.get("issue_version") or 0) < version)
            if not (older and self.take_snapshot(issue_id, version, fields)):
                missed.append(issue_id)
        return missed
