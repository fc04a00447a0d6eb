"""The composition root of the intake service."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from flask import Flask

from services.common.clock import Clock
from services.common.contracts.intake import SUBMISSIONS, TOPIC
from services.common.kafka import Consumer
from services.common.kit import Kit
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
class App:
    settings: IntakeSettings
    kit: Kit
    intake: Intake

    def prepare(self) -> None:
        self.kit.prepare(INDEXES, [TOPIC, SUBMISSIONS])

    def web(self) -> Flask:
        self.prepare()
        app = self.kit.app("Intake: petitions and issues", api.BLUEPRINTS,
                           extensions={"intake": self.intake})
        app.register_blueprint(page.blueprint)
        return app

    @cached_property
    def handlers(self) -> dict:
        return handlers.event_handlers(self.intake)

    def consumer(self, **options) -> Consumer:
        return self.kit.consumer(handlers.GROUP, self.handlers, topics=handlers.TOPICS,
                                 **options)


def build(settings: IntakeSettings | None = None, clock: Clock | None = None) -> App:
    settings = settings or IntakeSettings.from_env()
    kit = Kit(settings, DB_NAME, clock=clock)
    intake = Intake(kit, settings, load_taxonomy(settings.categories_file))
    return App(settings, kit, intake)
