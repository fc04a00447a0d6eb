"""What intake does with each consumed event type: the whole consumed behaviour.

Submissions from external systems are checked here exactly as an HTTP submission
(the API's schema), so the service layer never sees the HTTP schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError

from services.common.contracts.followup import TOPIC as COMMITMENTS
from services.common.contracts.intake import SUBMISSIONS
from services.common.contracts.intake import TOPIC as PETITIONS
from services.common.crypto import CryptoError, unseal
from services.common.errors import Invalid
from services.common.events import Event
from services.common.kafka import Rejected
from services.intake.schemas import PetitionIn
from services.intake.service import Intake

GROUP = "intake"
# Its own petitions topic too: grouping a petition into an issue follows its
# ``petition.received``, off the request path, one consumer per petition's partition.
TOPICS = (SUBMISSIONS, PETITIONS, COMMITMENTS)


def submitted(intake: Intake) -> Callable[[Event], None]:
    """``petition.submitted`` from an external channel: same checks as HTTP."""
    def handle(event: Event) -> None:
        d = event.data
        payload: dict[str, Any] = {k: d.get(k) for k in (
            "kind", "title", "content", "category", "locality", "channel", "attachments")}
        if d.get("petitioner_token"):
            try:
                payload["petitioner"] = unseal(intake.settings.intake_private_keys,
                                               d["petitioner_token"])
            except CryptoError as exc:
                raise Rejected(f"petitioner_token: {exc}") from None
        elif d.get("petitioner"):
            payload["petitioner"] = d["petitioner"]
        try:
            data = PetitionIn().load(payload)
        except ValidationError as exc:
            raise Rejected(f"invalid submission: {exc.messages}") from None
        try:
            intake.submit(data, external=(d["source_system"], d["external_ref"]), cause=event)
        except Invalid as exc:
            raise Rejected(f"invalid submission: {exc.extra.get('errors')}") from None
    return handle


def event_handlers(intake: Intake) -> dict[str, Callable[[Event], None]]:
    return {
        "petition.submitted": submitted(intake),
        "petition.received": intake.on_received,
        "commitment.assigned": intake.on_commitment_assigned,
        "commitment.resolved": intake.on_commitment_resolved,
        "commitment.reopened": intake.on_commitment_reopened,
    }


def batch_handlers(intake: Intake) -> dict[str, Callable[[list[Event]], None]]:
    """A poll's consecutive events of these types go at once (services/common/kafka.py)."""
    return {"petition.received": intake.grouping.on_received_batch}
