"""Import of historic petitions that carry pre-2025 locality codes (province →
district → commune), mapped to the 2025 communes.

The mapping is the conversion table of the General Statistics Office (Bảng chuyển
đổi đơn vị hành chính mới - cũ, 01/07/2025). ``vietnam-provinces`` ships it from
its 2026 releases (``vietnam_provinces._ward_conversion_2025.OLD_TO_NEW``); the
pinned 2025.10.1 ships only the 2025 units, so the operator then gives the same
table as a CSV (``old_ward_code,new_ward_code``, one row per pair). Records that
cannot be mapped to exactly one 2025 commune are reported, never guessed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any

from services.common.localities import UnknownLocality, ward

Mapping = dict[str, list[str]]


def package_mapping() -> Mapping | None:
    """The package's own old → new commune table, when the installed version has it."""
    try:
        from vietnam_provinces._ward_conversion_2025 import OLD_TO_NEW  # type: ignore
    except ImportError:
        return None
    return {f"{old:05d}": [f"{n.code:05d}" for n in entry.new_wards]
            for old, entry in OLD_TO_NEW.items()}


def csv_mapping(path: str) -> Mapping:
    found: Mapping = {}
    with open(path, encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            old = row["old_ward_code"].strip().zfill(5)
            new = row["new_ward_code"].strip().zfill(5)
            if new not in found.setdefault(old, []):
                found[old].append(new)
    return found


def map_locality(legacy: dict[str, Any], mapping: Mapping) -> tuple[dict | None, str | None]:
    """(2025 locality, None) or (None, why it cannot be mapped)."""
    old = str(legacy.get("ward_code") or "").strip()
    if not old:
        return None, "no commune code"
    old = old.zfill(5)
    targets = mapping.get(old)
    if not targets:
        return None, f"commune {old} is not in the conversion table"
    if len(targets) > 1:
        # a commune split between several 2025 units: only a person can tell which
        return None, f"commune {old} was split between {', '.join(sorted(targets))}"
    try:
        unit = ward(targets[0])
    except UnknownLocality:
        return None, f"commune {old} maps to {targets[0]}, unknown in the 2025 list"
    return {"province_code": unit.province_code, "ward_code": unit.code}, None


def read_jsonl(path: str) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, json.loads(line)


def import_records(svc: Any, records: Iterable[tuple[int, dict[str, Any]]],
                   mapping: Mapping) -> dict[str, Any]:
    """Submit each mappable record through intake (idempotent on the record's id);
    report the rest with the reason."""
    from marshmallow import ValidationError

    from services.common.errors import Invalid
    from services.intake.schemas import PetitionIn

    imported, unmapped, refused = 0, [], []
    for number, record in records:
        ref = str(record.get("id") or number)
        locality, why = map_locality(record.get("legacy_locality") or {}, mapping)
        if locality is None:
            unmapped.append({"line": number, "id": ref, "reason": why,
                             "legacy_locality": record.get("legacy_locality")})
            continue
        body = {k: v for k, v in record.items() if k not in ("id", "legacy_locality")}
        body["locality"] = locality
        try:
            data = PetitionIn().load(body)
            doc = svc.submit(data, external=("historic-import", ref))
        except (ValidationError, Invalid) as exc:
            refused.append({"line": number, "id": ref, "reason": str(exc)})
            continue
        # keep where it came from: the old codes stay with the petition
        svc.store.change_petition({"_id": doc["_id"]}, {"$set": {
            "legacy_locality": record.get("legacy_locality")}})
        imported += 1
    return {"imported": imported, "unmapped": unmapped, "refused": refused}
