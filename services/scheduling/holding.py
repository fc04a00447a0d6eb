"""Holding a dialogue and issuing its conclusion notice."""

from __future__ import annotations

from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict
from services.scheduling import domain, notices
from services.scheduling.base import UseCase


class Holding(UseCase):
    def hold(self, who: Principal, dialogue_id: str, data: dict[str, Any]) -> dict[str, Any]:
        doc = self.load(who, dialogue_id)
        change = domain.hold(doc, data, self.now)
        result = self.commit(who, doc, "hold", change)
        # Issues on a held dialogue's agenda leave the candidates list. A crash right
        # here leaves them listed; harmless, and holding another dialogue repairs it.
        self.store.mark_on_held_agenda(change.events[0][1]["issue_ids"], doc["_id"])
        return result

    def conclude(self, who: Principal, dialogue_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """The notice's number is claimed first (unique per issuing body and year), and
        released again if the dialogue cannot be concluded."""
        doc = self.load(who, dialogue_id)
        change, key = notices.conclude(doc, data, self.now)
        number = change.details["notice_number"]
        if not self.store.claim_notice_number(key, doc["_id"], self.now):
            raise Conflict(f"notice number {number} is already used by this body this year",
                           detail_vi=f"Số thông báo {number} đã được cơ quan này dùng "
                                     "trong năm.", notice_number=number)
        try:
            return self.commit(who, doc, "conclude", change)
        except Exception:
            self.store.release_notice_number(key, doc["_id"])  # the number stays free
            raise
