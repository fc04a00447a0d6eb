"""Settings of the follow-up service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.config import ConfigError, Settings, setting


@dataclass(frozen=True)
class FollowupSettings(Settings):
    service: str = setting("SERVICE_NAME", "followup", "service name, used as event source")
    reminder_working_days: int = setting(
        "FOLLOWUP_REMINDER_WORKING_DAYS", 3,
        "send commitment.deadline_approaching this many working days before the deadline",
        low=0, high=60)
    escalation_steps: str = setting(
        "FOLLOWUP_ESCALATION_STEPS", "5,15",
        "working days late at which commitment.escalated is sent, one level per step")
    default_working_days: int = setting(
        "FOLLOWUP_DEFAULT_WORKING_DAYS", 30,
        "deadline of a conclusion that gives neither deadline nor working_days", low=1, high=365)
    sweep_seconds: int = setting("FOLLOWUP_SWEEP_SECONDS", 60,
                                 "seconds between deadline sweeps", low=1, high=86400)
    agency_metadata_max_age_ms: int = setting(
        # An agency may report minutes after its first assignment creates its topic;
        # one metadata request every few seconds is cheap even with many agencies.
        "FOLLOWUP_AGENCY_METADATA_MAX_AGE_MS", 5_000,
        "how often the agency-report consumer looks for new agency topics", low=100,
        high=600_000)

    @property
    def steps(self) -> tuple[int, ...]:
        return parse_steps(self.escalation_steps)

    def validate(self) -> None:
        super().validate()
        parse_steps(self.escalation_steps)


def parse_steps(raw: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"FOLLOWUP_ESCALATION_STEPS={raw!r}: comma-separated numbers") from None
    if not steps or any(s < 1 for s in steps) or list(steps) != sorted(set(steps)):
        raise ConfigError(f"FOLLOWUP_ESCALATION_STEPS={raw!r}: increasing positive numbers")
    return steps


def followup_settings(base: Settings | None = None, **overrides: Any) -> FollowupSettings:
    """``FollowupSettings.of`` (kept for the callers that import it)."""
    return FollowupSettings.of(base, **overrides)
