"""Read views, straight from the collection: lists, details, reports, the public page."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.clock import from_mongo, vn_date
from services.common.errors import NotFound
from services.followup.domain import ACTIVE, OUTCOME_VI, RESOLVED, STATUS_VI
from services.followup.store import Store

_HISTORY_KEYS = ("at", "action", "by")


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    deadline = date.fromisoformat(doc["deadline"])
    resolution = doc.get("resolution")
    if resolution:
        resolution = {**resolution, "outcome_vi": OUTCOME_VI.get(resolution["outcome"])}
    return {
        "id": doc["_id"], "conclusion_id": doc["conclusion_id"],
        "dialogue_id": doc["dialogue_id"], "notice_number": doc.get("notice_number"),
        "text": doc["text"], "agency_id": doc["agency_id"],
        "coordinating_agency_ids": doc.get("coordinating_agency_ids") or [],
        "deadline": deadline, "deadline_vn": vn_date(deadline), "locality": doc["locality"],
        "petition_ids": doc.get("petition_ids") or [], "status": doc["status"],
        "status_vi": STATUS_VI[doc["status"]], "percent": doc.get("percent", 0),
        "overdue": doc.get("overdue", False), "escalation_level": doc.get("escalation_level", 0),
        "resolution": resolution, "assessment": doc.get("assessment"),
        "created_at": doc["created_at"], "updated_at": doc["updated_at"],
    }


def detail(doc: dict[str, Any]) -> dict[str, Any]:
    history = [{"at": h["at"], "action": h["action"], "by": h["by"],
                "details": {k: v for k, v in h.items() if k not in _HISTORY_KEYS}}
               for h in doc.get("history") or []]
    return {**summary(doc), "progress": doc.get("progress") or [], "history": history}


def list_query(args: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name in ("agency_id", "dialogue_id", "status", "overdue"):
        if name in args:
            query[name] = args[name]
    for name in ("province_code", "ward_code"):  # top-level copies of the locality's
        if name in args:
            query[name] = args[name]
    query.update(deadline_range(args.get("due_from"), args.get("due_to")))
    return both(query, scope)


def both(*parts: dict[str, Any]) -> dict[str, Any]:
    """The conjunction of filters (empty ones left out), as one flat filter unless two
    of them disagree on a field: FerretDB pushes no $and down, it scans."""
    merged: dict[str, Any] = {}
    for part in parts:
        if any(merged[k] != v for k, v in part.items() if k in merged):
            return {"$and": [p for p in parts if p]}
        merged.update(part)
    return merged


def deadline_range(start, end) -> dict[str, Any]:
    """Deadlines are stored as ISO dates, which sort as text."""
    bounds = {}
    if start:
        bounds["$gte"] = start.isoformat()
    if end:
        bounds["$lte"] = end.isoformat()
    return {"deadline": bounds} if bounds else {}


def _empty() -> dict[str, int]:
    return {"resolved_on_time": 0, "resolved_late": 0, "open": 0, "overdue": 0, "total": 0}


def report(store: Store, query: dict[str, Any]) -> dict[str, Any]:
    """Resolved on time / late, open and overdue, by agency and by dialogue."""
    totals = _empty()
    agencies: dict[str, dict[str, Any]] = {}
    dialogues: dict[str, dict[str, Any]] = {}
    for dialogue_id, agency_id, state, n in store.report_rows(query):
        for row in (agencies.setdefault(agency_id, {"agency_id": agency_id, **_empty()}),
                    dialogues.setdefault(dialogue_id, {"dialogue_id": dialogue_id, **_empty()}),
                    totals):
            row[state] += n
            row["total"] += n
    return {"totals": totals,
            "by_agency": sorted(agencies.values(), key=lambda r: r["agency_id"]),
            "by_dialogue": sorted(dialogues.values(), key=lambda r: r["dialogue_id"])}


def accountability(store: Store, dialogue_id: str) -> dict[str, Any]:
    """What was promised at a dialogue and what was done: no names, no petitions."""
    docs = store.of_dialogue(dialogue_id)
    if not docs:
        raise NotFound(f"no commitments for dialogue {dialogue_id}",
                       detail_vi="Chưa có kết luận nào của buổi đối thoại này.")
    items = []
    for doc in docs:
        s = summary(doc)
        resolution = doc.get("resolution") if doc["status"] == RESOLVED else None
        progress = doc.get("progress") or []
        items.append({
            "conclusion_id": s["conclusion_id"], "text": s["text"], "agency_id": s["agency_id"],
            "deadline": s["deadline"], "deadline_vn": s["deadline_vn"], "status": s["status"],
            "status_vi": s["status_vi"], "percent": s["percent"], "overdue": s["overdue"],
            "last_progress_at": from_mongo(progress[-1]["at"]) if progress else None,
            "answer": resolution["answer"] if resolution else None,
            "outcome": resolution["outcome"] if resolution else None,
            "outcome_vi": OUTCOME_VI.get(resolution["outcome"]) if resolution else None,
            "resolved_at": resolution["resolved_at"] if resolution else None,
            "on_time": resolution["on_time"] if resolution else None,
        })
    return {"dialogue_id": dialogue_id, "notice_number": docs[0].get("notice_number"),
            "total": len(items),
            "resolved": sum(1 for i in items if i["status"] == RESOLVED),
            "overdue": sum(1 for i in items if i["overdue"] and i["status"] in ACTIVE),
            "commitments": items}
