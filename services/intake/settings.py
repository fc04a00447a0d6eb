"""Settings of the intake service (on top of the shared ones)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from services.common.config import ConfigError, Settings, setting
from services.intake.clustering import DEFAULT_THRESHOLD

# Development key pair for sealed submissions (petitioner_token). Its public key,
# which external systems seal to in development, is
#   dev:kYRlgAQ+YcToWAPIweXKw5Y6aqxnla7XMROTM/QpsTA=
# (services.common.crypto.public_key_of(DEV_INTAKE_PRIVATE)). Production sets
# INTAKE_PRIVATE_KEYS and hands its public key (public_key_of) to each external system
# that submits; the submission itself is ``petition.submitted`` in docs/asyncapi.json.
DEV_INTAKE_PRIVATE = "dev:" + base64.b64encode(
    hashlib.sha256(b"doithoai-dev-intake").digest()).decode()


@dataclass(frozen=True)
class IntakeSettings(Settings):
    service: str = setting("SERVICE_NAME", "intake", "service name")
    # Petition deadlines are the law's figures with per-province overrides:
    # services/intake/deadlines.py and INTAKE_DEADLINES_FILE.
    categories_file: str = setting("INTAKE_CATEGORIES_FILE", "services/intake/categories.yaml",
                                   "category taxonomy (Vietnamese names and keywords)")
    # Tuned on tests/data/petitions.jsonl (tests/unit/test_clustering_quality.py).
    cluster_threshold: float = setting("INTAKE_CLUSTER_THRESHOLD", DEFAULT_THRESHOLD,
                                       "minimum similarity for a petition to join an issue")
    centroid_trust_seconds: float = setting(
        "INTAKE_CENTROID_TRUST_SECONDS", 5.0,
        "seconds the grouping trusts its in-memory issue centroids of a commune and "
        "category before reading what other processes changed (0: read every time)")
    # A petition's petition.received is published at once and cleared by the grouping's
    # own write; the relay publishes it again only past this (a consumer down or far
    # behind: a duplicate the consumers tolerate), as the ungrouped sweep's margin.
    received_grace_seconds: float = setting(
        "INTAKE_RECEIVED_GRACE_SECONDS", 600.0,
        "seconds the outbox relay leaves a petition's published events to the grouping "
        "that clears them, before publishing them again")
    heat_window_days: int = setting("INTAKE_HEAT_WINDOW_DAYS", 30,
                                    "petitions counted in an issue's heat", low=1, high=365)
    trending_threshold: float = setting("INTAKE_TRENDING_THRESHOLD", 10.0,
                                        "heat at which an issue becomes trending")
    reopen_window_days: int = setting("INTAKE_REOPEN_WINDOW_DAYS", 30,
                                      "days after an answer during which a citizen may reopen",
                                      low=1, high=365)
    lookup_rate_limit: int = setting("INTAKE_LOOKUP_RATE_LIMIT", 60,
                                     "citizen look-ups per client address per minute",
                                     low=1, high=1_000_000)
    intake_private_keys: str = setting(
        "INTAKE_PRIVATE_KEYS", DEV_INTAKE_PRIVATE,
        "X25519 private key(s) 'id:base64[,…]' opening petitioner_token of submissions; "
        "dev public key dev:kYRlgAQ+YcToWAPIweXKw5Y6aqxnla7XMROTM/QpsTA=")

    def validate(self) -> None:
        super().validate()
        from services.common.crypto import parse_keys

        try:
            parse_keys(self.intake_private_keys)
        except ValueError as exc:
            raise ConfigError(f"INTAKE_PRIVATE_KEYS: {exc}") from None
        if not 0.0 < self.cluster_threshold <= 1.0:
            raise ConfigError("INTAKE_CLUSTER_THRESHOLD must be in (0, 1]")

