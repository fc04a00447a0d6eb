"""Who may see a denouncer's identity (Luật Tố cáo 2018, Điều 47 khoản 1 điểm b and
Điều 9 khoản 2: the settling body keeps the denouncer's name, address and signature
confidential). Plain rules applied to what the intake API returns.

Only the roles that receive and settle a denunciation read it: the secretariat
(the office that receives and processes it) and the inspector (``auditor``). The
Front, hosts, agencies and the technical administrator see that a denunciation
exists, its content and status, never who filed it.
"""

from __future__ import annotations

from typing import Any

from services.common.auth import Principal

DENUNCIATION = "denunciation"
IDENTITY_READERS = ("secretariat", "auditor")
HIDDEN = {"confidential": True}


def may_see_identity(kind: str | None, principal: Principal) -> bool:
    return kind != DENUNCIATION or principal.has(*IDENTITY_READERS)


def redact(view: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``view`` without the denouncer's identity when ``principal`` may not see it."""
    if may_see_identity(view.get("kind"), principal):
        return view
    out = {**view, "masked_phone": None}
    if "petitioner" in out:
        out["petitioner"] = dict(HIDDEN)
    if "submitted_by" in out:
        out["submitted_by"] = None
    return out
