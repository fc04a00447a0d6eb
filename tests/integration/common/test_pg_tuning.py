"""deploy/postgres/tuning.sql on the PostgreSQL under FerretDB: every index FerretDB
creates gets a GIN companion that answers its pushed-down `_jsonb->'f' @> v` filters,
statements are planned with their actual parameters so that the index is used, and a
btree that no query uses and that enforces nothing is left empty."""

from __future__ import annotations

import glob
import os
import subprocess

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from services.common.config import Settings


def psql(sql: str) -> str:
    binary = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
    port = os.environ.get("PG_PORT", "54329")
    return subprocess.run(
        [binary, "-h", "127.0.0.1", "-p", port, "-U", "ferret", "-d", "ferretdb", "-tAc", sql],
        capture_output=True, text=True, check=True).stdout.strip()


def indexes(schema: str) -> list[str]:
    return psql(f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{schema}'").splitlines()


def test_each_ferretdb_index_gets_a_gin_companion_and_loses_it_with_the_index(
        settings: Settings) -> None:
    name = f"{settings.db_prefix}tuning"
    db = MongoClient(settings.mongo_url)[name]
    db.docs.insert_one({"_id": "a", "ward_code": "14362", "place": {"code": "x"}})
    db.docs.create_index([("ward_code", 1), ("status", 1)], name="filters")
    db.docs.create_index("place.code", name="nested")

    gin = [d for d in indexes(name) if "USING gin" in d]
    assert any("(_jsonb -> '_id'::text)" in d for d in gin)
    assert any("(_jsonb -> 'ward_code'::text)" in d and "(_jsonb -> 'status'::text)" in d
               for d in gin)
    # FerretDB filters a dotted path with #> '{place,code}'
    assert any("(_jsonb #> '{place,code}'::text[])" in d for d in gin)

    db.docs.drop_index("filters")
    assert not any("'ward_code'" in d for d in indexes(name))
    assert any("'place'" in d for d in indexes(name))


def test_only_unique_btrees_are_maintained(settings: Settings) -> None:
    """FerretDB filters with @> and sorts only by $natural, so a btree serves it only to
    enforce uniqueness: the others are kept empty (WHERE false), under their names."""
    name = f"{settings.db_prefix}placeholder"
    db = MongoClient(settings.mongo_url)[name]
    db.docs.create_index("code", name="code", unique=True)
    db.docs.create_index([("ward", 1), ("at", -1)], name="plain")
    db.docs.insert_many([{"_id": i, "code": f"c{i}", "ward": "w", "at": i} for i in range(50)])
    btrees = [d for d in indexes(name) if "USING btree" in d]
    assert [d for d in btrees if "'code'" in d and "UNIQUE" in d and "WHERE" not in d]
    assert [d for d in btrees if "'_id'" in d and "UNIQUE" in d and "WHERE" not in d]
    [plain] = [d for d in btrees if "'ward'" in d]
    assert plain.endswith("WHERE false")
    assert any("'ward'" in d and "USING gin" in d for d in indexes(name))
    with pytest.raises(DuplicateKeyError):
        db.docs.insert_one({"_id": 99, "code": "c7"})
    assert [d["_id"] for d in db.docs.find({"ward": "w", "at": {"$gte": 47}}).sort("at", -1)] \
        == [49, 48, 47]
    assert set(db.docs.index_information()) == {"_id_", "code", "plain"}
    db.docs.drop_index("plain")
    assert not any("'ward'" in d for d in indexes(name))


def test_statements_are_planned_with_their_parameters() -> None:
    # A generic plan of `_jsonb->$1 @> $2` cannot use an index on `_jsonb->'field'`.
    assert psql("SHOW plan_cache_mode") == "force_custom_plan"


def test_an_equality_filter_uses_the_companion(settings: Settings) -> None:
    name = f"{settings.db_prefix}plan"
    db = MongoClient(settings.mongo_url)[name]
    db.docs.insert_many([{"_id": f"p{i}", "ward_code": str(i % 50)} for i in range(2000)])
    table = psql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{name}' "
                 "AND tablename LIKE 'docs%'")
    qualified = f'"{name}"."{table}"'
    plan = psql(f"ANALYZE {qualified}; EXPLAIN SELECT _jsonb FROM {qualified} "
                "WHERE _jsonb->'_id' @> '\"p17\"'")
    assert "Index Scan" in plan and "Seq Scan" not in plan


def test_a_gin_only_index_takes_arrays_too_long_for_a_btree(settings: Settings) -> None:
    name = f"{settings.db_prefix}ginonly"
    db = MongoClient(settings.mongo_url)[name]
    db.docs.create_index("terms", name="gin_only_terms")
    db.docs.create_index("other", name="plain")
    many = [f"tu{i:05d}xyz" for i in range(2000)]  # ~30 kB: far over a btree entry's 2.7 kB
    db.docs.insert_one({"_id": "long", "terms": many})
    defs = indexes(name)
    assert all(d.endswith("WHERE false") for d in defs if "'terms'" in d and "btree" in d)
    assert any("'terms'" in d and "USING gin" in d for d in defs)
    assert db.docs.find_one({"terms": "tu01999xyz"})["_id"] == "long"
    assert "gin_only_terms" in db.docs.index_information()
    db.docs.drop_index("gin_only_terms")  # FerretDB finds the placeholder to drop
    assert not any("'terms'" in d for d in indexes(name))
