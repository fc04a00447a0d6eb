"""Reads of petitions and issues: look-ups, the citizen's and officer's views, lists.

The view functions turn stored documents into what the API's schemas serialise;
``Reads`` holds the look-ups and lists, every query going through the store.
"""

from __future__ import annotations

import hmac
import itertools
import re
from datetime import UTC, date
from typing import Any

from services.common import paging
from services.common.auth import Principal
from services.common.errors import Invalid, NotFound
from services.common.text import fold, words
from services.intake import domain
from services.intake.context import Context
from services.intake.deadlines import basis_of

FIRST_DAY = "petitions.first_day"
MAX_BAND = "issues.max_band"
NOT_FOUND_VI = "Không tìm thấy đơn với mã tra cứu và thông tin xác minh này."


def day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def ref(doc: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """What every petition event carries; ``status``: the one the change leads to (the
    petition's own when it keeps it), so no consumer infers intake's state machine."""
    return {"petition_id": doc["_id"], "tracking_code": doc["tracking_code"],
            "status": status or doc["status"], "locality": doc["locality"],
            "category": doc.get("category"), "issue_id": doc.get("issue_id")}


def history(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**h, "status_vi": domain.STATUS_VI[h["status"]]} for h in doc.get("history", [])]


def created(doc: dict[str, Any]) -> dict[str, Any]:
    """The answer to a submission: no ``issue_id`` (grouping follows off the request)."""
    return {"id": doc["_id"], "tracking_code": doc["tracking_code"], "status": doc["status"],
            "category": doc["category"], "due_date": day(doc.get("due_date")),
            "created_at": doc["created_at"]}


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {**{k: doc.get(k) for k in (
        "tracking_code", "kind", "title", "category", "status", "locality", "channel",
        "issue_id", "created_at", "masked_phone")},
        "id": doc["_id"], "due_date": day(doc.get("due_date"))}


def citizen(doc: dict[str, Any], category_names: dict[str, str]) -> dict[str, Any]:
    """What the holder of the tracking code sees: with the petition's id and its issue
    (null until grouped), which the portal's tracking page follows."""
    return {
        "id": doc["_id"], "issue_id": doc.get("issue_id"),
        "tracking_code": doc["tracking_code"], "status": doc["status"],
        "status_vi": domain.STATUS_VI[doc["status"]], "kind": doc["kind"],
        "title": doc["title"], "category": doc["category"],
        "category_name": category_names.get(doc["category"], doc["category"]),
        "locality": doc["locality"], "due_date": day(doc.get("due_date")),
        "created_at": doc["created_at"], "history": history(doc), "answer": doc.get("answer"),
    }


def officer(doc: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    return {**summary(doc), "content": doc["content"],
            "petitioner": {**person,
                           "consent_notifications": doc.get("consent_notifications", False)},
            "attachments": doc.get("attachments", []), "history": history(doc),
            **{k: doc.get(k) for k in ("answer", "submitted_by", "external_ref",
                                       "source_system", "reject_reason", "accepted_at")}}


def deadline(doc: dict[str, Any]) -> dict[str, Any]:
    """A petition's summary with its deadline's footing (kind corrections, extensions)."""
    basis = basis_of(doc)
    return {**summary(doc), "accept_by": doc.get("accept_by"),
            "deadline_source": doc.get("deadline_source"),
            "instance": basis["instance"], "complex": basis["complex"],
            "remote": basis["remote"],
            "extensions": [{"at": e["at"], "reason": e["reason"]} for e in basis["extensions"]]}


def issue(doc: dict[str, Any]) -> dict[str, Any]:
    return {**{k: doc.get(k) for k in (
        "title", "category", "locality", "status", "petition_count", "distinct_petitioners",
        "heat", "trending", "version", "merged_into", "created_at", "updated_at")},
        "id": doc["_id"]}


def pairs(found: list[str]) -> list[str]:
    """Adjacent words, so that a phrase narrows in the backend as much as it matches:
    a common word alone would bring every petition that has it."""
    return [f"{a} {b}" for a, b in itertools.pairwise(found)]


def _filters(query: dict[str, Any], args: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if args.get(name) is None or args.get(name) == "":
            continue
        if name in query and query[name] != args[name]:
            query[name] = {"$in": []}  # asks outside the scope: nothing
        else:
            query[name] = args[name]


class Reads:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store

    def find(self, ref_: str) -> dict[str, Any]:
        """A petition by tracking code or id."""
        try:
            code = domain.parse_code(ref_)
        except domain.BadCode:
            code = None
        doc = self.store.petition_by_code(code) if code else self.store.petition(ref_)
        if doc is None:
            raise NotFound(f"no petition {ref_}", detail_vi="Không tìm thấy đơn.")
        return doc

    def officer_doc(self, ref_: str, principal: Principal) -> dict[str, Any]:
        doc = self.find(ref_)
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
        doc = self.store.petition_by_code(code)
        keys = self.ctx.kit.keys
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
        return citizen(doc, self.ctx.taxonomy.names)

    def officer_view(self, ref_: str, principal: Principal) -> dict[str, Any]:
        doc = self.officer_doc(ref_, principal)
        person: dict[str, Any] = {}
        if doc.get("pii"):
            person = self.ctx.kit.keys.decrypt_json(doc["pii"], context=doc["_id"])
            # Reading personal data is itself an act the audit trail records.
            self.ctx.audit.record(principal, "petition.read_personal_data", "petition",
                                  doc["_id"])
        return officer(doc, person)

    def first_day(self) -> date:
        """The day of the oldest petition: where a newest-first walk ends."""
        value = self.store.bounds.value(FIRST_DAY)
        return date.fromisoformat(value) if value else self.ctx.clock().astimezone(UTC).date()

    def list_petitions(self, args: dict[str, Any], principal: Principal) -> dict[str, Any]:
        query: dict[str, Any] = dict(principal.scope_filter(""))
        _filters(query, args, ("province_code", "ward_code", "category", "kind", "status",
                               "issue_id"))
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
        now = self.ctx.clock()
        newest = min(now, args.get("received_to") or now)
        oldest = self.first_day()
        if args.get("received_from"):
            oldest = max(oldest, args["received_from"].astimezone(UTC).date())
        found, whole = paging.newest_first(
            self.store.find_petitions, query, newest=newest.astimezone(UTC).date(),
            oldest=oldest, need=page * size, key=lambda d: (d["created_at"], d["_id"]))
        return {"items": [summary(d) for d in found[(page - 1) * size:page * size]],
                "total": len(found), "total_exact": whole, "page": page, "page_size": size}

    def issue(self, issue_id: str, principal: Principal) -> dict[str, Any]:
        doc = self.store.issue(issue_id)
        if doc is None:
            raise NotFound(f"no issue {issue_id}", detail_vi="Không tìm thấy vấn đề.")
        principal.require_scope(doc["locality"]["province_code"],
                                doc["locality"].get("ward_code"))
        return doc

    def get_issue(self, issue_id: str, principal: Principal) -> dict[str, Any]:
        return issue(self.issue(issue_id, principal))

    def list_issues(self, args: dict[str, Any], principal: Principal) -> dict[str, Any]:
        query: dict[str, Any] = dict(principal.scope_filter(""))
        _filters(query, args, ("province_code", "ward_code", "category", "status", "trending"))
        sort = args["sort"]
        field, descending = sort.lstrip("-"), sort.startswith("-")
        page, size = args["page"], args["page_size"]
        need = page * size
        find = self.store.find_issues
        if sort == "-heat":  # the hottest first: the agenda's view, walked by heat band
            found, whole = paging.walk(
                find, query, paging.HEAT, top=self.store.bounds.value(MAX_BAND) or 0,
                bottom=0, need=need, key=lambda d: (d["heat"], paging.Desc(d["_id"])))
        elif sort == "-created_at":
            found, whole = paging.newest_first(
                find, query, newest=self.ctx.clock().astimezone(UTC).date(),
                oldest=self.first_day(), need=need,
                key=lambda d: (d["created_at"], paging.Desc(d["_id"])))
        else:  # rarer orders: every match, sorted here
            found = sorted(find(query), key=lambda d: (d[field], d["_id"]))
            if descending:
                found.sort(key=lambda d: d[field], reverse=True)  # stable: _id stays ascending
            whole = True
        return {"items": [issue(d) for d in found[(page - 1) * size:need]],
                "total": len(found), "total_exact": whole, "page": page, "page_size": size}

