"""The composition root of the intake service."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from flask import Flask

from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts.intake import SUBMISSIONS, TOPIC
from services.common.kafka import Consumer
from services.common.kit import Job, Kit, ServiceApp
from services.common.outbox import Outbox
from services.intake import api, handlers, page
from services.intake.domain import Taxonomy
from services.intake.service import Intake
from services.intake.settings import IntakeSettings
from services.intake.store import INDEXES

DB_NAME = "intake"
_ROOT = Path(__file__).resolve().parents[2]


def load_taxonomy(path: str) -> Taxonomy:
    file = Path(path)
    if not file.is_absolute() and not file.exists():
        file = _ROOT / path
    with open(file, encoding="utf-8") as handle:
        return Taxonomy.from_config(yaml.safe_load(handle))


@dataclass
class App(ServiceApp):
    TITLE = "Intake: petitions and issues"

    settings: IntakeSettings
    kit: Kit
    intake: Intake

    def indexes(self):
        return INDEXES

    def topics(self):
        return [TOPIC, SUBMISSIONS]

    def blueprints(self):
        return api.BLUEPRINTS

    def extensions(self) -> dict:
        return {"intake": self.intake}

    def upgrade(self) -> None:
        self.intake.store.upgrade_centroids()

    def install(self, app: Flask) -> None:
        app.register_blueprint(page.blueprint)

    @cached_property
    def handlers(self) -> dict:
        return handlers.event_handlers(self.intake)

    def consumer(self, **options) -> Consumer:
        # a poll's consecutive petition.received: one find, one bulk write of petitions
        options.setdefault("batch_handlers", handlers.batch_handlers(self.intake))
        return self.kit.consumer(handlers.GROUP, self.handlers, topics=handlers.TOPICS,
                                 **options)

    def consumers(self) -> list[Consumer]:
        return [self.consumer()]

    def outboxes(self) -> list[Outbox]:
        return [self.intake.outbox]

    def jobs(self) -> list[Job]:
        return [Job("trending-sweep", 60, self.intake.sweep_trending),
                Job("ungrouped-sweep", 60, self.intake.sweep_ungrouped),
                Job("rate-limit-sweep", 60, self.intake.limiter.sweep),
                # the grouping's index of centroids kept fresh off the consumer's path
                Job("centroid-walk", max(self.settings.centroid_trust_seconds, 1.0),
                    self.intake.grouping.walk)]


def build(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = IntakeSettings.of(settings)
    kit = Kit(settings, DB_NAME, clock=clock)
    intake = Intake(kit, settings, load_taxonomy(settings.categories_file))
    return App(settings, kit, intake)
