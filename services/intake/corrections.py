"""Officers' corrections of a petition's legal footing: its kind (with instance,
complexity and area) and a denunciation's extensions. The deadline follows.

Kept apart from ``service.py`` so that it is a small, additive piece: it uses only
the service's lookups (``_officer_doc``, ``summary``) and its store and audit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.auth import Principal
from services.common.clock import from_mongo
from services.common.errors import Conflict
from services.intake import deadlines, domain


def _start(doc: dict[str, Any]) -> datetime:
    """Deadlines run from acceptance (thụ lý), or from receipt before it."""
    return from_mongo(doc.get("accepted_at")) or from_mongo(doc["created_at"])


def basis_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {"instance": 1, "complex": False, "remote": False, "extensions": [],
            **(doc.get("deadline_basis") or {})}


def recompute(doc: dict[str, Any], kind: str, basis: dict[str, Any]) -> dict[str, Any]:
    """The fields that change: deadline, acceptance limit, and the figure's source."""
    province = doc.get("province_code") or doc["locality"]["province_code"]
    start = _start(doc)
    due = deadlines.due(kind, start, province=province, instance=basis["instance"],
                        complex_=basis["complex"], remote=basis["remote"],
                        extensions=len(basis["extensions"]))
    key = deadlines.key_of(kind, instance=basis["instance"], complex_=basis["complex"],
                           remote=basis["remote"])
    accept_by = deadlines.acceptance_due(kind, from_mongo(doc["created_at"]), province)
    return {"due_date": due.isoformat(),
            "accept_by": accept_by.isoformat() if accept_by else None,
            "deadline_source": deadlines.figure(key, province).source,
            "deadline_basis": basis}


def correct_kind(svc: Any, ref: str, principal: Principal, data: dict[str, Any]) -> dict:
    """An officer sets the petition's kind (and instance, complexity, area)."""
    doc = svc._officer_doc(ref, principal)
    allowed, _ = domain.transition(doc["status"], "reclassify")
    basis = basis_of(doc)
    for name in ("instance", "complex", "remote"):
        if data.get(name) is not None:
            basis[name] = data[name]
    kind = data["kind"]
    if kind != "denunciation":
        basis["extensions"] = []
    now = svc.clock()
    changes = recompute(doc, kind, basis)
    result = svc.store.petitions.update_one(
        {"_id": doc["_id"], "status": {"$in": list(allowed)}, "kind": doc["kind"]},
        {"$set": {"kind": kind, **changes, "updated_at": now},
         "$push": {"kind_history": {"at": now, "from": doc["kind"], "to": kind,
                                    "by": principal.sub, "note": data.get("note")}}})
    if not result.matched_count:
        raise Conflict("the petition changed meanwhile; reload it",
                       detail_vi="Đơn vừa được người khác cập nhật, vui lòng tải lại.")
    svc.kit.audit.record(principal, "petition.correct_kind", "petition", doc["_id"],
                         {"from": doc["kind"], "to": kind, "note": data.get("note"),
                          **{k: basis[k] for k in ("instance", "complex", "remote")}})
    return view(svc.summary(svc._find(doc["_id"])), svc._find(doc["_id"]))


def extend(svc: Any, ref: str, principal: Principal, reason: str) -> dict:
    """One more 30-day period for a denunciation (at most two), with its reason."""
    doc = svc._officer_doc(ref, principal)
    allowed, _ = domain.transition(doc["status"], "reclassify")
    basis = basis_of(doc)
    deadlines.check_extension(doc["kind"], basis["extensions"], reason)
    now = svc.clock()
    basis["extensions"] = [*basis["extensions"], {"at": now, "reason": reason.strip(),
                                                  "by": principal.sub}]
    changes = recompute(doc, doc["kind"], basis)
    result = svc.store.petitions.update_one(
        # each extension moves the deadline: a concurrent one finds it moved
        {"_id": doc["_id"], "status": {"$in": list(allowed)}, "kind": doc["kind"],
         "due_date": doc.get("due_date")},
        {"$set": {**changes, "updated_at": now}})
    if not result.matched_count:
        raise Conflict("the petition changed meanwhile; reload it",
                       detail_vi="Đơn vừa được người khác cập nhật, vui lòng tải lại.")
    svc.kit.audit.record(principal, "petition.extend", "petition", doc["_id"],
                         {"reason": reason, "extension": len(basis["extensions"])})
    return view(svc.summary(svc._find(doc["_id"])), svc._find(doc["_id"]))


def view(summary: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    basis = basis_of(doc)
    return {**summary, "accept_by": doc.get("accept_by"),
            "deadline_source": doc.get("deadline_source"),
            "instance": basis["instance"], "complex": basis["complex"],
            "remote": basis["remote"],
            "extensions": [{"at": e["at"], "reason": e["reason"]} for e in basis["extensions"]]}
