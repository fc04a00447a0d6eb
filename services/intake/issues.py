"""Officers reshaping issues: merging two issues, splitting petitions off into a new one."""

from __future__ import annotations

import uuid
from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict, Invalid
from services.common.outbox import stage
from services.intake import views
from services.intake.context import Context
from services.intake.grouping import Grouping, new_issue, snapshot
from services.intake.store import OPEN
from services.intake.views import Reads, ref


class Issues:
    def __init__(self, ctx: Context, reads: Reads, grouping: Grouping) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.reads = reads
        self.grouping = grouping

    def merge(self, into_id: str, from_id: str, principal: Principal) -> dict[str, Any]:
        """Fold issue ``from_id`` into ``into_id``: its petitions move, it is marked merged."""
        if into_id == from_id:
            raise Invalid("issue_id", "cannot merge an issue into itself",
                          detail_vi="Không thể gộp một vấn đề vào chính nó.")
        into = self.reads.issue(into_id, principal)
        other = self.reads.issue(from_id, principal)
        if into["status"] != OPEN or other["status"] != OPEN:
            raise Conflict("only open issues can be merged")
        now = self.ctx.clock()
        if not self.store.change_issue(
                {"_id": from_id, "status": OPEN},
                {"$set": {"status": "merged", "merged_into": into_id, "updated_at": now},
                 "$inc": {"version": 1}}):
            raise Conflict("the issue changed meanwhile")
        self.store.change_centroid({"_id": from_id}, {"status": "merged"}, now)
        ids = self.store.member_ids(from_id)
        self.store.move_petitions({"issue_id": from_id}, into_id, now)
        self.grouping.forget(from_id)
        issue = self.grouping.rebuild_issue(into_id, now)
        event = self.ctx.event("issue.merged", into_id, {
            "issue_id": into_id, "merged_issue_id": from_id,
            "petition_ids": self.store.member_ids(into_id),
            "locality": issue["locality"], "category": issue["category"],
            "title": issue["title"], "petition_count": issue["petition_count"],
            "distinct_petitioners": issue["distinct_petitioners"], "heat": issue["heat"],
            "issue_version": issue["version"]}, now)
        self.store.change_issue({"_id": into_id}, stage({}, [event], now))
        self.ctx.outbox.flush(self.store.issues, into_id)
        self.ctx.audit.record(principal, "issue.merge", "issue", into_id,
                              {"merged_issue_id": from_id, "moved_petitions": ids})
        return views.issue(issue)

    def split(self, issue_id: str, petition_ids: list[str],
              principal: Principal) -> dict[str, Any]:
        """Move some petitions of an issue into a new issue of their own."""
        issue = self.reads.issue(issue_id, principal)
        if issue["status"] != OPEN:
            raise Conflict("only an open issue can be split")
        wanted = list(dict.fromkeys(petition_ids))
        members = self.store.petitions_of(wanted, issue_id)
        if len(members) != len(wanted):
            raise Invalid("petition_ids", "every petition must belong to this issue",
                          detail_vi="Các đơn được chọn phải thuộc vấn đề này.")
        if len(members) >= issue["petition_count"]:
            raise Invalid("petition_ids", "leave at least one petition in the issue",
                          detail_vi="Phải giữ lại ít nhất một đơn trong vấn đề.")
        now = self.ctx.clock()
        new_id = str(uuid.uuid4())
        self.store.insert_issue(new_issue(new_id, {**members[0], "locality": issue["locality"],
                                                   "category": issue["category"]},
                                          now, split_from=issue_id))
        self.store.move_petitions({"_id": {"$in": wanted}, "issue_id": issue_id}, new_id, now)
        self.grouping.rebuild_issue(issue_id, now)
        created = self.grouping.rebuild_issue(new_id, now)
        for p in members:
            event = self.ctx.event("petition.grouped", p["_id"], {
                **ref({**p, "issue_id": new_id}), **snapshot(created), "similarity": None},
                now)
            self.store.change_petition({"_id": p["_id"]}, stage({}, [event], now))
            self.ctx.outbox.flush(self.store.petitions, p["_id"])
        self.ctx.audit.record(principal, "issue.split", "issue", issue_id,
                              {"new_issue_id": new_id, "petition_ids": wanted})
        return views.issue(created)
