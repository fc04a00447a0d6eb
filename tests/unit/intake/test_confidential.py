"""Issue 19: a denouncer's identity is visible only to the roles that handle it."""

from __future__ import annotations

from services.common.auth import Principal
from services.intake.confidential import may_see_identity, redact


def who(*roles: str) -> Principal:
    return Principal(sub="o-1", roles=frozenset(roles), province_code="37")


VIEW = {"kind": "denunciation", "masked_phone": "+8491****678",
        "petitioner": {"full_name": "Nguyễn Văn A", "phone": "+84912345678"},
        "submitted_by": {"sub": "front-1", "roles": ["front_officer"]}, "content": "..."}


def test_only_secretariat_and_inspector_see_a_denouncer():
    for role in ("secretariat", "auditor"):
        assert redact(VIEW, who(role)) == VIEW
    for role in ("front_officer", "host", "agency_officer", "admin"):
        out = redact(VIEW, who(role))
        assert out["petitioner"] == {"confidential": True}
        assert out["masked_phone"] is None and out["submitted_by"] is None
        assert out["content"] == "..."  # the matter itself is not hidden
        assert "Nguyễn" not in str(out) and "0912" not in str(out) and "678" not in str(out)


def test_other_kinds_are_not_redacted():
    complaint = {**VIEW, "kind": "complaint"}
    assert redact(complaint, who("front_officer")) == complaint
    assert may_see_identity("feedback", who("host"))
