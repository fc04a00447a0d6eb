"""The composition root: wires the kit, the store, the service layer and the handlers."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import Flask

from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts.followup import TOPIC
from services.common.contracts.scheduling import TOPIC as DIALOGUES
from services.common.kafka import Consumer, ensure_topics
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.followup import handlers
from services.followup.api import blp
from services.followup.metrics import OverdueCommitments
from services.followup.service import Followup
from services.followup.settings import FollowupSettings, followup_settings
from services.followup.store import INDEXES, Store

DB_NAME = "followup"
GROUP = "followup"
AGENCY_GROUP = "followup-agencies"
AGENCY_PATTERN = r"agency\..+\.reports"


class App:
    """One follow-up process: the web app, the consumers, the relay and the sweeps."""

    def __init__(self, settings: FollowupSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.kit = Kit(settings, DB_NAME, clock=clock)
        self.store = Store(self.kit.db)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.kit.bus, [self.store.commitments, self.store.transitions],
                      clock=self.kit.clock)

    @cached_property
    def service(self) -> Followup:
        return Followup(self.settings, self.store, self.kit.clock, self.kit.audit, self.outbox,
                        lambda topics: ensure_topics(self.settings, topics))

    def prepare(self) -> None:
        self.kit.prepare(INDEXES, [TOPIC, DIALOGUES])
        self.store.upgrade()
        # Agencies assigned work before their feed topic existed get it now: the relay
        # must never wait on a topic that is missing.
        for agency in self.store.agencies():
            self.service.ensure_agency(agency)

    def web(self) -> Flask:
        self.prepare()
        return self.kit.app("Follow-up (commitments)", [blp],
                            extensions={"followup": self.service, "metrics_collectors": [
                                OverdueCommitments(self.store)]})

    def dialogue_consumer(self, **options: Any) -> Consumer:
        return self.kit.consumer(GROUP, handlers.dialogue_handlers(self.service),
                                 topics=[DIALOGUES], **options)

    def agency_consumer(self, **options: Any) -> Consumer:
        options.setdefault("metadata_max_age_ms", self.settings.agency_metadata_max_age_ms)
        return self.kit.consumer(AGENCY_GROUP, handlers.agency_handlers(self.service),
                                 pattern=AGENCY_PATTERN, **options)

    def sweep(self) -> dict[str, int]:
        return self.service.sweep()

    def close(self) -> None:
        self.kit.close()


def build(settings: Settings | None = None, clock: Clock | None = None,
          **overrides: Any) -> App:
    return App(followup_settings(settings, **overrides), clock)
