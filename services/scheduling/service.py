"""The service layer of scheduling, one module per use case, composed here:

- ``planning``: create, announce, reschedule and cancel dialogues, edit their agendas
  (with the host and venue clash check under a named mutex);
- ``holding``: hold a dialogue and issue its conclusion notice;
- ``programmes``: annual programmes;
- ``dialogue_requests``: citizens' requests, one-time codes and the 10 % trigger;
- ``agenda``: the agenda-candidate read model fed by intake's events;
- ``views``: every read (dialogues, programmes, candidates, compliance, reports);
- ``receptions``: citizen reception days.

The rules live in ``domain`` and ``notices`` (plain Python, unit-tested without
servers); every query in ``store``. ``Scheduling`` gives the HTTP views and the
documents one entry point per command, under the names the API has always used.
"""

from __future__ import annotations

from datetime import datetime

from services.common.kit import Kit
from services.common.outbox import Outbox
from services.scheduling.agenda import AgendaModel
from services.scheduling.dialogue_requests import REQUESTERS_ON_BEHALF, Requests
from services.scheduling.holding import Holding
from services.scheduling.planning import Planning
from services.scheduling.programmes import Programmes
from services.scheduling.receptions import Receptions
from services.scheduling.settings import SchedulingSettings
from services.scheduling.store import Store
from services.scheduling.views import Views
from services.scheduling.voters import Voters

__all__ = ["REQUESTERS_ON_BEHALF", "Scheduling"]


class Scheduling:
    def __init__(self, kit: Kit, store: Store, outbox: Outbox,
                 settings: SchedulingSettings) -> None:
        self.kit = kit
        self.store = store
        self.settings = settings
        self.voters = Voters(settings.voters_file, kit.db)
        parts = (kit, store, outbox, settings)
        self.planning = Planning(*parts)
        self.holding = Holding(*parts)
        self.programmes = Programmes(*parts)
        self.requests = Requests(*parts, voters=self.voters)
        self.views = Views(*parts, voters=self.voters)
        self.agenda = AgendaModel(store)
        self.receptions = Receptions(kit.db, kit.clock, kit.audit)

        # The entry points of the HTTP views (api.py) and of the documents.
        self.create_dialogue = self.planning.create
        self.announce = self.planning.announce
        self.reschedule = self.planning.reschedule
        self.cancel = self.planning.cancel
        self.add_agenda_item = self.planning.add_item
        self.remove_agenda_item = self.planning.remove_item
        self.reorder_agenda = self.planning.reorder
        self.hold = self.holding.hold
        self.conclude = self.holding.conclude
        self.create_programme = self.programmes.create
        self.programme = self.programmes.get
        self.publish_programme = self.programmes.publish
        self.request_dialogue = self.requests.request
        self.confirm_request = self.requests.confirm
        self.dialogue = self.views.dialogue
        self.list_dialogues = self.views.list_dialogues
        self.list_programmes = self.views.list_programmes
        self.candidates = self.views.candidates
        self.suggest_agenda = self.views.suggest
        self.compliance = self.views.compliance
        self.report = self.views.report

    @property
    def now(self) -> datetime:
        return self.planning.now
