"""What every intake use case shares: the kit, settings, taxonomy, store, outbox and
the one way to make an event. Built once by ``service.Intake``."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from services.common.events import Event, new_event
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.intake.domain import Taxonomy
from services.intake.settings import IntakeSettings
from services.intake.store import Store


class Context:
    def __init__(self, kit: Kit, settings: IntakeSettings, taxonomy: Taxonomy) -> None:
        self.kit = kit
        self.settings = settings
        self.taxonomy = taxonomy
        self.store = Store(kit.db)

    def clock(self) -> datetime:
        return self.kit.clock()

    @property
    def audit(self) -> Any:
        return self.kit.audit

    @cached_property
    def outbox(self) -> Outbox:
        outbox = self.kit.outbox([self.store.petitions, self.store.issues])
        # petition.received waits for the grouping to clear it (grouping.py)
        outbox.graces[self.store.petitions.name] = timedelta(
            seconds=self.settings.received_grace_seconds)
        return outbox

    def event(self, type_: str, subject: str, data: dict[str, Any], now: datetime,
              cause: Event | None = None) -> Event:
        return new_event(type_, subject, data, source=self.settings.service, cause=cause,
                         time=now)
