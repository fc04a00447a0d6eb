"""A citizen's side of a petition: submitting it (web, officers, external systems),
withdrawing it and reopening an answer.

A submission is one insert carrying its ``petition.received`` (the outbox); the
answer does not wait for Kafka nor for grouping, which intake's consumer does on
that event (``grouping.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cached_property
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.common import paging, phones
from services.common.auth import Principal
from services.common.crypto import mask_email, seal
from services.common.errors import Conflict, Invalid
from services.common.events import Event
from services.common.localities import top_level
from services.common.outbox import new_document, stage
from services.common.text import fold, words
from services.intake import deadlines, domain
from services.intake.context import Context
from services.intake.deferred import Deferred
from services.intake.store import UNGROUPED
from services.intake.views import FIRST_DAY, Reads, day, pairs, ref

_NS = uuid.UUID("0b7a3c52-8f1e-4d6a-9c2b-5e4f3a2d1c0b")
# Denunciations (tố cáo) are never grouped into issues: an issue can reach a public
# agenda, and the law keeps a denunciation and its denouncer confidential.
DENUNCIATION = "denunciation"


def external_id(source_system: str, external_ref: str) -> str:
    """The petition id of an external submission: the same on every resend."""
    return str(uuid.uuid5(_NS, f"{source_system}\n{external_ref}"))


def searchable(title: str, content: str, created_at: datetime) -> dict[str, Any]:
    """The fields the officer list filters on: the folded text, its words (FerretDB
    answers an equality on an array member with an index, a regex never) and the
    creation day and month (see services/common/paging.py)."""
    text = f"{title} {content}"
    found = words(text)
    return {"search": fold(text), "terms": sorted({*found, *pairs(found)}),
            **paging.time_keys(created_at)}


def petitioner_key(pid: str, person: dict[str, Any]) -> str:
    """Who wrote, for counting distinct petitioners: phone, else e-mail, else name and
    address, else nobody known (the petition itself)."""
    if person.get("phone"):
        return f"phone:{person['phone']}"
    if person.get("email"):
        return f"email:{person['email']}"
    if person.get("full_name"):
        return f"name:{fold(person['full_name'])}|{fold(person.get('address') or '')}"
    return f"petition:{pid}"


class Submission:
    def __init__(self, ctx: Context, reads: Reads) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.reads = reads

    def category(self, data: dict[str, Any]) -> str:
        category = data.get("category")
        if not category:
            return self.ctx.taxonomy.classify(data["title"], data["content"])
        if category not in self.ctx.taxonomy.names:
            raise Invalid("category", f"unknown category {category!r}",
                          detail_vi="Lĩnh vực không hợp lệ.")
        return category

    def document(self, pid: str, data: dict[str, Any], category: str, now: datetime, *,
                 principal: Principal | None, external: tuple[str, str] | None
                 ) -> dict[str, Any]:
        """The stored petition, without its tracking code and contact token."""
        person = data["petitioner"]
        phone, email = person.get("phone"), person.get("email")
        keys = self.ctx.kit.keys
        pii = {k: person.get(k) for k in ("full_name", "phone", "email", "address")}
        kind = data["kind"]
        base = {
            "_id": pid, "kind": kind, "title": data["title"], "content": data["content"],
            "category": category,
            "locality": {"province_code": data["locality"]["province_code"],
                         "ward_code": data["locality"].get("ward_code")},
            **top_level(data["locality"]),
            "channel": data.get("channel") or ("external" if external else "web"),
            "status": domain.RECEIVED,
            "history": [{"status": domain.RECEIVED, "at": now, "note": None}],
            "pii": keys.encrypt_json(pii, context=pid) if any(pii.values()) else None,
            "phone_fingerprint": keys.fingerprint(phone) if phone else None,
            "petitioner_fingerprint": keys.fingerprint(petitioner_key(pid, person)),
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
            "issue_id": None, "events_seen": [],
            **({} if kind == DENUNCIATION else {UNGROUPED: True}),
            "created_at": now, "updated_at": now,
        }
        # The province's figures from the start, computed as a kind correction does.
        base.update(deadlines.fields_for(base, kind, deadlines.basis_of(base)))
        return base

    def contact(self, person: dict[str, Any], code: str) -> dict[str, Any]:
        """How notify may reach the petitioner: sealed to notify's key, never plaintext."""
        phone, email = person.get("phone"), person.get("email")
        return {
            "contact_token": seal(self.ctx.settings.contact_public_key,
                                  {"phone": phone, "email": email,
                                   "name": person.get("full_name"), "tracking_code": code,
                                   "channel": person.get("preferred_channel")}),
            "masked_phone": phones.mask(phone) if phone else None,
            "masked_email": mask_email(email) if email else None,
            "consent_notifications": bool(person.get("consent_notifications")),
            "preferred_channel": person.get("preferred_channel"),
        }

    @cached_property
    def deferred(self) -> Deferred:
        return Deferred(self.ctx.outbox)

    def submit(self, data: dict[str, Any], *, principal: Principal | None = None,
               external: tuple[str, str] | None = None, cause: Event | None = None,
               defer: bool = False) -> dict[str, Any]:
        """Store a new petition with its ``petition.received`` and publish it (with
        ``defer``, after returning: the HTTP answer waits only for the insert).
        Grouping into an issue happens off the request path, in the consumer of that
        event, so the answer and the acknowledgement never wait for it."""
        data = domain.check_submission(data)
        category = self.category(data)
        now = self.ctx.clock()
        pid = external_id(*external) if external else str(uuid.uuid4())
        outbox = self.ctx.outbox
        if external:
            found = self.store.petition_with_outbox(pid)
            if found:  # a resend: publish what may still be pending, change nothing
                outbox.flush(self.store.petitions, pid, found)
                return found
        base = self.document(pid, data, category, now, principal=principal,
                             external=external)
        for _attempt in range(5):
            code = domain.new_code()
            contact = self.contact(data["petitioner"], code)
            doc = {**base, "tracking_code": code, "contact": contact}
            received = self.ctx.event("petition.received", pid, {
                **ref(doc), "kind": doc["kind"], "title": doc["title"],
                "channel": doc["channel"], "due_date": day(doc["due_date"]), "received_at": now,
                "contact": contact, "external_ref": doc["external_ref"],
                "source_system": doc["source_system"]}, now, cause)
            stored = new_document(doc, [received], now)
            try:
                self.store.insert_petition(stored)
                break
            except DuplicateKeyError:
                found = self.store.petition(pid)
                if found:  # the same external submission, stored by a concurrent delivery
                    return found
                continue  # tracking code collision: draw another
        else:
            raise RuntimeError("could not draw a unique tracking code")
        self.store.bounds.widen(FIRST_DAY, paging.day_key(now), lower=True)
        if principal:
            self.ctx.audit.record(principal, "petition.submit", "petition", pid,
                                  {"channel": doc["channel"]})
        # Published at once from the document just written (no read back); should it
        # fail, the relay publishes it.
        (self.deferred if defer else outbox).flush(self.store.petitions, pid, stored)
        return doc

    def _citizen_change(self, code: str, factor: dict[str, Any], action: str, type_: str,
                        reason: str | None, stamp: str) -> dict[str, Any]:
        doc = self.reads.citizen_doc(code, factor.get("phone_last4"), factor.get("email"))
        _, target = domain.transition(doc["status"], action)
        now = self.ctx.clock()
        if action == "reopen":
            domain.check_reopen(doc.get("answered_at"), now,
                                self.ctx.settings.reopen_window_days)
        event = self.ctx.event(type_, doc["_id"], {**ref(doc, target), "reason": reason}, now)
        update = domain.step(doc["status"], action, now, note=reason, set_={stamp: now})
        if not self.store.change_petition(domain.guard(doc, action),
                                          stage(update, [event], now)):
            raise Conflict("the petition changed meanwhile")
        self.ctx.outbox.flush(self.store.petitions, doc["_id"])
        return self.reads.citizen_view(self.reads.find(doc["_id"]))

    def withdraw(self, code: str, factor: dict[str, Any]) -> dict[str, Any]:
        return self._citizen_change(code, factor, "withdraw", "petition.withdrawn",
                                    factor.get("reason"), "withdrawn_at")

    def reopen(self, code: str, factor: dict[str, Any]) -> dict[str, Any]:
        return self._citizen_change(code, factor, "reopen", "petition.reopened",
                                    factor["reason"], "reopened_at")
