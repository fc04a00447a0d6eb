"""Rules of dialogues: notice, clashes, transitions, the 10% rule, notice numbers, lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import Conflict, Invalid
from services.scheduling import domain, notices

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_periodic_and_thematic_need_seven_days_notice():
    for kind in ("periodic", "thematic"):
        domain.check_notice(kind, NOW + timedelta(days=7), NOW, None)
        # 09:00 on 02/03 to 08:00 on 09/03 is 7 calendar days; 23:00 on 08/03 is 6
        domain.check_notice(kind, NOW + timedelta(days=6, hours=23), NOW, None)
        with pytest.raises(Conflict):
            domain.check_notice(kind, NOW + timedelta(days=6, hours=14), NOW, None)
        # a reason does not buy a scheduled dialogue a shorter notice
        with pytest.raises(Conflict):
            domain.check_notice(kind, NOW + timedelta(days=2), NOW, "khẩn")


def test_ad_hoc_may_be_sooner_only_with_a_reason():
    domain.check_notice("ad_hoc", NOW + timedelta(days=1), NOW, "Ngập úng sau mưa lớn")
    with pytest.raises(Conflict):
        domain.check_notice("ad_hoc", NOW + timedelta(days=1), NOW, None)
    with pytest.raises(Conflict):
        domain.check_notice("ad_hoc", NOW + timedelta(days=1), NOW, "   ")
    domain.check_notice("ad_hoc", NOW + timedelta(days=8), NOW, None)


def test_no_notice_for_the_past():
    with pytest.raises(Conflict):
        domain.check_notice("ad_hoc", NOW - timedelta(minutes=1), NOW, "lý do")


def test_transitions_only_in_order():
    assert domain.check_transition("announce", "draft") == "announced"
    assert domain.check_transition("hold", "announced") == "held"
    assert domain.check_transition("conclude", "held") == "concluded"
    assert domain.check_transition("cancel", "draft") == "cancelled"
    assert domain.check_transition("cancel", "announced") == "cancelled"
    assert domain.check_transition("reschedule", "announced") == "announced"
    refused = [("announce", "announced"), ("hold", "draft"), ("conclude", "announced"),
               ("cancel", "held"), ("cancel", "concluded"), ("announce", "cancelled"),
               ("hold", "concluded"), ("reschedule", "held"), ("conclude", "concluded")]
    for action, state in refused:
        with pytest.raises(Conflict):
            domain.check_transition(action, state)


def test_agenda_editable_until_held():
    domain.check_editable("draft")
    domain.check_editable("announced")
    for state in ("held", "concluded", "cancelled"):
        with pytest.raises(Conflict):
            domain.check_editable(state)


def test_hold_only_from_the_start_time():
    domain.check_hold(NOW, NOW)
    with pytest.raises(Conflict):
        domain.check_hold(NOW + timedelta(minutes=1), NOW)


def _dialogue(i, start_h, end_h, host="Nguyễn Văn An", venue="Hội trường UBND xã"):
    locality = {"province_code": "37", "ward_code": "14464"}
    h = {"name": host, "title": "Bí thư Đảng ủy xã"}
    return {"_id": i, "topic": f"t{i}", "starts_at": NOW + timedelta(hours=start_h),
            "ends_at": NOW + timedelta(hours=end_h), "host_key": domain.host_key(h),
            "venue_key": domain.venue_key(venue, locality)}


def test_host_clash_ignores_case_and_diacritics():
    a = _dialogue("a", 0, 2)
    b = _dialogue("b", 1, 3, host="NGUYEN VAN AN", venue="Nhà văn hóa thôn")
    assert domain.clash(a, b) == "host"


def test_venue_clash_and_no_clash_when_apart():
    a = _dialogue("a", 0, 2)
    b = _dialogue("b", 1, 3, host="Trần Thị Bình", venue="hội trường ubnd XÃ")
    assert domain.clash(a, b) == "venue"
    c = _dialogue("c", 2, 4)  # starts when a ends
    assert domain.clash(a, c) is None
    assert domain.clash(a, a) is None


def test_same_venue_name_in_another_commune_is_another_place():
    assert domain.venue_key("Hội trường", {"province_code": "37", "ward_code": "14464"}) != \
        domain.venue_key("Hội trường", {"province_code": "37", "ward_code": "14482"})


def test_clash_names_the_other_dialogue():
    with pytest.raises(Conflict) as info:
        domain.raise_clash("venue", _dialogue("other-id", 0, 1))
    assert info.value.extra["clash"]["dialogue_id"] == "other-id"
    assert info.value.extra["clash"]["type"] == "venue"


@pytest.mark.parametrize("number", ["15/TB-UBND", "15-TB/ĐU", "120-TB/TU", "7/TB-VPUB-NC",
                                    "3/TB-HĐND", "8-TB/VPTU"])
def test_notice_numbers_accepted(number):
    assert notices.check_notice_number(number) == number


def test_notice_number_formats_and_keys():
    state = notices.parse_notice_number("Số: 15/TB-UBND")
    assert state == {"number": "15/TB-UBND", "serial": 15, "body": "UBND", "format": "state"}
    party = notices.parse_notice_number("15-TB/ĐU")
    assert party["format"] == "party" and party["body"] == "ĐU"
    issued = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)  # 01/01/2027 in Vietnam
    assert notices.notice_key("14464", state, issued) == "14464|UBND|2027|15"
    # the same number of another body, or of the same body in another commune, differs
    assert notices.notice_key("14464", party, issued) != notices.notice_key("14464", state, issued)
    assert notices.notice_key("14482", state, issued) != notices.notice_key("14464", state, issued)


# A state body in the Party's format (03-TB/UBND) and the Party's in the state's are wrong.
@pytest.mark.parametrize("number", ["03-TB/UBND", "7-TB/VPUB-NC", "15/TB-ĐU", "TB/ĐU", "15-TB/",
                                    "15-TB/đu", "15-QĐ/UBND", "15/QĐ-UBND", "15-TB/UB ND",
                                    "abc"])
def test_notice_numbers_refused(number):
    with pytest.raises(Invalid) as info:
        notices.check_notice_number(number)
    assert "notice_number" in info.value.extra["errors"]


def test_late_when_issued_more_than_ten_days_after():
    held = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 08:00 on 10/03 in Vietnam
    assert not notices.is_late(held, held + timedelta(days=10))
    assert notices.is_late(held, held + timedelta(days=11))
    # 17:30 UTC on the 20th is already the 21st in Vietnam: late
    assert notices.is_late(held, datetime(2026, 3, 20, 17, 30, tzinfo=UTC))


def test_ten_percent_rule_rounds_up():
    assert domain.request_threshold(8000) == 800
    assert domain.request_threshold(8001) == 801
    assert domain.request_threshold(15) == 2
    assert domain.request_threshold(0) == 1


def test_conclusion_ids_are_stable_and_distinct():
    assert notices.conclusion_id("d1", 0) == notices.conclusion_id("d1", 0)
    assert notices.conclusion_id("d1", 0) != notices.conclusion_id("d1", 1)
    assert notices.conclusion_id("d1", 0) != notices.conclusion_id("d2", 0)


def test_place_and_level_rules():
    domain.check_place("in_person", "Hội trường", None)
    with pytest.raises(Invalid):
        domain.check_place("hybrid", "Hội trường", None)
    with pytest.raises(Invalid):
        domain.check_place("online", None, None)
    with pytest.raises(Invalid):
        domain.check_level("commune", None)
    with pytest.raises(Invalid):
        domain.check_level("province", "14464")


def test_reorder_must_list_every_item_once():
    domain.check_agenda_order(["a", "b"], ["b", "a"])
    for wanted in (["a"], ["a", "a"], ["a", "b", "c"]):
        with pytest.raises(Invalid):
            domain.check_agenda_order(["a", "b"], wanted)


# --- issue 19 ------------------------------------------------------------------------
from datetime import date  # noqa: E402

from services.common.clock import VN_TZ  # noqa: E402


def test_notice_counts_calendar_days_not_hours():
    # announced 01/03 15:00, held 08/03 08:00 Vietnam time: 7 calendar days, 161 hours
    now = datetime(2027, 3, 1, 15, 0, tzinfo=VN_TZ)
    domain.check_notice("periodic", datetime(2027, 3, 8, 8, 0, tzinfo=VN_TZ), now, None)
    with pytest.raises(Conflict):
        domain.check_notice("periodic", datetime(2027, 3, 7, 23, 0, tzinfo=VN_TZ), now, None)


def test_back_dated_notice_needs_a_reason_and_is_only_declared():
    held = datetime(2026, 3, 10, 8, 0, tzinfo=VN_TZ)
    entered = datetime(2026, 4, 20, 9, 0, tzinfo=VN_TZ)
    claimed = datetime(2026, 3, 12, 9, 0, tzinfo=VN_TZ)
    with pytest.raises(Invalid) as info:
        notices.issued_record(held, claimed, entered, None)
    assert "issued_reason" in info.value.extra["errors"]
    record = notices.issued_record(held, claimed, entered, "Nhập bổ sung văn bản giấy")
    assert record["issued_at_basis"] == "declared" and record["recorded_at"] == entered
    # on time by its own claim, late by the record nobody can back-date
    assert record["late_declared"] is False and record["late"] is True
    same_day = notices.issued_record(held, entered.replace(hour=8), entered, None)
    assert same_day["issued_at_basis"] == "recorded" and same_day["issued_reason"] is None


def test_held_but_unconcluded_is_late_after_ten_days():
    held = datetime(2026, 3, 10, 8, 0, tzinfo=VN_TZ)
    assert not notices.results_overdue(held, datetime(2026, 3, 20, 23, 59, tzinfo=VN_TZ))
    assert notices.results_overdue(held, datetime(2026, 3, 21, 0, 0, tzinfo=VN_TZ))


def test_commitment_deadline_not_before_the_notice():
    issued = datetime(2026, 3, 15, 9, 0, tzinfo=VN_TZ)
    notices.check_commitment_deadline(0, date(2026, 3, 15), issued)
    notices.check_commitment_deadline(0, None, issued)
    with pytest.raises(Invalid) as info:
        notices.check_commitment_deadline(2, date(2026, 3, 14), issued)
    assert "conclusions.2.deadline" in info.value.extra["errors"]


FRONT = {"name": "Trần Thị Bình", "title": "Chủ tịch Ủy ban MTTQ Việt Nam xã"}
COUNCIL = {"name": "Lê Văn Cường", "title": "Chủ tịch HĐND xã"}


def test_art_43_conference_needs_the_front_and_the_council():
    domain.check_form("conference", "commune", [FRONT, COUNCIL])
    domain.check_form("conference", "commune", [{"name": "A", "title": "Phó Chủ tịch",
                                                 "body": "front"}, COUNCIL])
    for chairs in ([FRONT], [COUNCIL], []):
        with pytest.raises(Invalid) as info:
            domain.check_form("conference", "commune", chairs)
        assert "co_chairs" in info.value.extra["errors"]
    with pytest.raises(Invalid):
        domain.check_form("conference", "province", [FRONT, COUNCIL])
    # a Party head's dialogue and a voter meeting have no such rule
    domain.check_form("party_head", "commune", [])
    domain.check_form("voter_meeting", "province", [])


def test_bodies_read_from_titles():
    assert domain.body_of(FRONT) == "front"
    assert domain.body_of({"title": "Chủ tịch Hội đồng nhân dân xã"}) == "council"
    assert domain.body_of({"title": "Bí thư Đảng ủy xã"}) == "party"
    assert domain.body_of({"title": "Chủ tịch UBND xã"}) == "committee"
    assert domain.body_of({"title": "Trưởng thôn"}) == "other"
    assert domain.COUNTED_FORMS == ("conference",)


def test_wording_is_grammatical_and_uses_vietnamese_quotes():
    with pytest.raises(Conflict) as info:
        domain.check_transition("hold", "draft")
    assert info.value.detail_vi == \
        "Không thể thực hiện vì cuộc đối thoại đang ở dạng dự thảo."
    with pytest.raises(Conflict) as info:
        domain.raise_clash("host", _dialogue("other-id", 0, 1))
    text = info.value.detail_vi
    assert "«" not in text and "“" in text and text.startswith("Người chủ trì trùng lịch")


def test_form_read_from_the_make_up_when_not_given():
    party = {"name": "A", "title": "Bí thư Đảng ủy xã"}
    chair = {"name": "B", "title": "Chủ tịch UBND xã"}
    assert domain.infer_form("commune", chair, [FRONT, COUNCIL]) == "conference"
    assert domain.infer_form("commune", party, [FRONT]) == "party_head"
    assert domain.infer_form("commune", chair, []) == "other"
    assert domain.infer_form("province", chair, [FRONT, COUNCIL]) == "other"
