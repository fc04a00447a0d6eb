"""Planning a dialogue: create, announce, reschedule, cancel, and its agenda until held.

Host and venue clashes are a rule across documents (no two announced dialogues of one
host, or at one venue, overlap in time), which no single-document update and no unique
index can express: overlap is a relation between intervals, not equal keys. So the
check and the write run under a named mutex per host and per venue
(``services.common.mongo.mutex``), and two officers announcing clashing dialogues at the
same instant cannot both succeed. Everything else is a single conditional update.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict
from services.common.mongo import LockTimeout, mutex
from services.scheduling import domain
from services.scheduling.base import UseCase, checked_locality


class Planning(UseCase):
    # how long a command waits for a host's or venue's slot held by another command
    slot_wait = 10.0

    def create(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        locality = checked_locality(data["locality"])
        who.require_scope(locality["province_code"], locality["ward_code"])
        doc = domain.new_dialogue(str(uuid.uuid4()), data, locality, self.now, who.sub)
        with self._slot(doc):
            self._check_clash(doc)
            self.store.insert_dialogue(doc)
        self.kit.audit.record(who, "dialogue.create", "dialogue", doc["_id"],
                              {"kind": doc["kind"], "topic": doc["topic"]})
        return self.store.dialogue(doc["_id"])

    def announce(self, who: Principal, dialogue_id: str, reason: str | None) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        change = domain.announce(doc, self.now, reason)
        with self._slot(doc):
            self._check_clash(doc)
            return self.commit(who, doc, "announce", change)

    def reschedule(self, who: Principal, dialogue_id: str,
                   data: dict[str, Any]) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        change = domain.reschedule(doc, data, self.now, who.sub)
        moved = domain.moved(doc, data)
        with self._slot(moved):
            self._check_clash(moved)
            return self.commit(who, doc, "reschedule", change)

    def cancel(self, who: Principal, dialogue_id: str, reason: str) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        return self.commit(who, doc, "cancel", domain.cancel(doc, reason, self.now))

    # --- the agenda, until the dialogue is held ------------------------------------

    def add_item(self, who: Principal, dialogue_id: str, data: dict[str, Any]) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        return self.commit(who, doc, "agenda.add",
                           domain.add_item(doc, str(uuid.uuid4()), data),
                           states=domain.EDITABLE)

    def remove_item(self, who: Principal, dialogue_id: str, item_id: str) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        return self.commit(who, doc, "agenda.remove", domain.remove_item(doc, item_id),
                           states=domain.EDITABLE)

    def reorder(self, who: Principal, dialogue_id: str, item_ids: list[str]) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        return self.commit(who, doc, "agenda.reorder", domain.reorder(doc, item_ids),
                           states=domain.EDITABLE)

    # --- clashes ---------------------------------------------------------------------

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
