"""The reads of notify's API: notifications (masked) for officers, the directory for
admins, delivery states for /metrics."""

from __future__ import annotations

from typing import Any

from services.common.errors import NotFound
from services.notify import domain
from services.notify.directory import Directory
from services.notify.store import Store


class Views:
    def __init__(self, store: Store, directory: Directory) -> None:
        self.store = store
        self.directory = directory

    def notifications(self, query: dict[str, Any], page: int, size: int) -> dict[str, Any]:
        if "status" in query:
            query = {**{k: v for k, v in query.items() if k != "status"},
                     "state": query["status"]}
        items, total = self.store.list_notifications(query, page, size)
        return {"items": items, "total": total, "page": page, "page_size": size}

    def notification(self, notification_id: str, scope: dict[str, Any]) -> dict[str, Any]:
        doc = self.store.get_notification(notification_id, scope)
        if doc is None:
            raise NotFound("no such notification", detail_vi="Không tìm thấy thông báo.")
        return doc

    def directory_page(self, query: dict[str, Any], page: int, size: int) -> dict[str, Any]:
        items, total = self.store.list_directory(query, page, size)
        return {"items": [self.directory.view(e) for e in items], "total": total,
                "page": page, "page_size": size}

    def directory_entry(self, entry_id: str, detail_vi: str) -> dict[str, Any]:
        entry = self.store.directory_entry(entry_id)
        if entry is None:
            raise NotFound("no such directory entry", detail_vi=detail_vi)
        return self.directory.view(entry)

    def delivery_counts(self) -> list[tuple[str, str, int]]:
        """(channel, delivery state, count) over every notification, for /metrics."""
        totals: dict[tuple[str, str], int] = {}
        for row in self.store.delivery_groups():
            key = row["_id"]
            status = key.get("delivery") or (domain.ACCEPTED if key.get("state") == domain.SENT
                                             else key.get("state"))
            pair = (key.get("channel") or "?", status or "?")
            totals[pair] = totals.get(pair, 0) + row["n"]
        return [(c, s, n) for (c, s), n in sorted(totals.items())]
