"""The intake service layer, composed of its use cases:

- ``submission.py``: a citizen's side (submit, withdraw, reopen);
- ``grouping.py``: the consumer grouping petitions into issues, heat, trending, sweeps;
- ``petitions.py``: officers' decisions and the changes commitments cause;
- ``issues.py``: merging and splitting issues;
- ``views.py``: look-ups, views and lists.

``Intake`` builds them over one ``Context`` and exposes each command under one name,
for the HTTP API, the event handlers and the worker.
"""

from __future__ import annotations

from functools import cached_property

from services.common.kit import Kit
from services.common.localities import top_level  # noqa: F401  (bench/run.py)
from services.common.ratelimit import RateLimiter
from services.intake.context import Context
from services.intake.domain import Taxonomy
from services.intake.grouping import Grouping
from services.intake.issues import Issues
from services.intake.petitions import Petitions
from services.intake.settings import IntakeSettings
from services.intake.store import bucket_key  # noqa: F401  (bench/run.py)
from services.intake.submission import Submission, external_id, searchable  # noqa: F401
from services.intake.views import Reads


class Intake:
    def __init__(self, kit: Kit, settings: IntakeSettings, taxonomy: Taxonomy) -> None:
        self.ctx = Context(kit, settings, taxonomy)
        self.kit, self.settings, self.taxonomy = kit, settings, taxonomy
        self.store = self.ctx.store
        self.reads = Reads(self.ctx)
        self.grouping = Grouping(self.ctx)
        self.submission = Submission(self.ctx, self.reads)
        self.petitions = Petitions(self.ctx, self.reads, self.grouping)
        self.issues = Issues(self.ctx, self.reads, self.grouping)
        r, g, s, p, i = self.reads, self.grouping, self.submission, self.petitions, self.issues
        # citizens
        self.submit, self.withdraw, self.reopen = s.submit, s.withdraw, s.reopen
        self.citizen_doc, self.citizen_view = r.citizen_doc, r.citizen_view
        # officers
        self.officer_view, self.list_petitions = r.officer_view, r.list_petitions
        self.accept, self.reject, self.close, self.answer = p.accept, p.reject, p.close, p.answer
        self.reclassify, self.correct_kind, self.extend = p.reclassify, p.correct_kind, p.extend
        self.list_issues, self.get_issue = r.list_issues, r.get_issue
        self.merge, self.split = i.merge, i.split
        # the consumer and the worker
        self.on_received, self.group_petition = g.on_received, g.group_petition
        self.sweep_trending, self.sweep_ungrouped = g.sweep_trending, g.sweep_ungrouped
        self.on_commitment_assigned = p.on_commitment_assigned
        self.on_commitment_resolved = p.on_commitment_resolved
        self.on_commitment_reopened = p.on_commitment_reopened

    @property
    def clock(self):
        return self.kit.clock

    @property
    def outbox(self):
        return self.ctx.outbox

    @cached_property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.kit.db, self.settings.public_rate_limit, clock=self.kit.clock)

    @cached_property
    def lookup_limiter(self) -> RateLimiter:
        return RateLimiter(self.kit.db, self.settings.lookup_rate_limit, clock=self.kit.clock)
