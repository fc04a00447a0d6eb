"""The composition root: settings, kit, store, service, handlers, web app and consumer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import services.common.contracts  # noqa: F401  (registers every event type)
from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts import intake as intake_contract
from services.common.contracts import scheduling as contract
from services.common.events import Event
from services.common.kafka import Consumer
from services.common.kit import Kit, ServiceApp
from services.common.outbox import Outbox
from services.scheduling import store as store_module
from services.scheduling.api import BLUEPRINTS
from services.scheduling.documents.service import Documents
from services.scheduling.handlers import batch_handlers, event_handlers
from services.scheduling.service import Scheduling
from services.scheduling.settings import SchedulingSettings

DB_NAME = "scheduling"
GROUP = "scheduling"
CONSUMES = (intake_contract.TOPIC,)
PUBLISHES = (contract.TOPIC,)


@dataclass
class App(ServiceApp):
    TITLE = "Scheduling: dialogues between leaders and citizens"

    settings: SchedulingSettings
    kit: Kit
    store: store_module.Store
    outbox: Outbox
    service: Scheduling
    handlers: dict[str, Callable[[Event], None]] = field(default_factory=dict)
    documents: Documents | None = None

    def indexes(self):
        return store_module.INDEXES

    def upgrade(self) -> None:
        self.store.upgrade()

    def topics(self):
        return [*PUBLISHES, *CONSUMES]

    def blueprints(self):
        return BLUEPRINTS

    def extensions(self) -> dict[str, Any]:
        return {"scheduling": self.service, "documents": self.documents}

    def consumer(self, **options: object) -> Consumer:
        # a poll's consecutive ``petition.grouped`` events: one bulk write per collection
        options.setdefault("batch_handlers", batch_handlers(self.service))
        return self.kit.consumer(GROUP, self.handlers, topics=CONSUMES, **options)

    def consumers(self) -> list[Consumer]:
        return [self.consumer()]

    def outboxes(self) -> list[Outbox]:
        return [self.outbox]


def build(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = SchedulingSettings.of(settings)
    kit = Kit(settings, DB_NAME, clock=clock)
    store = store_module.Store(kit.db)
    outbox = kit.outbox(store.outbox_collections())
    service = Scheduling(kit, store, outbox, settings)
    return App(settings, kit, store, outbox, service, event_handlers(service),
               Documents(service, settings.agency_names_file))
