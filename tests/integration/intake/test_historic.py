"""Issue 19: historic petitions with pre-2025 codes imported into intake (real FerretDB
and Kafka), with what could not be mapped reported."""

from __future__ import annotations

import json

from services.intake import historic

RECORD = {"kind": "complaint", "title": "Khiếu nại bồi thường đất năm 2023",
          "content": "Gia đình tôi chưa được bồi thường đúng diện tích đất bị thu hồi.",
          "petitioner": {"full_name": "Trần Văn Cũ"}}


def test_historic_import_maps_or_reports(built, tmp_path):
    path = tmp_path / "old.jsonl"
    lines = [{**RECORD, "id": "hn-2023-001",
              "legacy_locality": {"province_code": "35", "district_code": "349",
                                  "ward_code": "13999"}},
             {**RECORD, "id": "hn-2023-002", "legacy_locality": {"ward_code": "13998"}},
             {**RECORD, "id": "hn-2023-003", "legacy_locality": {"ward_code": "55555"}}]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                    encoding="utf-8")
    mapping = {"13999": ["14464"], "13998": ["14464", "14482"]}
    report = historic.import_records(built.intake, historic.read_jsonl(str(path)), mapping)
    assert report["imported"] == 1 and report["refused"] == []
    assert [(u["id"], u["reason"]) for u in report["unmapped"]] == [
        ("hn-2023-002", "commune 13998 was split between 14464, 14482"),
        ("hn-2023-003", "commune 55555 is not in the conversion table")]
    doc = built.kit.db.petitions.find_one({"legacy_locality.ward_code": "13999"})
    assert doc["locality"] == {"province_code": "37", "ward_code": "14464"}
    assert doc["legacy_locality"]["district_code"] == "349" and doc["kind"] == "complaint"
    again = historic.import_records(built.intake, historic.read_jsonl(str(path)), mapping)
    assert again["imported"] == 1
    assert built.kit.db.petitions.count_documents({"legacy_locality": {"$exists": True}}) == 1
