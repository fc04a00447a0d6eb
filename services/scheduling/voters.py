"""Voter counts per commune for the 10 % rule (Luật Tổ chức chính quyền địa phương 2025,
Điều 43), and the one-time codes that confirm a requester.

Counts come from an imported electoral roll summary (CSV: ``ward_code,voters``), each
with its source and date; the YAML registry of earlier versions is still read. A
commune with no count has no threshold: the compliance report lists it as missing
rather than assuming a figure.
"""

from __future__ import annotations

import csv
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import yaml
from pymongo.database import Database

from services.common.localities import UnknownLocality, ward

COLLECTION = "voter_counts"
CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class Count:
    voters: int
    source: str
    as_of: str | None


def parse_csv(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ``{ward_code, voters, province_code}`` and one line per row refused."""
    rows, errors = [], []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or not {"ward_code", "voters"} <= set(reader.fieldnames):
        return [], ["header must name the columns ward_code and voters"]
    for line, raw in enumerate(reader, start=2):
        code = (raw.get("ward_code") or "").strip().zfill(5)
        try:
            unit = ward(code)
            voters = int((raw.get("voters") or "").replace(".", "").replace(",", "").strip())
            if voters <= 0:
                raise ValueError("not positive")
        except UnknownLocality:
            errors.append(f"line {line}: unknown commune code {raw.get('ward_code')!r}")
            continue
        except ValueError:
            errors.append(f"line {line}: voters {raw.get('voters')!r} is not a positive number")
            continue
        rows.append({"ward_code": code, "voters": voters, "province_code": unit.province_code})
    return rows, errors


def import_counts(db: Database, rows: list[dict[str, Any]], source: str, as_of: date,
                  now: datetime) -> int:
    """Store each commune's count with its source and date; a later import replaces it."""
    for row in rows:
        db[COLLECTION].replace_one({"_id": row["ward_code"]}, {
            "_id": row["ward_code"], "province_code": row["province_code"],
            "voters": row["voters"], "source": source, "as_of": as_of.isoformat(),
            "imported_at": now}, upsert=True)
    return len(rows)


class Voters:
    """Imported counts first, then the YAML registry; None when the count is missing."""

    def __init__(self, path: str, db: Database | None = None) -> None:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        # A "default" figure is deliberately not read: an invented count is worse
        # than a missing one (issue 19).
        self.communes = {str(k): int(v) for k, v in (raw.get("communes") or {}).items()}
        self.path = path
        self.db = db

    def lookup(self, ward_code: str) -> Count | None:
        if self.db is not None:
            doc = self.db[COLLECTION].find_one({"_id": ward_code})
            if doc:
                return Count(doc["voters"], doc["source"], doc.get("as_of"))
        if ward_code in self.communes:
            return Count(self.communes[ward_code], "voters.yaml", None)
        return None

    def count(self, ward_code: str) -> int | None:
        found = self.lookup(ward_code)
        return found.voters if found else None

    def of_province(self, province_code: str) -> dict[str, Count]:
        found = {code: Count(n, "voters.yaml", None) for code, n in self.communes.items()}
        if self.db is not None:
            for doc in self.db[COLLECTION].find({"province_code": province_code}):
                found[doc["_id"]] = Count(doc["voters"], doc["source"], doc.get("as_of"))
        return found


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(keys: Any, request_id: str, code: str) -> str:
    return keys.fingerprint(f"dialogue_request/{request_id}/code/{code}")


def code_matches(keys: Any, request_id: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_hash(keys, request_id, code.strip()), stored)
