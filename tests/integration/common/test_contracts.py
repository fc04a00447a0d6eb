"""The published contracts: AsyncAPI 3 checked by the official parser, JSON Schemas by the
2020-12 meta-schema, and real events checked against the schemas agencies will use."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import jsonschema

from services.common import asyncapi
from services.common.events import REGISTRY, new_event

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = ROOT / "deploy" / "asyncapi" / "validate.mjs"


def test_asyncapi_document_is_valid_for_the_official_parser(tmp_path):
    written = asyncapi.write(tmp_path)
    assert (tmp_path / "asyncapi.json") in written
    node = shutil.which("node")
    assert node, "node is needed for the AsyncAPI parser (make tools)"
    result = subprocess.run([node, str(VALIDATOR), str(tmp_path / "asyncapi.json")],
                            capture_output=True, text=True, timeout=120, cwd=VALIDATOR.parent)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0 and report["valid"], report
    assert report["messages"] == len(REGISTRY.all())
    assert report["channels"] == len(REGISTRY.topics())


def test_every_json_schema_is_valid_2020_12(tmp_path):
    asyncapi.write(tmp_path)
    files = sorted((tmp_path / "schemas").glob("*.json"))
    assert len(files) == len(REGISTRY.all())
    for path in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_real_event_validates_against_its_published_schema_and_bad_one_does_not():
    event = new_event("commitment.resolution_submitted", "c-1", {
        "commitment_id": "c-1", "agency_id": "so-tnmt-37",
        "answer": "Đã nạo vét xong kênh tiêu úng thôn Đông.", "outcome": "resolved"},
        source="agency-system")
    envelope = json.loads(event.to_json())
    schema = asyncapi.envelope_schema(REGISTRY.get("commitment.resolution_submitted"))
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(envelope))
    envelope["data"]["outcome"] = "maybe"
    assert list(validator.iter_errors(envelope))


def test_docs_folder_matches_the_registry():
    """`make contracts` output is committed; it must not drift from the code."""
    docs = ROOT / "docs" / "asyncapi.json"
    assert docs.exists(), "run make contracts"
    assert json.loads(docs.read_text()) == asyncapi.document()


def test_dates_in_schema_are_iso_dates():
    schema = asyncapi.data_schema(REGISTRY.get("commitment.overdue"))
    assert schema["properties"]["deadline"]["format"] == "date"
    event = new_event("commitment.overdue", "c", {
        "commitment_id": "c", "agency_id": "so-xd-37", "conclusion_id": "k",
        "dialogue_id": "d", "text": "Sửa cầu", "deadline": date(2027, 5, 2),
        "locality": {"province_code": "37"}}, source="t")
    jsonschema.validate(json.loads(event.to_json())["data"], schema)
