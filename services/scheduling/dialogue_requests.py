"""Citizens asking for a dialogue in their commune, and the 10 % trigger.

Each requester counts once per commune and year (a keyed fingerprint of their ID number,
else their phone; the identity is stored encrypted). A public requester counts only once
they confirm the one-time code sent to their phone (``dialogue_request.code_issued``);
the Front or the secretariat filing in person has seen the citizen. When confirmed
requesters reach 10 % of the commune's voters (Luật Tổ chức chính quyền địa phương 2025,
Điều 43), ``dialogue.required`` is published once per commune and year: an insert on the
unique id ``<commune>|<year>`` in ``request_tallies``, with the event staged in it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.common import phones
from services.common.auth import DECIDERS, Forbidden, Principal
from services.common.clock import from_mongo, vn_today
from services.common.crypto import seal
from services.common.errors import Conflict, Invalid, NotFound, TooManyRequests
from services.common.events import Event
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.common.ratelimit import RateLimiter
from services.common.text import nfc
from services.scheduling import domain
from services.scheduling.base import UseCase, checked_locality
from services.scheduling.settings import SchedulingSettings
from services.scheduling.store import Store
from services.scheduling.voters import CODE_ATTEMPTS, CODE_TTL, Voters, code_hash, code_matches
from services.scheduling.voters import new_code as new_otp

# Who may file a request on a citizen's behalf (with the citizen in front of them).
REQUESTERS_ON_BEHALF = DECIDERS  # the Front or the secretariat files for a citizen


class Requests(UseCase):
    def __init__(self, kit: Kit, store: Store, outbox: Outbox, settings: SchedulingSettings,
                 voters: Voters) -> None:
        super().__init__(kit, store, outbox, settings)
        self.voters = voters
        self.limiter = RateLimiter(kit.db, settings.public_rate_limit, clock=kit.clock)

    def request(self, who: Principal | None, data: dict[str, Any],
                client: str) -> dict[str, Any]:
        """A citizen asks (``who`` None: the public form, confirmed by a one-time code), or
        the Front or the secretariat files for a citizen in front of them."""
        if who is not None and who.roles <= {"citizen"}:
            who = None  # a citizen's own token adds nothing: treated as the public form
        if who is not None and not who.has(*REQUESTERS_ON_BEHALF):
            raise Forbidden("only the Front or the secretariat may file on someone's behalf")
        if who is None and not self.limiter.allow(f"dialogue-request|{client}"):
            raise TooManyRequests("too many requests from this address")
        locality = checked_locality(data["locality"])
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
        return self.event("dialogue_request.code_issued", locality["ward_code"], {
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

    def confirm(self, request_id: str, code: str, client: str) -> dict[str, Any]:
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
        event = self.event("dialogue.required", ward_code, {
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

