"""Settings of the scheduling service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common import agencies
from services.common.config import Settings, setting

DEFAULT_VOTERS_FILE = str(Path(__file__).with_name("voters.yaml"))
DEFAULT_AGENCY_NAMES_FILE = str(agencies.DEFAULT_FILE)  # the kit's one list of agencies


@dataclass(frozen=True)
class SchedulingSettings(Settings):
    service: str = setting("SERVICE_NAME", "scheduling",
                           "service name, used as event source and log field")
    voters_file: str = setting("VOTERS_FILE", DEFAULT_VOTERS_FILE,
                               "YAML registry of voter counts per commune (10% request rule)")
    suggest_limit: int = setting("AGENDA_SUGGEST_LIMIT", 5,
                                 "how many hot issues suggest-agenda proposes", low=1, high=50)
    agency_names_file: str = setting("AGENCY_NAMES_FILE", DEFAULT_AGENCY_NAMES_FILE,
                                     "YAML of agency names printed in documents (id -> name)")


def scheduling_settings(base: Settings | None = None, **overrides: Any) -> SchedulingSettings:
    """``SchedulingSettings.of`` (kept for the callers that import it)."""
    return SchedulingSettings.of(base, **overrides)
