"""Rules of the intake domain: tracking codes, status machine, due dates, validation."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.common.contracts.intake import PETITION_STATUS_VI
from services.common.errors import Conflict, Invalid
from services.intake import domain
from services.intake.domain import ALPHABET, BadCode, Taxonomy, parse_code

ROOT = Path(__file__).resolve().parents[3]


def sample_codes(n: int = 300) -> list[str]:
    rng = random.Random(7)
    codes = []
    for _ in range(n):
        body = "".join(rng.choice(ALPHABET) for _ in range(domain.BODY))
        codes.append(body + domain.check_char(body))
    return codes


def test_code_shape_and_alphabet():
    code = domain.new_code()
    assert len(code) == 9 and code[4] == "-"
    assert not set("0O1IL") & set(code)
    assert parse_code(code) == code
    assert parse_code(code.lower().replace("-", " ")) == code
    assert parse_code(f"NB-{code}") == f"NB-{code}"


def test_every_single_substitution_is_caught():
    for symbols in sample_codes():
        for i, original in enumerate(symbols):
            for other in ALPHABET:
                if other == original:
                    continue
                typo = symbols[:i] + other + symbols[i + 1:]
                with pytest.raises(BadCode):
                    parse_code(typo)


def test_every_adjacent_transposition_is_caught():
    for symbols in sample_codes():
        for i in range(len(symbols) - 1):
            if symbols[i] == symbols[i + 1]:
                continue
            swapped = symbols[:i] + symbols[i + 1] + symbols[i] + symbols[i + 2:]
            with pytest.raises(BadCode):
                parse_code(swapped)


@pytest.mark.parametrize("raw", ["", "ABCD", "0OOO-1111", "ABCD-EFGH-JK", "AB$D-EFGH"])
def test_malformed_codes(raw):
    with pytest.raises(BadCode):
        parse_code(raw)


def test_codes_are_random_enough():
    assert len({domain.new_code() for _ in range(2000)}) == 2000


def test_status_machine_happy_path():
    status = domain.RECEIVED
    for action in ("accept", "assign", "answer", "reopen", "assign", "answer", "close"):
        _, status = domain.transition(status, action)
    assert status == domain.CLOSED


@pytest.mark.parametrize(("status", "action"), [
    ("received", "close"), ("received", "reopen"), ("closed", "accept"),
    ("rejected", "accept"), ("withdrawn", "withdraw"), ("answered", "withdraw"),
    ("accepted", "accept"), ("closed", "reopen"), ("answered", "reject"),
])
def test_illegal_transitions_conflict(status, action):
    with pytest.raises(Conflict) as err:
        domain.transition(status, action)
    assert "Không thể" in err.value.detail_vi


def test_reclassify_keeps_status():
    assert domain.transition("accepted", "reclassify")[1] == "accepted"


def test_reopen_window():
    answered = datetime(2026, 3, 1, tzinfo=UTC)
    domain.check_reopen(answered, answered + timedelta(days=29), 30)
    with pytest.raises(Conflict):
        domain.check_reopen(answered, answered + timedelta(days=31), 30)
    with pytest.raises(Conflict):
        domain.check_reopen(None, answered, 30)


def test_due_date_calendar_days():
    # 23:30 UTC on 31 Dec is already 1 Jan in Vietnam.
    start = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    # 30 days -> Sat 31/01/2026, a day off: ends Mon 02/02 (Civil Code art. 148(5))
    assert domain.due_date(start, 30, False) == date(2026, 2, 2)
    assert domain.due_date(start, 29, False) == date(2026, 1, 30)


def test_due_date_working_days_skip_tet():
    # Tết 2026: Lunar New Year is 17 Feb; Mon 16 – Fri 20 Feb are holidays, so one
    # working day after Friday 13 Feb is Monday 23 Feb.
    start = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)
    due = domain.due_date(start, 1, True)
    assert due == date(2026, 2, 23)
    # 15 working days from Monday 2 Mar 2026 (no holiday) is Monday 23 Mar.
    assert domain.due_date(datetime(2026, 3, 2, 2, tzinfo=UTC), 15, True) == date(2026, 3, 23)


def test_heat_formula():
    assert domain.heat(recent=10, distinct=6, last_week=5, week_before=2) == 22.0
    assert domain.heat(recent=3, distinct=3, last_week=0, week_before=3) == 6.0


def valid(**overrides):
    data = {"kind": "feedback", "title": "  Đường  ngập ", "content": "Nội dung đủ dài",
            "category": None, "locality": {"province_code": "37", "ward_code": "14464"},
            "petitioner": {"phone": "0912 345 678", "consent_notifications": True},
            "attachments": []}
    data.update(overrides)
    return data


def test_check_submission_normalises():
    out = domain.check_submission(valid())
    assert out["title"] == "Đường ngập"
    assert out["petitioner"]["phone"] == "+84912345678"


def test_check_submission_nfc():
    decomposed = "Đường ngập".replace("ờ", "ờ")  # o + horn + grave, decomposed
    out = domain.check_submission(valid(title=decomposed))
    assert out["title"] == "Đường ngập"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"locality": {"province_code": "99", "ward_code": None}}, "locality.province_code"),
    ({"locality": {"province_code": "01", "ward_code": "14464"}}, "locality.ward_code"),
    ({"petitioner": {"phone": "12345", "consent_notifications": True}}, "petitioner.phone"),
    ({"petitioner": {"consent_notifications": True}}, "petitioner.phone"),
    ({"attachments": [{"name": "a.exe", "content_type": "application/x-msdownload",
                       "size": 10, "url": "https://x.vn/a"}]}, "attachments.0.content_type"),
    ({"attachments": [{"name": "a.pdf", "content_type": "application/pdf",
                       "size": 300 * 1024 * 1024, "url": "https://x.vn/a"}]}, "attachments.0.size"),
])
def test_check_submission_names_the_bad_field(overrides, field):
    with pytest.raises(Invalid) as err:
        domain.check_submission(valid(**overrides))
    assert field in err.value.extra["errors"]
    assert err.value.detail_vi


def test_email_is_enough_for_consent():
    out = domain.check_submission(valid(petitioner={"email": "A@B.vn",
                                                    "consent_notifications": True}))
    assert out["petitioner"]["email"] == "a@b.vn"


def taxonomy() -> Taxonomy:
    with open(ROOT / "services/intake/categories.yaml", encoding="utf-8") as handle:
        return Taxonomy.from_config(yaml.safe_load(handle))


def test_taxonomy_has_domain_categories_in_vietnamese():
    names = taxonomy().names
    assert {"land", "environment", "social_policy", "infrastructure", "administrative",
            "civil_status", "construction", "labour", "security"} <= set(names)
    assert names["land"] == "Đất đai"


@pytest.mark.parametrize(("title", "content", "category"), [
    ("Trại lợn gây ô nhiễm", "Mùi hôi thối từ trại lợn", "environment"),
    ("Chưa được cấp sổ đỏ", "Gia đình chưa được cấp giấy chứng nhận quyền sử dụng đất",
     "land"),
    ("duong lang xuong cap", "duong be tong o ga nhieu", "infrastructure"),
    ("Công ty nợ lương công nhân", "Ba tháng chưa trả lương", "labour"),
    ("Xin chào", "Không có gì", "other"),
])
def test_classify(title, content, category):
    assert taxonomy().classify(title, content) == category


def test_classify_quality_on_labelled_data():
    import json

    tax = taxonomy()
    text = (ROOT / "tests/data/petitions.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    right = sum(tax.classify(r["title"], r["content"]) == r["category"] for r in rows)
    assert right / len(rows) >= 0.7


def test_heat_of_days_counts_whole_days_in_each_span():
    now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội, still the 28th in UTC

    def ago(days: int) -> str:
        return (now - timedelta(days=days)).date().isoformat()
    daily = {ago(0): 2, ago(6): 1, ago(7): 3, ago(13): 1, ago(14): 4, ago(29): 1, ago(30): 5}
    # window 30 days: ages 0..29 -> 2+1+3+1+4+1 = 12; last week 3; week before 4 -> growth 0
    assert domain.heat_of_days(daily, 5, now, 30) == 12 + 5
    # a growing issue: 6 this week against 1 the week before
    assert domain.heat_of_days({ago(1): 6, ago(8): 1}, 2, now, 30) == 7 + 2 + 2 * 5
    assert domain.heat_of_days({}, 3, now, 30) == 3


def test_stale_days_are_those_no_heat_reads():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    daily = {"2026-11-28": 1, "2026-10-30": 1, "2026-10-29": 1, "2026-01-01": 1}
    assert sorted(domain.stale_days(daily, now, 30)) == ["2026-01-01", "2026-10-29"]
    # a window shorter than two weeks still keeps the fortnight growth needs
    assert domain.stale_days({"2026-11-15": 1, "2026-11-14": 1}, now, 3) == ["2026-11-14"]


# --- transitions as updates (domain.guard / domain.step) ---------------------------
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_step_moves_the_status_and_writes_history():
    update = domain.step("received", "accept", NOW, note="Đủ điều kiện",
                         set_={"accepted_at": NOW})
    assert update["$set"] == {"status": "accepted", "updated_at": NOW, "accepted_at": NOW}
    assert update["$push"] == {"history": {"status": "accepted", "at": NOW,
                                           "note": "Đủ điều kiện"}}


def test_step_keeping_the_status_writes_history_only_with_a_note():
    assert "$push" not in domain.step("accepted", "reclassify", NOW)
    noted = domain.step("accepted", "reclassify", NOW, note="Sai lĩnh vực")
    assert noted["$set"]["status"] == "accepted"
    assert noted["$push"]["history"]["status"] == "accepted"


def test_step_of_a_consumed_event_records_it():
    update = domain.step("accepted", "assign", NOW, cause="evt-1")
    assert update["$push"]["events_seen"] == "evt-1"
    assert update["$set"]["status"] == "assigned"


def test_guard_names_the_allowed_statuses_and_the_event():
    doc = {"_id": "p1", "status": "answered"}
    assert domain.guard(doc, "close") == {
        "_id": "p1", "status": {"$in": ["answered", "accepted", "assigned"]}}
    assert domain.guard(doc, "resume", "evt-2")["events_seen"] == {"$ne": "evt-2"}
    with pytest.raises(Conflict):
        domain.guard({"_id": "p1", "status": "closed"}, "answer")


def test_targets_are_statuses_of_the_shared_vocabulary():
    for action, (_, target) in domain.TRANSITIONS.items():
        assert domain.target(action) == target
        assert target == "" or target in PETITION_STATUS_VI
    assert domain.allows("reopened", "resume") and not domain.allows("closed", "resume")


def test_a_change_of_kind_moves_a_petition_out_of_or_into_issues():
    from services.intake.petitions import grouping_change

    feedback = {"kind": "feedback", "issue_id": "i1"}
    assert grouping_change(feedback, "denunciation") == {
        "$set": {"issue_id": None}, "$unset": {"ungrouped": ""}}
    assert grouping_change({"kind": "denunciation"}, "complaint") == {
        "$set": {"ungrouped": True}}
    assert grouping_change(feedback, "complaint") == {}
