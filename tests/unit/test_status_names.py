"""The shared status vocabulary names exactly the statuses intake's state machine reaches."""

from services.common.contracts.intake import PETITION_STATUS_VI, PetitionRef
from services.intake import domain


def test_every_named_status_is_one_intake_emits():
    assert set(PETITION_STATUS_VI) == set(domain.STATUSES)
    assert "on_agenda" not in PETITION_STATUS_VI


def test_petition_events_refuse_a_status_nobody_emits():
    ref = {"petition_id": "p1", "tracking_code": "GV-p1",
           "locality": {"province_code": "01", "ward_code": "00004"}}
    assert PetitionRef().validate({**ref, "status": "assigned"}) == {}
    assert set(PetitionRef().validate({**ref, "status": "on_agenda"})) == {"status"}
