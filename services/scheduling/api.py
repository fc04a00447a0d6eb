"""HTTP API of the scheduling service. Views parse, authorise, call the service, serialise."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.common import auth
from services.common.auth import EDITORS, check_filter
from services.common.auth import OFFICERS as VIEWERS
from services.common.errors import Invalid
from services.common.schemas import page, window
from services.scheduling import schemas as s
from services.scheduling.documents.api import documents
from services.scheduling.service import Scheduling

dialogues = Blueprint("dialogues", __name__, url_prefix="/api/v1",
                      description="Dialogues, their agendas and their lifecycle")
programmes = Blueprint("programmes", __name__, url_prefix="/api/v1",
                       description="Annual programmes of dialogues")
requests_ = Blueprint("dialogue_requests", __name__, url_prefix="/api/v1",
                      description="Citizens asking for a dialogue in their commune")
oversight = Blueprint("oversight", __name__, url_prefix="/api/v1",
                      description="Agenda candidates, compliance and reports")

receptions = Blueprint("reception_days", __name__, url_prefix="/api/v1",
                       description="Citizen reception days of Party heads (Quy định 11-QĐi/TW)")

BLUEPRINTS = [dialogues, programmes, requests_, oversight, documents, receptions]


def svc() -> Scheduling:
    return current_app.extensions["scheduling"]


# --- dialogues ---------------------------------------------------------------

@dialogues.route("/dialogues")
class Dialogues(MethodView):
    @auth.require(*EDITORS, write=True)
    @dialogues.arguments(s.DialogueIn)
    @dialogues.response(201, s.DialogueOut)
    def post(self, data: dict[str, Any]):
        """Create a draft dialogue."""
        return svc().create_dialogue(auth.current(), data)

    @auth.require(*VIEWERS)
    @dialogues.arguments(s.DialogueArgs, location="query")
    @dialogues.response(200, s.DialoguePage)
    def get(self, args: dict[str, Any]):
        """Dialogues in your scope, latest start first (a filter outside it: 403)."""
        check_filter(args)
        items, total = svc().list_dialogues(auth.current(), args)
        return page(items, total, args)


@dialogues.route("/dialogues/<dialogue_id>")
class DialogueView(MethodView):
    @auth.require(*VIEWERS)
    @dialogues.response(200, s.DialogueOut)
    def get(self, dialogue_id: str):
        return svc().dialogue(auth.current(), dialogue_id)


@dialogues.post("/dialogues/<dialogue_id>/announce")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.AnnounceIn)
@dialogues.response(200, s.DialogueOut)
def announce(data: dict[str, Any], dialogue_id: str):
    """Publish the notice: at least 7 days ahead, or ad hoc with a reason."""
    return svc().announce(auth.current(), dialogue_id, data.get("reason"))


@dialogues.post("/dialogues/<dialogue_id>/reschedule")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.RescheduleIn)
@dialogues.response(200, s.DialogueOut)
def reschedule(data: dict[str, Any], dialogue_id: str):
    return svc().reschedule(auth.current(), dialogue_id, data)


@dialogues.post("/dialogues/<dialogue_id>/cancel")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.CancelIn)
@dialogues.response(200, s.DialogueOut)
def cancel(data: dict[str, Any], dialogue_id: str):
    return svc().cancel(auth.current(), dialogue_id, data["reason"])


@dialogues.post("/dialogues/<dialogue_id>/hold")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.HoldIn)
@dialogues.response(200, s.DialogueOut)
def hold(data: dict[str, Any], dialogue_id: str):
    """Record that the dialogue took place (from its start time on)."""
    return svc().hold(auth.current(), dialogue_id, data)


@dialogues.post("/dialogues/<dialogue_id>/conclude")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.ConcludeIn)
@dialogues.response(200, s.DialogueOut)
def conclude(data: dict[str, Any], dialogue_id: str):
    """Issue the conclusion notice; more than 10 days after the dialogue is flagged late."""
    return svc().conclude(auth.current(), dialogue_id, data)


@dialogues.post("/dialogues/<dialogue_id>/agenda-items")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.AgendaItemIn)
@dialogues.response(201, s.DialogueOut)
def add_item(data: dict[str, Any], dialogue_id: str):
    return svc().add_agenda_item(auth.current(), dialogue_id, data)


@dialogues.delete("/dialogues/<dialogue_id>/agenda-items/<item_id>")
@auth.require(*EDITORS, write=True)
@dialogues.response(200, s.DialogueOut)
def remove_item(dialogue_id: str, item_id: str):
    return svc().remove_agenda_item(auth.current(), dialogue_id, item_id)


@dialogues.put("/dialogues/<dialogue_id>/agenda-order")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.ReorderIn)
@dialogues.response(200, s.DialogueOut)
def reorder(data: dict[str, Any], dialogue_id: str):
    """Reorder the agenda: ``item_ids`` lists every item once, in the new order."""
    return svc().reorder_agenda(auth.current(), dialogue_id, data["item_ids"])


@dialogues.post("/dialogues/<dialogue_id>/suggest-agenda")
@auth.require(*EDITORS, write=True)
@dialogues.arguments(s.SuggestIn)
@dialogues.response(200, s.SuggestionsOut)
def suggest(data: dict[str, Any], dialogue_id: str):
    """Propose the hottest open issues of the locality not yet on this agenda."""
    return {"items": svc().suggest_agenda(auth.current(), dialogue_id, data.get("limit"))}


# --- programmes --------------------------------------------------------------

@programmes.route("/programmes")
class Programmes(MethodView):
    @auth.require(*EDITORS, write=True)
    @programmes.arguments(s.ProgrammeIn)
    @programmes.response(201, s.ProgrammeOut)
    def post(self, data: dict[str, Any]):
        return svc().create_programme(auth.current(), data)

    @auth.require(*VIEWERS)
    @programmes.arguments(s.ProgrammeArgs, location="query")
    @programmes.response(200, s.ProgrammePage)
    def get(self, args: dict[str, Any]):
        """Programmes in your scope (a filter outside it: 403)."""
        check_filter(args)
        items, total = svc().list_programmes(auth.current(), args)
        return page(items, total, args)


@programmes.get("/programmes/<programme_id>")
@auth.require(*VIEWERS)
@programmes.response(200, s.ProgrammeOut)
def get_programme(programme_id: str):
    return svc().programme(auth.current(), programme_id)


@programmes.post("/programmes/<programme_id>/publish")
@auth.require(*EDITORS, write=True)
@programmes.response(200, s.ProgrammeOut)
def publish_programme(programme_id: str):
    return svc().publish_programme(auth.current(), programme_id)


# --- dialogue requests -------------------------------------------------------

@requests_.post("/dialogue-requests")
@requests_.arguments(s.DialogueRequestIn)
@requests_.response(201, s.DialogueRequestOut)
def request_dialogue(data: dict[str, Any]):
    """Public: a citizen asks for a dialogue (or the Front files it with a token)."""
    who = auth.bearer()
    client = request.headers.get("X-Forwarded-For", request.remote_addr or "")
    return svc().request_dialogue(who, data, client.split(",")[0].strip())


@requests_.post("/dialogue-requests/<request_id>/confirm")
@requests_.arguments(s.ConfirmIn)
@requests_.response(200, s.DialogueRequestOut)
def confirm_request(data: dict[str, Any], request_id: str):
    """Public: the code sent to the requester's phone; only confirmed requesters count."""
    client = request.headers.get("X-Forwarded-For", request.remote_addr or "")
    return svc().confirm_request(request_id, data["code"], client.split(",")[0].strip())


# --- oversight ---------------------------------------------------------------

@oversight.get("/agenda-candidates")
@auth.require(*VIEWERS)
@oversight.arguments(s.CandidateArgs, location="query")
@oversight.response(200, s.CandidatePage)
def candidates(args: dict[str, Any]):
    """Open issues of a locality not yet on a held dialogue's agenda, hottest first.

    A filter outside your scope: 403."""
    check_filter(args)
    return window(svc().candidates(auth.current(), args.get("province_code"),
                                   args.get("ward_code")), args)


@oversight.get("/compliance")
@auth.require(*VIEWERS)
@oversight.arguments(s.ComplianceArgs, location="query")
@oversight.response(200, s.ComplianceOut)
def compliance(args: dict[str, Any]):
    """One row per commune-level unit: dialogues held, minimum met, requests outstanding.

    A filter outside your scope: 403."""
    check_filter(args)
    return svc().compliance(auth.current(), args["province_code"], args["year"])


@oversight.get("/reports/dialogues")
@auth.require(*VIEWERS)
@oversight.arguments(s.ReportArgs, location="query")
@oversight.response(200, s.ReportOut)
def report(args: dict[str, Any]):
    """Dialogues held, counted by unit, level and kind.

    A filter outside your scope: 403."""
    check_filter(args)
    return svc().report(auth.current(), args["province_code"], args.get("from_"),
                        args.get("to"))


# --- reception days ----------------------------------------------------------

@receptions.post("/reception-days")
@auth.require(*EDITORS, write=True)
@receptions.arguments(s.ReceptionIn)
@receptions.response(201, s.ReceptionOut)
def schedule_reception(data: dict[str, Any]):
    """Put a reception day on the unit's public schedule."""
    return svc().receptions.schedule(auth.current(), data)


@receptions.get("/reception-days")
@receptions.arguments(s.ReceptionArgs, location="query")
@receptions.response(200, s.ReceptionList)
def public_receptions(args: dict[str, Any]):
    """Public: the schedule of reception days of a unit or a province."""
    if args["to"] < args["from_"] or (args["to"] - args["from_"]).days > 366:
        raise Invalid("to", "from..to must span at most a year",
                      detail_vi="Khoảng thời gian không hợp lệ (tối đa một năm).")
    return {"items": svc().receptions.public(args.get("unit_code"), args.get("province_code"),
                                             args["from_"], args["to"])}


@receptions.post("/reception-days/<reception_id>/hold")
@auth.require(*EDITORS, write=True)
@receptions.arguments(s.ReceptionHoldIn)
@receptions.response(200, s.ReceptionOut)
def hold_reception(data: dict[str, Any], reception_id: str):
    """Record that the reception day took place."""
    return svc().receptions.hold(auth.current(), reception_id, data["citizens"])


@receptions.get("/reception-compliance")
@auth.require(*VIEWERS)
@receptions.arguments(s.ReceptionComplianceArgs, location="query")
@receptions.response(200, s.ReceptionComplianceOut)
def reception_compliance(args: dict[str, Any]):
    """Per unit: reception days held in the month against the minimum (1 province, 2 commune).

    A filter outside your scope: 403."""
    check_filter(args)
    return svc().receptions.compliance(auth.current(), args["province_code"], args["month"])
