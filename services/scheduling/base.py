"""What the scheduling use cases share: the kit, the store, the outbox, the clock, event
making, loading a dialogue within the caller's scope and committing a dialogue's change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.auth import Principal
from services.common.clock import aware
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import Event, new_event
from services.common.kit import Kit
from services.common.localities import UnknownLocality, validate
from services.common.outbox import Outbox
from services.scheduling import domain
from services.scheduling.domain import Change
from services.scheduling.settings import SchedulingSettings
from services.scheduling.store import Store


def checked_locality(data: dict[str, Any]) -> dict[str, Any]:
    """``{province_code, ward_code}`` of a request, known to the 2025 map; 422 otherwise."""
    found = {"province_code": data["province_code"], "ward_code": data.get("ward_code")}
    try:
        validate(found["province_code"], found["ward_code"])
    except UnknownLocality as exc:
        raise Invalid("locality", str(exc), detail_vi="Địa bàn không hợp lệ.") from None
    return found


def in_scope(who: Principal, doc: dict[str, Any] | None,
             missing: NotFound) -> dict[str, Any]:
    """A document the caller may see: ``missing`` if there is none, 403 outside their area."""
    if doc is None:
        raise missing
    who.require_scope(doc["locality"]["province_code"], doc["locality"].get("ward_code"))
    return doc


class UseCase:
    def __init__(self, kit: Kit, store: Store, outbox: Outbox,
                 settings: SchedulingSettings) -> None:
        self.kit = kit
        self.store = store
        self.outbox = outbox
        self.settings = settings

    @property
    def now(self) -> datetime:
        return aware(self.kit.clock())

    def event(self, type_: str, subject: str, data: dict[str, Any]) -> Event:
        return new_event(type_, subject, data, source=self.settings.service, time=self.now)

    def load(self, who: Principal, dialogue_id: str) -> dict[str, Any]:
        return in_scope(who, self.store.dialogue(dialogue_id), NotFound(
            f"no dialogue {dialogue_id}", detail_vi="Không tìm thấy cuộc đối thoại."))

    def commit(self, who: Principal, doc: dict[str, Any], action: str, change: Change,
               states: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Apply a change in one conditional update on (state, version), with its events
        staged in the same document; publish them at once and audit. 409 and nothing
        changed when another officer changed the dialogue meanwhile."""
        now = self.now
        events = [self.event(type_, doc["_id"], data) for type_, data in change.events]
        states = states or domain.ALLOWED[action]
        if not self.store.transition(doc["_id"], states, change.update(now), events, now,
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
        self.kit.audit.record(who, f"dialogue.{action}", "dialogue", doc["_id"], change.details)
        return self.store.dialogue(doc["_id"])
