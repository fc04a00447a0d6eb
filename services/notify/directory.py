"""The directory: how to reach agencies and each locality's host, secretariat and Front.

Entries are kept by admins through the API, the contact itself encrypted at rest. The
dispatch reads them to write to officials (by e-mail; by SMS when there is no e-mail).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from services.common import phones
from services.common.auth import Principal
from services.common.crypto import mask_email
from services.common.errors import NotFound
from services.common.kit import Kit
from services.notify import domain
from services.notify.notifier import Notifier
from services.notify.store import Store

log = logging.getLogger(__name__)


def agency_entry_id(agency_id: str) -> str:
    return f"agency:{agency_id}"


def locality_entry_id(province_code: str, ward_code: str | None, role: str) -> str:
    return f"locality:{province_code}:{ward_code or '-'}:{role}"


class Directory:
    def __init__(self, kit: Kit, store: Store, notifier: Notifier) -> None:
        self.kit = kit
        self.store = store
        self.notifier = notifier

    # ------------------------------------------------------------ reads for the dispatch

    def contact(self, entry: dict[str, Any]) -> dict[str, Any]:
        return self.kit.keys.decrypt_json(entry["contact_enc"], entry["_id"])

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        return self.store.directory_entry(entry_id)

    def agency_name(self, agency_id: str) -> str:
        entry = self.store.directory_entry(agency_entry_id(agency_id))
        return (entry or {}).get("name") or agency_id

    def locality_entry(self, locality: dict[str, Any], role: str) -> str | None:
        """The commune's entry for ``role``, else the province's."""
        for ward_code in (locality.get("ward_code"), None):
            entry_id = locality_entry_id(locality["province_code"], ward_code, role)
            if self.store.directory_entry(entry_id):
                return entry_id
        return None

    def tell(self, entry_id: str, kind: str, template: str, context: dict[str, Any], *,
             cause_id: str, refs: dict[str, Any] | None = None,
             hold_until: datetime | None = None) -> int:
        """Write to the official of one directory entry."""
        entry = self.store.directory_entry(entry_id)
        if entry is None:
            log.warning("no directory entry; nobody to tell",
                        extra={"entry": entry_id, "template": template})
            return 0
        addresses = domain.directory_addresses(entry, self.contact(entry), entry_id, kind)
        return sum(self.notifier.create(a, template, context, cause_id=cause_id, refs=refs,
                                        hold_until=hold_until) for a in addresses)

    # ------------------------------------------------------------ admins' commands

    def put(self, principal: Principal, entry_id: str, meta: dict[str, Any],
            contact: dict[str, Any]) -> dict[str, Any]:
        clean = {k: v for k, v in contact.items() if v}
        if clean.get("phone"):
            clean["phone"] = phones.normalize(clean["phone"])
        doc = {**meta, "contact_enc": self.kit.keys.encrypt_json(clean, entry_id),
               "masked_email": mask_email(clean["email"]) if clean.get("email") else None,
               "masked_phone": phones.mask(clean["phone"]) if clean.get("phone") else None,
               "updated_at": self.kit.clock(), "updated_by": principal.sub}
        self.store.put_directory(entry_id, doc)
        self.kit.audit.record(principal, "directory.put", "directory", entry_id,
                              {"name": meta.get("name")})
        return self.view(self.store.directory_entry(entry_id))

    def delete(self, principal: Principal, entry_id: str) -> None:
        if not self.store.delete_directory(entry_id):
            raise NotFound("no such directory entry", detail_vi="Không tìm thấy mục danh bạ.")
        self.kit.audit.record(principal, "directory.delete", "directory", entry_id, {})

    def view(self, entry: dict[str, Any]) -> dict[str, Any]:
        contact = self.contact(entry)
        return {**{k: v for k, v in entry.items() if k != "contact_enc"},
                "id": entry["_id"], "email": contact.get("email"), "phone": contact.get("phone")}
