"""Issue 19: voter counts imported per commune (CSV, source and date recorded) and
confirmed requesters triggering the 10 % rule, on real FerretDB and Kafka."""

from __future__ import annotations

from datetime import date

from services.common.contracts.scheduling import TOPIC
from services.rules_cli import import_voters
from tests.helpers import events_on
from tests.integration.scheduling.test_oversight import R, _confirmed, _request

CSV = "ward_code,voters\n14428,20\n14329,\"42.000\"\n99999,10\n14464,abc\n"
SOURCE = "Danh sách cử tri bầu cử ĐBQH và HĐND 2026"


def test_voter_count_import_records_source_and_date(api, clock, tmp_path):
    path = tmp_path / "voters.csv"
    path.write_text(CSV, encoding="utf-8")
    stored, errors = import_voters(api.built.kit.db, str(path), SOURCE, date(2026, 3, 15),
                                   clock())
    assert stored == 2
    assert errors == ["line 4: unknown commune code '99999'",
                      "line 5: voters 'abc' is not a positive number"]
    r = api.get("/api/v1/compliance?province_code=37&year=2026", roles=("auditor",))
    rows = {row["ward_code"]: row for row in r.json["items"]}
    assert rows["14428"]["voter_count"] == 20
    assert rows["14428"]["voter_count_source"] == SOURCE
    assert rows["14428"]["voter_count_as_of"] == "2026-03-15"
    assert rows["14329"]["voter_count"] == 42000
    # the registry file still counts; everything else is shown missing, not 8,000
    assert rows["14482"]["voter_count"] == 17300 and rows["14482"]["voter_count_source"] \
        == "voters.yaml"
    assert rows["14500"]["voter_count"] is None and rows["14500"]["voter_count_missing"]
    assert r.json["voter_counts_missing"] == 129 - 5
    unknown = _request(api, 1, ward="14500")
    assert unknown.json["voter_count"] is None and unknown.json["threshold"] is None
    assert unknown.json["voter_count_missing"] and not unknown.json["dialogue_required"]


def test_confirmed_requests_trigger_the_ten_percent(api, clock, tmp_path):
    path = tmp_path / "voters.csv"
    path.write_text("ward_code,voters\n14428,20\n", encoding="utf-8")
    import_voters(api.built.kit.db, str(path), SOURCE, date(2026, 3, 15), clock())
    for n in (1, 2, 3):  # three ask, nobody confirms: nothing counts
        asked = _request(api, n, ward="14428")
        assert asked.json["threshold"] == 2 and asked.json["requester_count"] == 0
    assert not asked.json["dialogue_required"]
    assert _confirmed(api, 4, ward="14428").json["requester_count"] == 1
    done = _confirmed(api, 5, ward="14428")
    assert done.json["requester_count"] == 2 and done.json["dialogue_required"] is True
    required = [e for e in events_on(api.settings, TOPIC) if e["type"] == "dialogue.required"]
    assert len(required) == 1 and required[0]["data"]["voter_count"] == 20
    # a code that is wrong five times is spent
    rid = _request(api, 9, ward="14428").json["request_id"]
    for _ in range(5):
        assert api.post(f"{R}/{rid}/confirm", {"code": "999999"},
                        roles=()).status_code in (409, 422)
    assert api.post(f"{R}/{rid}/confirm", {"code": "123456"}, roles=()).status_code == 409


def test_cli_imports_a_csv(api, tmp_path, monkeypatch, capsys):
    from services.cli import main

    path = tmp_path / "voters.csv"
    path.write_text("ward_code,voters\n14428,20\n", encoding="utf-8")
    monkeypatch.setenv("MONGO_URL", api.settings.mongo_url)
    monkeypatch.setenv("DB_PREFIX", api.settings.db_prefix)
    assert main(["voters", "import", str(path), "--source", SOURCE, "--date", "2026-03-15"]) == 0
    assert "1 communes' voter counts imported" in capsys.readouterr().out
    doc = api.built.kit.db.voter_counts.find_one({"_id": "14428"})
    assert doc["voters"] == 20 and doc["source"] == SOURCE and doc["as_of"] == "2026-03-15"
