"""The composition root: wires the kit, the store, the service layer and the handlers."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts.followup import TOPIC
from services.common.contracts.scheduling import TOPIC as DIALOGUES
from services.common.kafka import Consumer, ensure_topics
from services.common.kit import Job, Kit, ServiceApp
from services.common.outbox import Outbox
from services.followup import handlers
from services.followup.api import blp
from services.followup.metrics import OverdueCommitments
from services.followup.service import Followup
from services.followup.settings import FollowupSettings
from services.followup.store import INDEXES, Store

DB_NAME = "followup"
GROUP = "followup"
AGENCY_GROUP = "followup-agencies"
AGENCY_PATTERN = r"agency\..+\.reports"


class App(ServiceApp):
    """One follow-up process: the web app, the consumers, the relay and the sweeps."""

    TITLE = "Follow-up (commitments)"

    def __init__(self, settings: FollowupSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.kit = Kit(settings, DB_NAME, clock=clock)
        self.store = Store(self.kit.db)

    @cached_property
    def outbox(self) -> Outbox:
        return self.kit.outbox([self.store.commitments, self.store.transitions])

    @cached_property
    def service(self) -> Followup:
        return Followup(self.settings, self.store, self.kit.clock, self.kit.audit, self.outbox,
                        lambda topics: ensure_topics(self.settings, topics))

    def indexes(self):
        return INDEXES

    def topics(self):
        return [TOPIC, DIALOGUES]

    def upgrade(self) -> None:
        self.store.upgrade()
        # Agencies assigned work before their feed topic existed get it now: the relay
        # must never wait on a topic that is missing.
        for agency in self.store.agencies():
            self.service.ensure_agency(agency)

    def blueprints(self):
        return [blp]

    def extensions(self) -> dict[str, Any]:
        return {"followup": self.service,
                "metrics_collectors": [OverdueCommitments(self.store)]}

    def dialogue_consumer(self, **options: Any) -> Consumer:
        return self.kit.consumer(GROUP, handlers.dialogue_handlers(self.service),
                                 topics=[DIALOGUES], **options)

    def agency_consumer(self, **options: Any) -> Consumer:
        options.setdefault("metadata_max_age_ms", self.settings.agency_metadata_max_age_ms)
        return self.kit.consumer(AGENCY_GROUP, handlers.agency_handlers(self.service),
                                 pattern=AGENCY_PATTERN, **options)

    def consumers(self) -> list[Consumer]:
        return [self.dialogue_consumer(), self.agency_consumer()]

    def outboxes(self) -> list[Outbox]:
        return [self.outbox]

    def jobs(self) -> list[Job]:
        return [Job("deadline-sweep", self.settings.sweep_seconds, self.sweep)]

    def sweep(self) -> dict[str, int]:
        return self.service.sweep()


def build(settings: Settings | None = None, clock: Clock | None = None,
          **overrides: Any) -> App:
    return App(FollowupSettings.of(settings, **overrides), clock)
