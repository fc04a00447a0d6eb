"""The channel a citizen chooses at submission travels sealed to notify (issue 16)."""

from __future__ import annotations

from services.common.crypto import DEV_CONTACT_PRIVATE, unseal
from tests.helpers import events_on
from tests.integration.intake.conftest import petition


def _contact(built, petition_id: str) -> tuple[dict, dict]:
    envelopes = events_on(built.settings, "intake.petitions", min_count=1)
    received = next(e for e in envelopes if e["type"] == "petition.received"
                    and e["data"]["petition_id"] == petition_id)
    event_contact = received["data"]["contact"]
    return event_contact, unseal(DEV_CONTACT_PRIVATE, event_contact["contact_token"])


def test_zalo_chosen_and_no_choice(client, built):
    person = {"full_name": "Phạm Văn Hùng", "phone": "0912 345 678",
              "consent_notifications": True, "preferred_channel": "zalo"}
    resp = client.post("/api/v1/petitions", json=petition(petitioner=person))
    assert resp.status_code == 201, resp.json
    event_contact, sealed = _contact(built, resp.json["id"])
    assert sealed["channel"] == "zalo" and event_contact["preferred_channel"] == "zalo"

    # Not given: nothing chosen (notify then uses SMS, and e-mail when there is one).
    resp = client.post("/api/v1/petitions", json=petition())
    event_contact, sealed = _contact(built, resp.json["id"])
    assert sealed.get("channel") is None and event_contact["preferred_channel"] is None

    bad = client.post("/api/v1/petitions",
                      json=petition(petitioner={**person, "preferred_channel": "fax"}))
    assert bad.status_code == 422 and "petitioner" in str(bad.json["errors"])
