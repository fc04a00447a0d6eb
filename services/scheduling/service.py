"""The service layer: one method per command (HTTP request or consumed event).

Each command loads the aggregate, applies the domain rules, stores the new
state and its events in one conditional ``update_one`` (the outbox), publishes
at once, and records the change in the audit trail.

The host and venue clash check reads the announced dialogues and then writes;
it runs under a mutex per host and per venue (``services.common.mongo.mutex``),
so two officers announcing clashing dialogues at the same instant cannot both
succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from services.common import phones
from services.common.auth import Forbidden, Principal
from services.common.clock import VN_TZ, aware, from_mongo, vn_today
from services.common.crypto import seal
from services.common.errors import Conflict, Invalid, NotFound, TooManyRequests
from services.common.events import Event, new_event
from services.common.kafka import Rejected
from services.common.kit import Kit
from services.common.localities import UnknownLocality, validate, ward, wards_of
from services.common.mongo import LockTimeout, mutex
from services.common.outbox import Outbox
from services.common.ratelimit import RateLimiter
from services.common.text import nfc
from services.scheduling import domain
from services.scheduling.receptions import Receptions
from services.scheduling.settings import SchedulingSettings
from services.scheduling.store import Store
from services.scheduling.voters import CODE_ATTEMPTS, CODE_TTL, Voters, code_hash, code_matches
from services.scheduling.voters import new_code as new_otp

VIEWERS = ("front_officer", "secretariat", "host", "agency_officer", "auditor", "admin")
EDITORS = ("secretariat", "host", "admin")
REQUESTERS_ON_BEHALF = ("front_officer", "secretariat", "admin")


def _locality(data: dict[str, Any]) -> dict[str, Any]:
    found = {"province_code": data["province_code"], "ward_code": data.get("ward_code")}
    try:
        validate(found["province_code"], found["ward_code"])
    except UnknownLocality as exc:
        raise Invalid("locality", str(exc), detail_vi="Địa bàn không hợp lệ.") from None
    return found


def _unit_name(code: str) -> str:
    try:
        return ward(code).name if len(code) == 5 else ""
    except UnknownLocality:
        return ""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=VN_TZ).astimezone(UTC)


class Scheduling:
    # how long a command waits for a host's or venue's slot held by another command
    slot_wait = 10.0

    def __init__(self, kit: Kit, store: Store, outbox: Outbox,
                 settings: SchedulingSettings) -> None:
        self.kit = kit
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.voters = Voters(settings.voters_file, kit.db)
        self.receptions = Receptions(kit.db, kit.clock, kit.audit)
        self.limiter = RateLimiter(kit.db, settings.public_rate_limit, clock=kit.clock)

    @property
    def now(self) -> datetime:
        return aware(self.kit.clock())

    def _event(self, type_: str, subject: str, data: dict[str, Any],
               cause: Event | None = None) -> Event:
        return new_event(type_, subject, data, source=self.settings.service, cause=cause,
                         time=self.now)

    # --- dialogues -----------------------------------------------------------

    def create_dialogue(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        locality = _locality(data["locality"])
        who.require_scope(locality["province_code"], locality["ward_code"])
        domain.check_level(data["level"], locality["ward_code"])
        domain.check_times(data["starts_at"], data["ends_at"])
        domain.check_place(data["format"], data.get("venue"), data.get("online_url"))
        co_chairs = [{"name": nfc(c["name"]), "title": nfc(c["title"]),
                      "body": domain.body_of(c)} for c in data.get("co_chairs", [])]
        form = data.get("form") or domain.infer_form(data["level"], data["host"], co_chairs)
        domain.check_form(form, data["level"], co_chairs)
        now = self.now
        host = {"name": nfc(data["host"]["name"]), "title": nfc(data["host"]["title"])}
        venue = nfc(data["venue"]) if data.get("venue") else None
        doc = {
            "_id": str(uuid.uuid4()), "state": domain.DRAFT, "version": 1,
            "kind": data["kind"], "form": form, "level": data["level"], "locality": locality,
            "unit_code": locality["ward_code"] or locality["province_code"],
            "host": host, "host_key": domain.host_key(host),
            "co_chairs": co_chairs,
            "lead_agency_id": data["lead_agency_id"],
            "coordinating_agency_ids": list(dict.fromkeys(data.get("coordinating_agency_ids",
                                                                   []))),
            "format": data["format"], "venue": venue,
            "venue_key": domain.venue_key(venue, locality),
            "online_url": data.get("online_url"),
            "starts_at": aware(data["starts_at"]), "ends_at": aware(data["ends_at"]),
            "topic": nfc(data["topic"]), "agenda": [],
            "created_at": now, "created_by": who.sub, "updated_at": now,
        }
        with self._slot(doc):
            self._check_clash(doc)
            self.store.insert_dialogue(doc)
        self.kit.audit.record(who, "dialogue.create", "dialogue", doc["_id"],
                              {"kind": doc["kind"], "topic": doc["topic"]})
        return self.store.dialogue(doc["_id"])

    def dialogue(self, who: Principal, dialogue_id: str) -> dict[str, Any]:
        doc = self.store.dialogue(dialogue_id)
        if doc is None:
            raise NotFound(f"no dialogue {dialogue_id}",
                           detail_vi="Không tìm thấy cuộc đối thoại.")
        who.require_scope(doc["locality"]["province_code"], doc["locality"].get("ward_code"))
        return self._with_overdue(doc)

    def _with_overdue(self, doc: dict[str, Any]) -> dict[str, Any]:
        if doc.get("state") == domain.HELD and doc.get("held_at"):
            doc["results_overdue"] = domain.results_overdue(aware(doc["held_at"]), self.now)
        return doc

    def list_dialogues(self, who: Principal, args: dict[str, Any]) -> tuple[list, int]:
        query: dict[str, Any] = who.scope_filter("locality.")
        if args.get("province_code"):
            if "locality.province_code" in query and \
                    query["locality.province_code"] != args["province_code"]:
                raise Forbidden("outside your locality scope")
            query["locality.province_code"] = args["province_code"]
        if args.get("ward_code"):
            if "locality.ward_code" in query and query["locality.ward_code"] != args["ward_code"]:
                raise Forbidden("outside your locality scope")
            query["locality.ward_code"] = args["ward_code"]
        for name in ("state", "kind", "form", "level"):
            if args.get(name):
                query[name] = args[name]
        window: dict[str, Any] = {}
        if args.get("from_"):
            window["$gte"] = _day_start(args["from_"])
        if args.get("to"):
            window["$lt"] = _day_start(date.fromordinal(args["to"].toordinal() + 1))
        if window:
            query["starts_at"] = window
        return self.store.find_dialogues(query, args["page"], args["page_size"])

    def _apply(self, who: Principal, doc: dict[str, Any], action: str,
               update: dict[str, Any], events: list[Event], details: dict[str, Any],
               states: tuple[str, ...] | None = None) -> dict[str, Any]:
        """One conditional update on (state, version); 409 and nothing changed otherwise."""
        now = self.now
        update.setdefault("$set", {})["updated_at"] = now
        update.setdefault("$inc", {})["version"] = 1
        states = states or domain.ALLOWED[action]
        if not self.store.transition(doc["_id"], states, update, events, now,
                                     {"version": doc["version"]}):
            fresh = self.store.dialogue(doc["_id"])
            if fresh is not None and fresh["state"] not in states:
                if action in domain.ALLOWED:
                    domain.check_transition(action, fresh["state"])
                domain.check_editable(fresh["state"])
            raise Conflict("the dialogue changed meanwhile; reload and try again",
                           detail_vi="Cuộc đối thoại vừa được người khác cập nhật, "
                                     "vui lòng tải lại.")
        if events:
            self.outbox.flush(self.store.dialogues, doc["_id"])
        self.kit.audit.record(who, f"dialogue.{action}", "dialogue", doc["_id"], details)
        return self.store.dialogue(doc["_id"])

    @contextmanager
    def _slot(self, doc: dict[str, Any]) -> Iterator[None]:
        """Held while a dialogue's slot is checked and taken: the host's and the venue's."""
        names = [f"dialogue-host|{doc['host_key']}"]
        if doc.get("venue_key"):
            names.append(f"dialogue-venue|{doc['venue_key']}")
        stack = ExitStack()
        try:
            stack.enter_context(mutex(self.kit.db, *names, timeout=self.slot_wait))
        except LockTimeout as exc:
            raise Conflict("another change to this host's or venue's dialogues is under way; "
                           "try again in a moment",
                           detail_vi="Lịch của người chủ trì hoặc địa điểm này đang được "
                                     "người khác cập nhật, vui lòng thử lại sau giây lát.") from exc
        with stack:
            yield

    def _check_clash(self, doc: dict[str, Any]) -> None:
        others = self.store.announced_between(
            doc["starts_at"], doc["ends_at"],
            {"host_key": doc["host_key"], "venue_key": doc.get("venue_key")})
        for other in sorted(others, key=lambda o: o["starts_at"]):
            found = domain.clash(doc, other)
            if found:
                domain.raise_clash(found, other)

    def _facts(self, doc: dict[str, Any]) -> dict[str, Any]:
        agenda = [{"item_id": i["item_id"], "title": i["title"], "issue_id": i.get("issue_id"),
                   "petition_ids": i.get("petition_ids", [])} for i in doc["agenda"]]
        petitions = list(dict.fromkeys(p for i in agenda for p in i["petition_ids"]))
        return {
            "dialogue_id": doc["_id"], "kind": doc["kind"], "level": doc["level"],
            "locality": doc["locality"], "host": doc["host"],
            "lead_agency_id": doc["lead_agency_id"],
            "coordinating_agency_ids": doc["coordinating_agency_ids"],
            "format": doc["format"], "venue": doc.get("venue"),
            "online_url": doc.get("online_url"), "starts_at": doc["starts_at"],
            "ends_at": doc["ends_at"], "topic": doc["topic"], "agenda": agenda,
            "petition_ids": petitions,
        }

    def announce(self, who: Principal, dialogue_id: str, reason: str | None) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_transition("announce", doc["state"])
        now = self.now
        domain.check_notice(doc["kind"], doc["starts_at"], now, reason)
        event = self._event("dialogue.announced", doc["_id"],
                            {**self._facts(doc), "announced_at": now, "reason": reason})
        with self._slot(doc):
            self._check_clash(doc)
            return self._apply(who, doc, "announce",
                               {"$set": {"state": domain.ANNOUNCED, "announced_at": now,
                                         "notice_reason": reason}},
                               [event], {"reason": reason})

    def reschedule(self, who: Principal, dialogue_id: str,
                   data: dict[str, Any]) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_transition("reschedule", doc["state"])
        now = self.now
        starts, ends = aware(data["starts_at"]), aware(data["ends_at"])
        domain.check_times(starts, ends)
        venue = nfc(data["venue"]) if data.get("venue") else doc.get("venue")
        online_url = data.get("online_url") or doc.get("online_url")
        domain.check_place(doc["format"], venue, online_url)
        domain.check_notice(doc["kind"], starts, now, data.get("reason"))
        moved = {**doc, "starts_at": starts, "ends_at": ends, "venue": venue,
                 "venue_key": domain.venue_key(venue, doc["locality"]), "online_url": online_url}
        event = self._event("dialogue.rescheduled", doc["_id"], {
            **self._facts(moved), "previous_starts_at": doc["starts_at"],
            "previous_venue": doc.get("venue"), "announced_at": now,
            "reason": data.get("reason")})
        with self._slot(moved):
            self._check_clash(moved)
            return self._apply(who, doc, "reschedule", {
                "$set": {"starts_at": starts, "ends_at": ends, "venue": venue,
                         "venue_key": moved["venue_key"], "online_url": online_url,
                         "announced_at": now, "notice_reason": data.get("reason")},
                "$push": {"reschedules": {"at": now, "by": who.sub,
                                          "previous_starts_at": doc["starts_at"],
                                          "previous_venue": doc.get("venue"),
                                          "reason": data.get("reason")}}},
                [event], {"starts_at": starts.isoformat(), "venue": venue})

    def cancel(self, who: Principal, dialogue_id: str, reason: str) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_transition("cancel", doc["state"])
        now = self.now
        events = []
        if doc["state"] == domain.ANNOUNCED:  # invitees of a draft were never told
            events.append(self._event("dialogue.cancelled", doc["_id"], {
                **self._facts(doc), "reason": reason, "cancelled_at": now}))
        return self._apply(who, doc, "cancel",
                           {"$set": {"state": domain.CANCELLED, "cancelled_at": now,
                                     "cancel_reason": reason}},
                           events, {"reason": reason})

    def hold(self, who: Principal, dialogue_id: str, data: dict[str, Any]) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_transition("hold", doc["state"])
        domain.check_hold(doc["starts_at"], self.now)
        attendance = data["attendance"]
        groups = sum(attendance.get(k, 0) for k in ("citizens", "front", "organisations",
                                                     "agencies"))
        if groups > attendance["total"]:
            raise Invalid("attendance.total", "is less than the sum of the groups",
                          detail_vi="Tổng số người dự nhỏ hơn tổng các thành phần.")
        items = {i["item_id"]: i for i in doc["agenda"]}
        discussed = data.get("discussed_item_ids")
        if discussed is None:
            discussed = list(items)
        unknown = [i for i in discussed if i not in items]
        if unknown:
            raise Invalid("discussed_item_ids", f"not on the agenda: {', '.join(unknown)}",
                          detail_vi="Có mục không thuộc chương trình đối thoại.")
        petitions = data.get("discussed_petition_ids")
        if petitions is None:
            petitions = [p for i in discussed for p in items[i].get("petition_ids", [])]
        petitions = list(dict.fromkeys(petitions))
        issue_ids = list(dict.fromkeys(i["issue_id"] for i in doc["agenda"] if i.get("issue_id")))
        held_at = doc["starts_at"]
        now = self.now
        event = self._event("dialogue.held", doc["_id"], {
            "dialogue_id": doc["_id"], "locality": doc["locality"], "held_at": held_at,
            "attendance": attendance, "discussed_item_ids": discussed,
            "discussed_petition_ids": petitions, "issue_ids": issue_ids})
        result = self._apply(who, doc, "hold", {"$set": {
            "state": domain.HELD, "held_at": held_at,
            "held_year": vn_today(held_at).year, "recorded_at": now,
            "attendance": attendance, "minutes": data.get("minutes"),
            "discussed_item_ids": discussed, "discussed_petition_ids": petitions}},
            [event], {"attendance": attendance})
        # Issues on a held dialogue's agenda leave the candidates list. A crash
        # right here leaves them listed; harmless, and the next hold repairs it.
        self.store.mark_on_held_agenda(issue_ids, doc["_id"])
        return result

    def conclude(self, who: Principal, dialogue_id: str, data: dict[str, Any]) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_transition("conclude", doc["state"])
        parsed = domain.parse_notice_number(data["notice_number"])
        number = parsed["number"]
        issued_at = aware(data["issued_at"])
        record = domain.issued_record(aware(doc["held_at"]), issued_at, self.now,
                                      data.get("issued_reason"))
        late = record["late"]
        conclusions = []
        for index, item in enumerate(data["conclusions"]):
            domain.check_conclusion(index, item)
            domain.check_commitment_deadline(index, item.get("deadline"), issued_at)
            conclusions.append({
                "conclusion_id": domain.conclusion_id(doc["_id"], index),
                "text": nfc(item["text"]),
                "responsible_agency_id": item["responsible_agency_id"],
                "coordinating_agency_ids": list(dict.fromkeys(
                    item.get("coordinating_agency_ids", []))),
                "deadline": item.get("deadline"), "working_days": item.get("working_days"),
                "petition_ids": list(dict.fromkeys(item.get("petition_ids", []))),
            })
        event = self._event("dialogue.concluded", doc["_id"], {
            "dialogue_id": doc["_id"], "locality": doc["locality"], "host": doc["host"],
            "topic": doc["topic"], "notice_number": number, "issued_at": issued_at,
            "signed_by": nfc(data["signed_by"]), "held_at": doc["held_at"], "late": late,
            "conclusions": conclusions})
        stored = [{**c, "deadline": c["deadline"].isoformat() if c["deadline"] else None}
                  for c in conclusions]  # BSON has no date type
        key = domain.notice_key(doc["unit_code"], parsed, issued_at)
        if not self.store.claim_notice_number(key, doc["_id"], self.now):
            raise Conflict(f"notice number {number} is already used by this body this year",
                           detail_vi=f"Số thông báo {number} đã được cơ quan này dùng "
                                     "trong năm.", notice_number=number)
        try:
            return self._apply(who, doc, "conclude", {"$set": {
                "state": domain.CONCLUDED, "late": late, "conclusions": stored,
                "notice": {"number": number, "issued_at": issued_at,
                           "signed_by": nfc(data["signed_by"]), "format": parsed["format"],
                           "key": key, "recorded_at": record["recorded_at"],
                           "issued_at_basis": record["issued_at_basis"],
                           "issued_reason": record["issued_reason"],
                           "late_declared": record["late_declared"]}}},
                [event], {"notice_number": number, "late": late, "conclusions": len(stored),
                          "issued_at_basis": record["issued_at_basis"]})
        except Exception:
            self.store.release_notice_number(key, doc["_id"])  # the number stays free
            raise

    # --- agenda --------------------------------------------------------------

    def add_agenda_item(self, who: Principal, dialogue_id: str,
                        data: dict[str, Any]) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_editable(doc["state"])
        item = {"item_id": str(uuid.uuid4()), "title": nfc(data["title"]),
                "issue_id": data.get("issue_id"),
                "petition_ids": list(dict.fromkeys(data.get("petition_ids", []))),
                "minutes_allotted": data.get("minutes_allotted")}
        return self._apply(who, doc, "agenda.add", {"$push": {"agenda": item}}, [],
                           {"item_id": item["item_id"], "title": item["title"]},
                           states=domain.EDITABLE)

    def remove_agenda_item(self, who: Principal, dialogue_id: str,
                           item_id: str) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_editable(doc["state"])
        if item_id not in {i["item_id"] for i in doc["agenda"]}:
            raise NotFound(f"no agenda item {item_id}", detail_vi="Không tìm thấy mục này.")
        # $set under the version filter rather than $pull: FerretDB 1.24 matches a
        # $pull condition on whole sub-documents only.
        kept = [i for i in doc["agenda"] if i["item_id"] != item_id]
        return self._apply(who, doc, "agenda.remove", {"$set": {"agenda": kept}}, [],
                           {"item_id": item_id}, states=domain.EDITABLE)

    def reorder_agenda(self, who: Principal, dialogue_id: str,
                       item_ids: list[str]) -> dict[str, Any]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_editable(doc["state"])
        domain.check_agenda_order([i["item_id"] for i in doc["agenda"]], item_ids)
        by_id = {i["item_id"]: i for i in doc["agenda"]}
        return self._apply(who, doc, "agenda.reorder",
                           {"$set": {"agenda": [by_id[i] for i in item_ids]}}, [],
                           {"item_ids": item_ids}, states=domain.EDITABLE)

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
        locality = _locality({"province_code": province_code, "ward_code": ward_code})
        if who.ward_code and not ward_code:
            locality["ward_code"] = who.ward_code  # a commune officer sees their commune
        who.require_scope(locality["province_code"], locality["ward_code"])
        found = []
        for doc in self.store.candidates(locality):
            open_ids = doc.get("open_petition_ids") or []
            if not open_ids or not doc.get("locality"):
                continue
            found.append({
                "issue_id": doc["_id"], "title": doc.get("title"),
                "category": doc.get("category"), "locality": doc["locality"],
                "heat": doc.get("heat", 0.0), "trending": bool(doc.get("trending")),
                "petition_count": doc.get("petition_count", len(doc.get("petition_ids", []))),
                "open_petition_count": len(open_ids),
                "distinct_petitioners": doc.get("distinct_petitioners", 0),
                "petition_ids": sorted(open_ids), "issue_version": doc.get("issue_version", 0),
            })
        return found

    def suggest_agenda(self, who: Principal, dialogue_id: str,
                       limit: int | None) -> list[dict[str, Any]]:
        doc = self.dialogue(who, dialogue_id)
        domain.check_editable(doc["state"])
        taken = {i.get("issue_id") for i in doc["agenda"]}
        found = self.candidates(who, doc["locality"]["province_code"],
                                doc["locality"].get("ward_code"))
        limit = limit or self.settings.suggest_limit
        return [{"title": c["title"], "issue_id": c["issue_id"], "petition_ids": c["petition_ids"],
                 "heat": c["heat"], "trending": c["trending"],
                 "open_petition_count": c["open_petition_count"]}
                for c in found if c["issue_id"] not in taken][:limit]

    # --- programmes ----------------------------------------------------------

    def create_programme(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        locality = _locality(data["locality"])
        who.require_scope(locality["province_code"], locality["ward_code"])
        for index, item in enumerate(data["items"]):
            if not item["period"].startswith(f"{data['year']}-"):
                raise Invalid(f"items.{index}.period", f"must fall in {data['year']}",
                              detail_vi="Thời gian phải thuộc năm của chương trình.")
        now = self.now
        doc = {"_id": str(uuid.uuid4()), "locality": locality, "year": data["year"],
               "title": nfc(data.get("title") or ""), "state": "draft",
               "items": [{"period": i["period"], "kind": i["kind"], "topic": nfc(i["topic"])}
                         for i in data["items"]],
               "created_at": now, "created_by": who.sub}
        self.store.insert_programme(doc)
        self.kit.audit.record(who, "programme.create", "programme", doc["_id"],
                              {"year": doc["year"]})
        return self.store.programme(doc["_id"])

    def programme(self, who: Principal, programme_id: str) -> dict[str, Any]:
        doc = self.store.programme(programme_id)
        if doc is None:
            raise NotFound(f"no programme {programme_id}",
                           detail_vi="Không tìm thấy chương trình.")
        who.require_scope(doc["locality"]["province_code"], doc["locality"].get("ward_code"))
        return doc

    def list_programmes(self, who: Principal, args: dict[str, Any]) -> tuple[list, int]:
        query: dict[str, Any] = who.scope_filter("locality.")
        for name in ("province_code", "ward_code"):
            if args.get(name):
                key = f"locality.{name}"
                if key in query and query[key] != args[name]:
                    raise Forbidden("outside your locality scope")
                query[key] = args[name]
        if args.get("year"):
            query["year"] = args["year"]
        return self.store.find_programmes(query, args["page"], args["page_size"])

    def publish_programme(self, who: Principal, programme_id: str) -> dict[str, Any]:
        doc = self.programme(who, programme_id)
        if doc["state"] != "draft":
            raise Conflict("the programme is already published",
                           detail_vi="Chương trình đã được công bố.")
        now = self.now
        event = self._event("programme.published", doc["_id"], {
            "programme_id": doc["_id"], "locality": doc["locality"], "year": doc["year"],
            "items": doc["items"]})
        if not self.store.publish_programme(doc["_id"], {"$set": {
                "state": "published", "published_at": now, "published_by": who.sub}},
                [event], now):
            raise Conflict("the programme is already published",
                           detail_vi="Chương trình đã được công bố.")
        self.outbox.flush(self.store.programmes, doc["_id"])
        self.kit.audit.record(who, "programme.publish", "programme", doc["_id"], {})
        return self.store.programme(doc["_id"])

    # --- dialogue requests ---------------------------------------------------

    def request_dialogue(self, who: Principal | None, data: dict[str, Any],
                         client: str) -> dict[str, Any]:
        if who is not None and who.roles <= {"citizen"}:
            who = None  # a citizen's own token adds nothing: treated as the public form
        if who is not None and not who.has(*REQUESTERS_ON_BEHALF):
            raise Forbidden("only the Front or the secretariat may file on someone's behalf")
        if who is None and not self.limiter.allow(f"dialogue-request|{client}"):
            raise TooManyRequests("too many requests from this address")
        locality = _locality(data["locality"])
        if not locality["ward_code"]:
            raise Invalid("locality.ward_code", "a dialogue request names its commune",
                          detail_vi="Cần nêu xã, phường.")
        if who is not None:
            who.require_scope(locality["province_code"], locality["ward_code"])
        requester = data["requester"]
        if who is None and not requester.get("phone"):
            # a one-time code to the phone is what confirms a public requester
            raise Invalid("requester.phone", "a phone number is needed to confirm the request",
                          detail_vi="Cần số điện thoại để nhận mã xác nhận yêu cầu.")
        identity = self._identity(requester if who is not None else
                                  {"phone": requester["phone"]})
        now = self.now
        year = vn_today(now).year
        request_id = str(uuid.uuid4())
        doc = {
            "_id": request_id, "ward_code": locality["ward_code"],
            "province_code": locality["province_code"], "year": year,
            "fingerprint": self.kit.keys.fingerprint(identity),
            "topic": nfc(data["topic"]),
            "requester": self.kit.keys.encrypt_json(
                {k: v for k, v in requester.items() if v},
                context=f"dialogue_request/{request_id}"),
            "created_at": now, "filed_by": who.sub if who else None,
            # The Front or secretariat filing in person has seen the citizen.
            "confirmed": who is not None, "confirmed_at": now if who is not None else None,
        }
        events = []
        if who is None:
            code = new_otp()
            doc["code"] = self._code_fields(request_id, code, now)
            events.append(self._code_event(request_id, locality, requester, code, now))
        earlier = self.store.insert_request(doc, events, now)
        counted = earlier is None and doc["confirmed"]
        if earlier is None:
            if events:
                self.outbox.flush(self.store.requests, request_id)
            self.kit.audit.record(who, "dialogue_request.create", "dialogue_request",
                                  request_id, {"ward_code": doc["ward_code"]})
        elif who is None and not earlier.get("confirmed"):
            # asked again before confirming: a fresh code replaces the old one
            code = new_otp()
            event = self._code_event(earlier["_id"], locality, requester, code, now)
            self.store.renew_code(earlier["_id"], self._code_fields(earlier["_id"], code, now),
                                  [event], now)
            self.outbox.flush(self.store.requests, earlier["_id"])
        pending = not (earlier or doc).get("confirmed")
        result = self._tally(locality, year)
        return {"request_id": earlier["_id"] if earlier else request_id,
                "ward_code": doc["ward_code"], "year": year, "counted": counted,
                "confirmation_required": pending, **result}

    def _code_fields(self, request_id: str, code: str, now: datetime) -> dict[str, Any]:
        return {"hash": code_hash(self.kit.keys, request_id, code), "expires_at": now + CODE_TTL,
                "attempts": 0}

    def _code_event(self, request_id: str, locality: dict[str, Any],
                    requester: dict[str, Any], code: str, now: datetime) -> Event:
        phone = phones.normalize(requester["phone"])
        token = seal(self.kit.settings.contact_public_key,
                     {"phone": phone, "email": None, "name": requester.get("full_name"),
                      "code": code})
        return self._event("dialogue_request.code_issued", locality["ward_code"], {
            "request_id": request_id, "locality": locality, "expires_at": now + CODE_TTL,
            "contact": {"contact_token": token, "masked_phone": phones.mask(phone),
                        "masked_email": None, "consent_notifications": True}})

    def _tally(self, locality: dict[str, Any], year: int) -> dict[str, Any]:
        """Confirmed requesters against 10 % of the voters, when the count is known.
        Checked on every request, not only the counted one, so that a crash right
        after an insert is repaired by the next request."""
        ward_code = locality["ward_code"]
        count = self.store.count_requesters(ward_code, year)
        voters = self.voters.count(ward_code)
        if voters is None:
            return {"requester_count": count, "voter_count": None, "threshold": None,
                    "voter_count_missing": True,
                    "dialogue_required": self.store.is_required(ward_code, year)}
        threshold = domain.request_threshold(voters)
        required = self._maybe_require(locality, year, count, voters, threshold)
        return {"requester_count": count, "voter_count": voters, "threshold": threshold,
                "voter_count_missing": False, "dialogue_required": required}

    def confirm_request(self, request_id: str, code: str, client: str) -> dict[str, Any]:
        """The citizen types the code sent to their phone: from now on they count."""
        if not self.limiter.allow(f"dialogue-confirm|{client}"):
            raise TooManyRequests("too many attempts from this address")
        doc = self.store.request(request_id)
        if doc is None:
            raise NotFound(f"no dialogue request {request_id}",
                           detail_vi="Không tìm thấy yêu cầu đối thoại.")
        locality = {"province_code": doc["province_code"], "ward_code": doc["ward_code"]}
        if not doc.get("confirmed"):
            pending = doc.get("code") or {}
            now = self.now
            if pending.get("attempts", 0) >= CODE_ATTEMPTS or \
                    from_mongo(pending.get("expires_at")) < now:
                raise Conflict("the code has expired; ask again for a new one",
                               detail_vi="Mã xác nhận đã hết hiệu lực, vui lòng gửi lại yêu "
                                         "cầu để nhận mã mới.")
            if not code_matches(self.kit.keys, doc["_id"], code, pending.get("hash", "")):
                self.store.count_attempt(doc["_id"])
                raise Invalid("code", "the code does not match",
                              detail_vi="Mã xác nhận không đúng.")
            if self.store.confirm_request(doc["_id"], pending["hash"], now):
                self.kit.audit.record(None, "dialogue_request.confirm", "dialogue_request",
                                      doc["_id"], {"ward_code": doc["ward_code"]})
        result = self._tally(locality, doc["year"])
        return {"request_id": doc["_id"], "ward_code": doc["ward_code"], "year": doc["year"],
                "counted": True, "confirmation_required": False, **result}

    @staticmethod
    def _identity(requester: dict[str, Any]) -> str:
        """One person, one count: their ID number, else their phone number."""
        if requester.get("id_number"):
            return "id:" + requester["id_number"]
        if requester.get("phone"):
            try:
                return "phone:" + phones.normalize(requester["phone"])
            except phones.InvalidPhone as exc:
                raise Invalid("requester.phone", str(exc),
                              detail_vi="Số điện thoại không hợp lệ.") from None
        raise Invalid("requester", "give id_number or phone, so that each person counts once",
                      detail_vi="Cần số căn cước hoặc số điện thoại để tính mỗi người một lần.")

    def _maybe_require(self, locality: dict[str, Any], year: int, count: int, voters: int,
                       threshold: int) -> bool:
        ward_code = locality["ward_code"]
        if count < threshold:
            return self.store.is_required(ward_code, year)
        now = self.now
        event = self._event("dialogue.required", ward_code, {
            "locality": locality, "year": year, "requester_count": count,
            "voter_count": voters, "threshold": threshold,
            "topics": self.store.request_topics(ward_code, year)})
        tally_id = f"{ward_code}|{year}"
        if self.store.claim_required({
                "_id": tally_id, "ward_code": ward_code,
                "province_code": locality["province_code"], "year": year, "required": True,
                "required_at": now, "requester_count": count, "voter_count": voters,
                "threshold": threshold}, [event], now):
            self.outbox.flush(self.store.tallies, tally_id)
            self.kit.audit.record(None, "dialogue.required", "commune", ward_code,
                                  {"year": year, "requesters": count, "threshold": threshold})
        return True

    # --- compliance and reports ---------------------------------------------

    def compliance(self, who: Principal, province_code: str, year: int) -> dict[str, Any]:
        _locality({"province_code": province_code})
        if not who.covers(province_code, who.ward_code):
            raise Forbidden("outside your locality scope")
        held = self.store.held_per_ward(province_code, year, domain.NOT_COUNTED_FORMS)
        party = self.store.held_per_ward(province_code, year, None, (domain.PARTY_HEAD,))
        late = self.store.late_per_ward(province_code, year)
        overdue = self.store.unconcluded_per_ward(province_code, year, self.now)
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
        _locality({"province_code": province_code})
        who.require_scope(province_code, who.ward_code)
        start = start or date(1945, 9, 2)
        end = end or vn_today(self.now)
        if end < start:
            raise Invalid("to", "must not be before from", detail_vi="Khoảng thời gian sai.")
        rows = []
        for row in self.store.dialogue_counts(province_code, _day_start(start),
                                              _day_start(date.fromordinal(end.toordinal() + 1))):
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

    # --- consumed events: the agenda-candidate read model --------------------

    def _snapshot(self, issue_id: str, version: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.store.ensure_issue(issue_id)
        self.store.newer_snapshot(issue_id, version, fields)
        return self.store.issue(issue_id) or {}

    def _attach(self, issue: dict[str, Any], petition_ids: list[str]) -> None:
        """Add petitions to an issue (or the issue it was merged into); closed ones stay closed."""
        target = issue.get("merged_into") or issue["_id"]
        closed = self.store.closed_petitions(petition_ids)
        self.store.add_petitions(target, petition_ids,
                                 [p for p in petition_ids if p not in closed])

    def on_grouped(self, event: Event) -> None:
        data = event.data
        issue_id, petition_id = data["issue_id"], data["petition_id"]
        if not issue_id:
            return
        issue = self._snapshot(issue_id, data["issue_version"], {
            "title": data["issue_title"], "category": data.get("category"),
            "locality": dict(data["locality"]), "heat": data["heat"],
            "petition_count": data["petition_count"],
            "distinct_petitioners": data["distinct_petitioners"]})
        target = issue.get("merged_into") or issue_id
        self.store.set_petition(petition_id, {"issue_id": target},
                                on_insert={"open": True})
        self.store.detach_petition(petition_id, target)
        self._attach(issue, [petition_id])

    def on_trending(self, event: Event) -> None:
        data = event.data
        issue = self._snapshot(data["issue_id"], data["issue_version"], {
            "title": data["title"], "category": data["category"],
            "locality": dict(data["locality"]), "heat": data["heat"],
            "petition_count": data["petition_count"],
            "distinct_petitioners": data["distinct_petitioners"], "trending": True})
        self.store.issues.update_one({"_id": data["issue_id"]}, {"$set": {"trending": True}})
        self._attach(issue, list(data["petition_ids"]))

    def on_merged(self, event: Event) -> None:
        data = event.data
        into, merged = data["issue_id"], data["merged_issue_id"]
        if into == merged:
            raise Rejected("an issue cannot be merged into itself")
        self.store.ensure_issue(merged)
        old = self.store.issue(merged) or {}
        self.store.mark_merged(merged, into)
        issue = self._snapshot(into, data["issue_version"], {
            "title": data["title"], "category": data["category"],
            "locality": dict(data["locality"]), "heat": data["heat"],
            "petition_count": data["petition_count"],
            "distinct_petitioners": data["distinct_petitioners"]})
        moved = list(dict.fromkeys([*data["petition_ids"], *old.get("petition_ids", [])]))
        if old.get("trending"):
            self.store.issues.update_one({"_id": into}, {"$set": {"trending": True}})
        self._attach(issue, moved)

    def on_petition_closed(self, event: Event) -> None:
        petition_id = event.data["petition_id"]
        self.store.set_petition(petition_id, {"open": False, "status": event.type})
        self.store.close_petition(petition_id)

    def on_petition_open(self, event: Event) -> None:
        petition_id = event.data["petition_id"]
        self.store.set_petition(petition_id, {"open": True, "status": event.type})
        self.store.reopen_petition(petition_id)
