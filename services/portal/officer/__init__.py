"""Officers' console, in the order of the work: hot issues -> dialogue planner -> held ->
conclusions -> the agency's commitments -> the Front's judgement -> leaders' overview.
Every call carries the officer's own token, so each service applies its own role and
locality rules; the portal only chooses what to show.

One blueprint (``officer``, under ``/can-bo``) in ``base``; its pages by family:
``issues`` (home, hot issues, leaders' overview), ``dialogues`` (planner, a dialogue's
steps and documents), ``commitments`` (agencies' reports, the Front's judgement).
"""

# Importing the page modules registers their routes on the blueprint.
from services.portal.officer import commitments, dialogues, issues  # noqa: F401
from services.portal.officer.base import blueprint

__all__ = ["blueprint"]
