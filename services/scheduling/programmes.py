"""Annual programmes of dialogues: drafted, then published once (``programme.published``)."""

from __future__ import annotations

import uuid
from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict, Invalid, NotFound
from services.common.text import nfc
from services.scheduling.base import UseCase, checked_locality, in_scope


def _published() -> Conflict:
    return Conflict("the programme is already published",
                    detail_vi="Chương trình đã được công bố.")


def new_programme(programme_id: str, data: dict[str, Any], locality: dict[str, Any],
                  now: Any, by: str) -> dict[str, Any]:
    """A draft programme; every item falls in the programme's year."""
    for index, item in enumerate(data["items"]):
        if not item["period"].startswith(f"{data['year']}-"):
            raise Invalid(f"items.{index}.period", f"must fall in {data['year']}",
                          detail_vi="Thời gian phải thuộc năm của chương trình.")
    return {"_id": programme_id, "locality": locality, "year": data["year"],
            "title": nfc(data.get("title") or ""), "state": "draft",
            "items": [{"period": i["period"], "kind": i["kind"], "topic": nfc(i["topic"])}
                      for i in data["items"]],
            "created_at": now, "created_by": by}


class Programmes(UseCase):
    def create(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        locality = checked_locality(data["locality"])
        who.require_scope(locality["province_code"], locality["ward_code"])
        doc = new_programme(str(uuid.uuid4()), data, locality, self.now, who.sub)
        self.store.insert_programme(doc)
        self.kit.audit.record(who, "programme.create", "programme", doc["_id"],
                              {"year": doc["year"]})
        return self.store.programme(doc["_id"])

    def get(self, who: Principal, programme_id: str) -> dict[str, Any]:
        return in_scope(who, self.store.programme(programme_id), NotFound(
            f"no programme {programme_id}", detail_vi="Không tìm thấy chương trình."))

    def publish(self, who: Principal, programme_id: str) -> dict[str, Any]:
        doc = self.get(who, programme_id)
        if doc["state"] != "draft":
            raise _published()
        now = self.now
        event = self.event("programme.published", doc["_id"], {
            "programme_id": doc["_id"], "locality": doc["locality"], "year": doc["year"],
            "items": doc["items"]})
        if not self.store.publish_programme(doc["_id"], {"$set": {
                "state": "published", "published_at": now, "published_by": who.sub}},
                [event], now):
            raise _published()
        self.outbox.flush(self.store.programmes, doc["_id"])
        self.kit.audit.record(who, "programme.publish", "programme", doc["_id"], {})
        return self.store.programme(doc["_id"])
