"""The composition root: settings, kit, store, service, handlers, web app and consumer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

import services.common.contracts  # noqa: F401  (registers every event type)
from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts import intake as intake_contract
from services.common.contracts import scheduling as contract
from services.common.events import Event
from services.common.kafka import Consumer
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.scheduling import store as store_module
from services.scheduling.api import BLUEPRINTS
from services.scheduling.documents.service import Documents
from services.scheduling.handlers import event_handlers
from services.scheduling.service import Scheduling
from services.scheduling.settings import SchedulingSettings, scheduling_settings

DB_NAME = "scheduling"
GROUP = "scheduling"
CONSUMES = (intake_contract.TOPIC,)
PUBLISHES = (contract.TOPIC,)


@dataclass
class App:
    settings: SchedulingSettings
    kit: Kit
    store: store_module.Store
    outbox: Outbox
    service: Scheduling
    handlers: dict[str, Callable[[Event], None]] = field(default_factory=dict)
    documents: Documents | None = None

    def prepare(self) -> None:
        self.kit.prepare(store_module.INDEXES, [*PUBLISHES, *CONSUMES])
        self.store.upgrade()

    def web(self) -> Flask:
        self.prepare()
        return self.kit.app("Scheduling: dialogues between leaders and citizens", BLUEPRINTS,
                            extensions={"scheduling": self.service,
                                        "documents": self.documents})

    def consumer(self, **options: object) -> Consumer:
        return self.kit.consumer(GROUP, self.handlers, topics=CONSUMES, **options)


class _LazyBus:
    """The kit's producer, created on first publish (after gunicorn has forked)."""

    def __init__(self, kit: Kit) -> None:
        self._kit = kit

    def __getattr__(self, name: str):
        return getattr(self._kit.bus, name)


def build(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = scheduling_settings(settings)
    kit = Kit(settings, DB_NAME, clock=clock)
    store = store_module.Store(kit.db)

    outbox = Outbox(_LazyBus(kit), store.outbox_collections(),  # type: ignore[arg-type]
                    clock=kit.clock)
    service = Scheduling(kit, store, outbox, settings)
    return App(settings, kit, store, outbox, service, event_handlers(service),
               Documents(service, settings.agency_names_file))
