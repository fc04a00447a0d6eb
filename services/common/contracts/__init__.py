"""Every event type of the system, one module per producing service.

Importing this package registers them all in ``services.common.events.REGISTRY``.
These schemas are the public contract with agencies and with each other
service; ``make contracts`` writes the AsyncAPI document and JSON Schemas from
them.
"""

from services.common.contracts import followup, intake, notify, scheduling  # noqa: F401
