"""Notify's service layer, by use case, composed here:

- ``dispatch.Dispatch``: consumed events -> notifications, and the read models of
  petitions and dialogues they need;
- ``delivery.Delivery``: the sender (claims, attempts, outcomes, quotas), Zalo's SMS
  fallback and its timeouts;
- ``inbound.Inbound``: SMS to the platform's number (TT, HUY, help) and delivery reports;
- ``directory.Directory``: contacts of agencies and localities;
- ``notifier.Notifier``: writing one notification, shared by the others.

What is left here is the officers' command on a notification (send a failed one again).
"""

from __future__ import annotations

from typing import Any

from services.common.auth import Principal
from services.common.errors import Conflict, NotFound
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.notify.delivery import Delivery, Senders
from services.notify.directory import Directory
from services.notify.dispatch import Dispatch
from services.notify.domain import FAILED
from services.notify.inbound import Inbound
from services.notify.notifier import Notifier
from services.notify.settings import NotifySettings
from services.notify.store import Store

__all__ = ["NotifyService", "Senders"]


class NotifyService:
    def __init__(self, kit: Kit, settings: NotifySettings, store: Store, senders: Senders,
                 outbox: Outbox) -> None:
        self.kit = kit
        self.settings = settings
        self.store = store
        self.senders = senders
        self.delivery = Delivery(settings, store, senders, kit.bus, kit.clock, kit.keys)
        self.notifier = Notifier(kit, settings, store, outbox,
                                 zalo_enabled=senders.zalo is not None,
                                 send_now=self.delivery.send_claimed,
                                 at_once=self.delivery.at_once)
        self.directory = Directory(kit, store, self.notifier)
        self.dispatch = Dispatch(settings, store, self.notifier, self.directory,
                                 self.delivery.together)
        self.inbound = Inbound(settings, store, self.notifier, self.delivery)

    def retry(self, principal: Principal, notification_id: str) -> dict[str, Any]:
        """An admin sends a failed notification again, with a fresh count of attempts."""
        doc = self.store.get_notification(notification_id)
        if doc is None:
            raise NotFound("no such notification", detail_vi="Không tìm thấy thông báo.")
        if doc["state"] != FAILED or doc.get("text") is None:
            raise Conflict(f"only a failed notification can be retried (it is {doc['state']})",
                           detail_vi="Chỉ gửi lại được thông báo đã gửi không thành công.")
        if not self.store.requeue(notification_id, {"state": FAILED},
                                  {"reason": None, "attempt_base": doc.get("attempt_count", 0)},
                                  self.kit.clock()):
            raise Conflict("the notification changed meanwhile")
        self.kit.audit.record(principal, "notification.retry", "notification",
                              notification_id, {"previous_reason": doc.get("reason")})
        return self.store.get_notification(notification_id)
