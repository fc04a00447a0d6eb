"""HTTP API of notify: notifications for officers, the directory for admins, inbound SMS."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from prometheus_client import Counter

from services.common import auth
from services.common.auth import AREA_OFFICERS as READERS
from services.common.auth import AuthError, require
from services.common.errors import Invalid
from services.notify import schemas
from services.notify.directory import agency_entry_id, locality_entry_id
from services.notify.providers import (
    ESMS_DELIVERED,
    ESMS_FAILED,
    callback_signature,
    zalo_signature,
)
from services.notify.service import NotifyService
from services.notify.views import Views

notifications = Blueprint("notifications", __name__, url_prefix="/api/v1/notifications",
                          description="What was sent to whom (masked), and why not")
directory = Blueprint("directory", __name__, url_prefix="/api/v1/directory",
                      description="Contacts of agencies, hosts, secretariats and the Front")
inbound = Blueprint("sms", __name__, url_prefix="/api/v1/sms",
                    description="Webhook for SMS sent to the platform's number")
callbacks = Blueprint("callbacks", __name__, url_prefix="/api/v1/callbacks",
                      description="Delivery reports from eSMS and Zalo, verified")

REPORTS = Counter("notify_delivery_reports_total", "Delivery reports received",
                  ["provider", "result"])


def svc() -> NotifyService:
    return current_app.extensions["notify"]


def views() -> Views:
    return current_app.extensions["notify.views"]


def _scoped(query: dict[str, Any]) -> dict[str, Any]:
    return {**query, **auth.current().scope_filter("locality.")}


# ---------------------------------------------------------------- notifications


@notifications.route("")
class Notifications(MethodView):
    @require(*READERS)
    @notifications.arguments(schemas.NotificationQuery, location="query")
    @notifications.response(200, schemas.NotificationPage)
    def get(self, args: dict[str, Any]):
        """List notifications, newest first, filtered by petition, dialogue, commitment,
        status and channel."""
        page, size = args.pop("page"), args.pop("page_size")
        return views().notifications(_scoped(args), page, size)


def _notification(notification_id: str) -> dict[str, Any]:
    return views().notification(notification_id, _scoped({}))


@notifications.route("/<notification_id>")
class NotificationOne(MethodView):
    @require(*READERS)
    @notifications.response(200, schemas.NotificationDetail)
    def get(self, notification_id: str):
        """One notification with every delivery attempt."""
        return _notification(notification_id)


@notifications.route("/<notification_id>/retry")
class NotificationRetry(MethodView):
    @require("admin", write=True)
    @notifications.response(200, schemas.NotificationDetail)
    def post(self, notification_id: str):
        """Send a failed notification again (admin)."""
        _notification(notification_id)
        return svc().retry(auth.current(), notification_id)


# ---------------------------------------------------------------- directory


def _page(query: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return views().directory_page(query, args["page"], args["page_size"])


def _contact(data: dict[str, Any]) -> dict[str, Any]:
    return {"email": data.get("email"), "phone": data.get("phone")}


def _checked_phone(data: dict[str, Any]) -> None:
    from services.common import phones

    if data.get("phone"):
        try:
            phones.normalize(data["phone"])
        except phones.InvalidPhone as exc:
            raise Invalid("phone", str(exc), detail_vi="Số điện thoại không hợp lệ.") from None


@directory.route("/entries")
class DirectoryEntries(MethodView):
    @require("admin", "auditor")
    @directory.arguments(schemas.DirectoryQuery, location="query")
    @directory.response(200, schemas.DirectoryPage)
    def get(self, args: dict[str, Any]):
        """Every directory entry (agencies and localities), filterable."""
        query = {k: args[k] for k in ("kind", "province_code", "ward_code", "role") if k in args}
        return _page(query, args)


@directory.route("/agencies/<agency_id>")
class AgencyEntry(MethodView):
    @require("admin", "auditor")
    @directory.response(200, schemas.DirectoryEntry)
    def get(self, agency_id: str):
        """One agency's contact."""
        return views().directory_entry(agency_entry_id(agency_id),
                                       "Không tìm thấy cơ quan trong danh bạ.")

    @require("admin", write=True)
    @directory.arguments(schemas.AgencyIn)
    @directory.response(200, schemas.DirectoryEntry)
    def put(self, data: dict[str, Any], agency_id: str):
        """Create or replace an agency's contact (encrypted at rest)."""
        try:
            schemas.AgencyPath().load({"agency_id": agency_id})
        except ValidationError as exc:
            raise Invalid("agency_id", "; ".join(exc.messages["agency_id"])) from None
        _checked_phone(data)
        meta = {"kind": "agency", "agency_id": agency_id, "province_code": None,
                "ward_code": None, "role": None, "name": data["name"]}
        return svc().directory.put(auth.current(), agency_entry_id(agency_id), meta,
                                   _contact(data))

    @require("admin", write=True)
    @directory.response(204)
    def delete(self, agency_id: str):
        """Remove an agency's contact."""
        svc().directory.delete(auth.current(), agency_entry_id(agency_id))


@directory.route("/localities")
class LocalityEntries(MethodView):
    @require("admin", write=True)
    @directory.arguments(schemas.LocalityIn)
    @directory.response(200, schemas.DirectoryEntry)
    def put(self, data: dict[str, Any]):
        """Create or replace the host, secretariat or Front contact of a province or commune."""
        from services.common.localities import UnknownLocality, validate

        try:
            validate(data["province_code"], data.get("ward_code"))
        except UnknownLocality as exc:
            raise Invalid("ward_code" if data.get("ward_code") else "province_code",
                          str(exc), detail_vi="Mã địa bàn không hợp lệ.") from None
        _checked_phone(data)
        entry_id = locality_entry_id(data["province_code"], data.get("ward_code"), data["role"])
        meta = {"kind": "locality", "agency_id": None, "province_code": data["province_code"],
                "ward_code": data.get("ward_code"), "role": data["role"], "name": data["name"]}
        return svc().directory.put(auth.current(), entry_id, meta, _contact(data))


@directory.route("/entries/<entry_id>")
class DirectoryOne(MethodView):
    @require("admin", "auditor")
    @directory.response(200, schemas.DirectoryEntry)
    def get(self, entry_id: str):
        """One entry by id (agency:<id> or locality:<province>:<ward|->:<role>)."""
        return views().directory_entry(entry_id, "Không tìm thấy mục danh bạ.")

    @require("admin", write=True)
    @directory.response(204)
    def delete(self, entry_id: str):
        """Remove an entry."""
        svc().directory.delete(auth.current(), entry_id)


# ---------------------------------------------------------------- inbound SMS


def _check_secret() -> None:
    secret = current_app.extensions["notify"].settings.sms_inbound_secret
    if not secret:
        return
    given = request.headers.get("X-Webhook-Secret", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise AuthError("missing or wrong X-Webhook-Secret")


@inbound.route("/inbound")
class Inbound(MethodView):
    @inbound.doc(requestBody={"content": {
        "application/json": {"schema": schemas.InboundJson},
        "application/x-www-form-urlencoded": {"schema": schemas.InboundTwilio}}})
    @inbound.response(200, schemas.InboundReply)
    def post(self):
        """An SMS to the platform: TT <code> (status), HUY <code> (stop), else help.

        Generic gateways post JSON {from, text, id}; Twilio posts its form fields
        (From, Body, MessageSid) and gets an empty TwiML answer.
        """
        _check_secret()
        twilio = request.mimetype == "application/x-www-form-urlencoded"
        try:
            if twilio:
                data = schemas.InboundTwilio().load(request.form.to_dict())
                sender, text, message_id = data["From"], data["Body"], data["MessageSid"]
            else:
                body = request.get_json(silent=True)
                if not isinstance(body, dict):
                    raise Invalid("_schema", "expected a JSON object {from, text}")
                data = schemas.InboundJson().load(body)
                sender, text, message_id = data["sender"], data["text"], data["id"]
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            error = Invalid(next(iter(messages)), f"invalid fields: {', '.join(sorted(messages))}")
            error.extra = {"errors": messages}  # every bad field, not just the first
            raise error from None
        reply = svc().inbound.sms(sender, text, message_id)
        if twilio:
            return Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                            mimetype="text/xml")
        return {"status": "accepted", "reply": reply}


# ---------------------------------------------------------------- delivery reports


def _refuse(provider: str, why: str):
    REPORTS.labels(provider, "refused").inc()
    raise AuthError(f"delivery report refused: {why}")


@callbacks.route("/esms")
class EsmsReport(MethodView):
    @callbacks.response(200, schemas.ReportAnswer)
    def get(self):
        """eSMS delivery report (GET to the CallbackUrl we gave: ``n`` and ``sig`` are ours,
        ``SMSID, SendStatus, RequestId, telcoid, phonenumber`` are eSMS's)."""
        settings = svc().settings
        args = request.args
        nid, sig = args.get("n", ""), args.get("sig", "")
        want = callback_signature(settings.callback_secret, nid)
        if not nid or not hmac.compare_digest(sig.encode(), want.encode()):
            _refuse("esms", "bad signature")
        if args.get("RequestId") and args["RequestId"] != nid:
            _refuse("esms", "RequestId does not match the signed notification")
        status = args.get("SendStatus", "")
        if status not in ESMS_DELIVERED | ESMS_FAILED:
            REPORTS.labels("esms", "progress").inc()  # 1, 2, 7: not final yet
            return {"status": "ignored", "delivery": None}
        detail = {"code": status, "message_id": args.get("SMSID"),
                  "telco": args.get("telcoid")}
        # the SMSID too: a report that outruns the writing of its send is held by it
        doc = svc().inbound.delivery_report("esms", delivered=status in ESMS_DELIVERED,
                                            detail=detail, notification_id=nid,
                                            message_id=args.get("SMSID") or None)
        if doc is None:
            REPORTS.labels("esms", "unknown").inc()
            return {"status": "unknown", "delivery": None}
        REPORTS.labels("esms", "accepted").inc()
        return {"status": "recorded", "delivery": doc.get("delivery")}


@callbacks.route("/zalo")
class ZaloReport(MethodView):
    @callbacks.response(200, schemas.ReportAnswer)
    def post(self):
        """Zalo OA webhook, signed ``X-ZEvent-Signature: mac=sha256(app_id + body +
        timestamp + OA secret)``; ``user_received_message`` marks a ZNS message delivered."""
        settings = svc().settings
        raw = request.get_data(cache=True)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _refuse("zalo", "not a JSON object")
        app_id, stamp = str(body.get("app_id", "")), str(body.get("timestamp", ""))
        want = zalo_signature(app_id, raw, stamp, settings.zalo_oa_secret)
        given = request.headers.get("X-ZEvent-Signature", "")
        if app_id != settings.zalo_app_id or not hmac.compare_digest(given.encode(),
                                                                     want.encode()):
            _refuse("zalo", "bad signature")
        if body.get("event_name") != "user_received_message":
            REPORTS.labels("zalo", "ignored").inc()
            return {"status": "ignored", "delivery": None}
        msg_id = str((body.get("message") or {}).get("msg_id") or "")
        detail = {"message_id": msg_id,
                  "delivery_time": (body.get("message") or {}).get("delivery_time")}
        doc = svc().inbound.delivery_report("zalo", delivered=True, detail=detail,
                                            message_id=msg_id or None)
        if doc is None:
            REPORTS.labels("zalo", "unknown").inc()
            return {"status": "unknown", "delivery": None}
        REPORTS.labels("zalo", "accepted").inc()
        return {"status": "recorded", "delivery": doc.get("delivery")}


def install_metrics(app: Flask) -> None:
    """Add notify's delivery states to the kit's /metrics: counted from the database,
    so every web process answers the same whichever process sent or heard what."""

    @app.after_request
    def add_counts(response: Response) -> Response:
        if request.path != "/metrics" or response.status_code != 200:
            return response
        try:
            rows = app.extensions["notify.views"].delivery_counts()
        except Exception:  # the database is down: /readyz says so, /metrics still answers
            return response
        lines = ["# HELP notify_notifications Notifications by channel and delivery state",
                 "# TYPE notify_notifications gauge"]
        lines += [f'notify_notifications{{channel="{c}",delivery="{d}"}} {n}'
                  for c, d, n in rows]
        response.set_data(response.get_data() + ("\n".join(lines) + "\n").encode())
        return response
