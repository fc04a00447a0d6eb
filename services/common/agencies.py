"""Agency names by id, from one YAML file for the whole platform (``agencies.yaml`` next to
this module, or a province's own file): the portal shows them, scheduling prints them in
its documents. Agencies are known everywhere else by id only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("agencies.yaml")


def load(path: str | Path | None = None) -> dict[str, str]:
    """``{agency_id: name}`` from ``path`` (empty: the bundled list). A mapping under a
    top-level ``agencies:`` key is read too, the shape scheduling's file used to have."""
    return dict(_read(str(path or DEFAULT_FILE)))


@lru_cache(maxsize=8)
def _read(path: str) -> dict[str, str]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if isinstance(raw.get("agencies"), dict):
        raw = raw["agencies"]
    return {str(k): str(v) for k, v in raw.items()}

