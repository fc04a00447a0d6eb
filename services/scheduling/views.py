"""The reads of the scheduling service: dialogues, programmes, agenda candidates,
compliance and reports, within the caller's locality scope. Nothing here writes."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.auth import Principal
from services.common.clock import aware, start_of_vn_day, vn_today
from services.common.errors import Invalid
from services.common.localities import UnknownLocality, ward, wards_of
from services.scheduling import domain, notices
from services.scheduling.base import UseCase, checked_locality
from services.scheduling.voters import Voters


def _unit_name(code: str) -> str:
    try:
        return ward(code).name if len(code) == 5 else ""
    except UnknownLocality:
        return ""


def candidate(doc: dict[str, Any], open_ids: list[str]) -> dict[str, Any]:
    """One row of the agenda candidates: an issue's snapshot and its open petitions."""
    return {
        "issue_id": doc["_id"], "title": doc.get("title"),
        "category": doc.get("category"), "locality": doc["locality"],
        "heat": doc.get("heat", 0.0), "trending": bool(doc.get("trending")),
        "petition_count": doc.get("petition_count", len(open_ids)),
        "open_petition_count": len(open_ids),
        "distinct_petitioners": doc.get("distinct_petitioners", 0),
        "petition_ids": sorted(open_ids), "issue_version": doc.get("issue_version", 0),
    }


class Views(UseCase):
    def __init__(self, *args: Any, voters: Voters, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.voters = voters

    def dialogue(self, who: Principal, dialogue_id: str) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        if doc.get("state") == domain.HELD and doc.get("held_at"):
            doc["results_overdue"] = notices.results_overdue(aware(doc["held_at"]), self.now)
        return doc

    def list_dialogues(self, who: Principal, args: dict[str, Any]) -> tuple[list, int]:
        query = scoped(who, args)
        for name in ("state", "kind", "form", "level"):
            if args.get(name):
                query[name] = args[name]
        window: dict[str, Any] = {}
        if args.get("from_"):
            window["$gte"] = start_of_vn_day(args["from_"])
        if args.get("to"):
            window["$lt"] = start_of_vn_day(date.fromordinal(args["to"].toordinal() + 1))
        if window:
            query["starts_at"] = window
        return self.store.find_dialogues(query, args["page"], args["page_size"])

    def candidates(self, who: Principal, province_code: str | None,
                   ward_code: str | None) -> list[dict[str, Any]]:
        if ward_code and not province_code:
            try:
                province_code = ward(ward_code).province_code
            except UnknownLocality as exc:
                raise Invalid("ward_code", str(exc)) from None
        if not province_code:
            raise Invalid("province_code", "give ward_code or province_code",
                          detail_vi="Cần nêu xã, phường hoặc tỉnh.")
        locality = checked_locality({"province_code": province_code, "ward_code": ward_code})
        if who.ward_code and not ward_code:
            locality["ward_code"] = who.ward_code  # a commune officer sees their commune
        who.require_scope(locality["province_code"], locality["ward_code"])
        issues = [doc for doc in self.store.candidates(locality) if doc.get("locality")]
        members = self.store.open_petitions([doc["_id"] for doc in issues])
        return [candidate(doc, members[doc["_id"]]) for doc in issues if members.get(doc["_id"])]

    def suggest(self, who: Principal, dialogue_id: str,
                limit: int | None) -> list[dict[str, Any]]:
        """The hottest open issues of the dialogue's locality not yet on its agenda."""
        doc = self.load(who, dialogue_id)
        domain.check_editable(doc["state"])
        taken = {i.get("issue_id") for i in doc["agenda"]}
        found = self.candidates(who, doc["locality"]["province_code"],
                                doc["locality"].get("ward_code"))
        limit = limit or self.settings.suggest_limit
        return [{"title": c["title"], "issue_id": c["issue_id"], "petition_ids": c["petition_ids"],
                 "heat": c["heat"], "trending": c["trending"],
                 "open_petition_count": c["open_petition_count"]}
                for c in found if c["issue_id"] not in taken][:limit]

    def list_programmes(self, who: Principal, args: dict[str, Any]) -> tuple[list, int]:
        query = scoped(who, args)
        if args.get("year"):
            query["year"] = args["year"]
        return self.store.find_programmes(query, args["page"], args["page_size"])

    def compliance(self, who: Principal, province_code: str, year: int) -> dict[str, Any]:
        checked_locality({"province_code": province_code})
        held = self.store.held_per_ward(province_code, year, domain.NOT_COUNTED_FORMS)
        party = self.store.held_per_ward(province_code, year, None, (domain.PARTY_HEAD,))
        late = self.store.late_per_ward(province_code, year)
        overdue: dict[str, int] = {}  # held with no conclusion notice 10 days on
        for held_doc in self.store.held_unconcluded(province_code, year):
            if notices.results_overdue(held_doc["held_at"], self.now):
                overdue[held_doc["ward_code"]] = overdue.get(held_doc["ward_code"], 0) + 1
        outstanding: dict[str, int] = {}
        for tally in self.store.required_tallies(province_code, year):
            if not self.store.held_since(tally["ward_code"], tally["required_at"]):
                outstanding[tally["ward_code"]] = 1
        counts = self.voters.of_province(province_code)
        rows = []
        for unit in wards_of(province_code):
            if who.ward_code and unit.code != who.ward_code:
                continue
            count = held.get(unit.code, 0)
            voters = counts.get(unit.code)
            rows.append({"ward_code": unit.code, "name": unit.name, "kind": unit.kind,
                         "dialogues_held": count, "annual_minimum_met": count >= 1,
                         "required_outstanding": outstanding.get(unit.code, 0),
                         "late_notices": late.get(unit.code, 0),
                         "late_notices_url": f"/api/v1/notices?province_code={province_code}"
                                             f"&ward_code={unit.code}&year={year}&late=true",
                         "results_overdue": overdue.get(unit.code, 0),
                         "party_dialogues_held": party.get(unit.code, 0),
                         "voter_count": voters.voters if voters else None,
                         "voter_count_source": voters.source if voters else None,
                         "voter_count_as_of": voters.as_of if voters else None,
                         "voter_count_missing": voters is None})
        return {"province_code": province_code, "year": year, "total": len(rows),
                "units_below_minimum": sum(1 for r in rows if not r["annual_minimum_met"]),
                "voter_counts_missing": sum(1 for r in rows if r["voter_count_missing"]),
                "items": rows}

    def report(self, who: Principal, province_code: str, start: date | None,
               end: date | None) -> dict[str, Any]:
        checked_locality({"province_code": province_code})
        start = start or date(1945, 9, 2)
        end = end or vn_today(self.now)
        if end < start:
            raise Invalid("to", "must not be before from", detail_vi="Khoảng thời gian sai.")
        rows = []
        after = start_of_vn_day(date.fromordinal(end.toordinal() + 1))
        for row in self.store.dialogue_counts(province_code, start_of_vn_day(start), after):
            unit = row["_id"]["unit"]
            if who.ward_code and unit != who.ward_code:
                continue
            rows.append({"unit_code": unit,
                         "unit_name": _unit_name(unit) or ("Cấp tỉnh" if unit == province_code
                                                           else ""),
                         "level": row["_id"]["level"], "kind": row["_id"]["kind"],
                         "count": row["n"]})
        rows.sort(key=lambda r: (r["unit_code"], r["level"], r["kind"]))
        return {"province_code": province_code, "from_": start, "to": end,
                "total": sum(r["count"] for r in rows), "items": rows}



def scoped(who: Principal, args: dict[str, Any]) -> dict[str, Any]:
    """The caller's area narrowed by the filter (the API has already refused a filter
    outside it with the kit's scope rule, ``check_filter``)."""
    query: dict[str, Any] = who.scope_filter("locality.")
    for name in ("province_code", "ward_code"):
        if args.get(name):
            query[f"locality.{name}"] = args[name]
    return query
