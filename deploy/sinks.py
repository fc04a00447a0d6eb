#!/usr/bin/env python3
"""Local stand-ins for the outside world notify talks to: an SMTP server and SMS gateways.

One process runs:

* an SMTP server (aiosmtpd) that accepts every message; AUTH is optional and any login
  is accepted; STARTTLS is offered when --tls-cert/--tls-key are given;
* an HTTP server speaking a generic SMS gateway protocol (``POST /sms``) and Twilio's
  Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``), plus test helpers:
  ``GET/DELETE /messages``, ``POST/GET/DELETE /faults`` and ``GET /healthz``;
* the eSMS.vn brandname API (``POST /MainService.svc/json/SendMultipleMessage_V4_post_json/``:
  ApiKey/SecretKey checked, brandname and SmsType checked, ``RequestId`` deduplicated
  with CodeResult 124) which calls the message's ``CallbackUrl`` back with a GET after
  a delay (``SMSID, SendStatus, RequestId, TypeId, telcoid, phonenumber``; retried up to
  5 times, like eSMS);
* Zalo: the OA token endpoint (``POST /v4/oa/access_token``: header ``secret_key``, form
  ``app_id, grant_type=refresh_token, refresh_token``; each refresh token works once and
  the tokens survive a restart in ``DIR/zalo.json``) and ZNS (``POST /message/template``
  with header ``access_token``), which posts ``user_received_message`` to the OA webhook
  (``--zalo-webhook``), signed ``X-ZEvent-Signature: mac=sha256(app_id + body +
  timestamp + OA secret)``. Test helpers: ``POST /zalo/refresh-tokens`` (a new valid
  refresh token), ``POST /zalo/expire`` (every access token expires), ``GET /zalo/stats``,
  ``GET /callbacks`` (what was called back, and the answers) and ``PUT /config``
  (``callback_delay``, ``zalo_webhook``).

Every accepted message is kept in memory and appended to ``DIR/messages.jsonl``, which is
read back at start, so a person can see what went over the wire.

Faults (``POST /faults`` with ``{"to": ..., "fail": [503, 503]}``) make the next sends to
that recipient fail with those statuses in order. For a phone number they are HTTP
statuses; for an e-mail address they are SMTP reply codes given at RCPT (e.g. 451, 550).
An item may also be an object ``{"status": 400, "code": 21610, "message": "..."}``. For
eSMS a 4xx status answers HTTP 200 with ``CodeResult`` = ``code`` (default 146), as eSMS
does; ``{"report": "failed"}`` accepts the message and reports it undelivered,
``{"report": "none"}`` accepts it and never reports. ZNS faults are set on
``zalo:+84...``: ``{"error": -118}`` answers that ZNS error, ``{"report": "none"}``
accepts without a delivery event.

Only the standard library and aiosmtpd are used, so the stand-in does not depend on the
code it is there to test.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import hashlib
import heapq
import http.client
import itertools
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
log = logging.getLogger("sinks")

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# Vietnamese numbers are +84 and nine digits; anything else under +84 cannot exist.
VN_NUMBER = re.compile(r"^\+84[1-9]\d{8}$")
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
TWILIO_BODY_MAX = 1600
ESMS_PATH = re.compile(r"^/MainService\.svc/json/SendMultipleMessage_V4_post_json/?$")
ESMS_TYPES = {"2", "8"}  # customer care (brandname), fixed number
CALLBACK_TRIES = 5

# The segment count is repeated here rather than imported from services.notify.sms so the
# stand-in keeps answering like a provider even when the code under test is broken.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("\f^{}\\[~]|€")


def count_segments(text: str) -> int:
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in text):
        units, single, part = [2 if c in _GSM_EXT else 1 for c in text], 160, 153
    else:
        units, single, part = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def now_vn() -> str:
    return datetime.now(VN_TZ).isoformat(timespec="milliseconds")


def normalise_to(value: str) -> str:
    value = value.strip()
    # An unencoded "+" in a query string arrives as a space; a person typing
    # /messages?to=+8491... in a browser means the phone number.
    if value and value[0].isdigit() and value.replace(" ", "").isdigit():
        return "+" + value
    return value.lower() if "@" in value else value


class Store:
    """Messages, idempotency keys and pending faults, shared by the SMTP and HTTP threads."""

    def __init__(self, data_dir: Path) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._by_key: dict[tuple[str, ...], dict[str, Any]] = {}
        self._faults: dict[str, deque[dict[str, Any]]] = {}
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "messages.jsonl"
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("skipping unreadable line %d of %s", lineno, self.path)
                    continue
                self._messages.append(record)
                key = self._key_of(record)
                if key:
                    self._by_key.setdefault(key, record)
        log.info("loaded %d messages from %s", len(self._messages), self.path)

    @staticmethod
    def _key_of(record: dict[str, Any]) -> tuple[str, ...] | None:
        key = record.get("idempotency_key")
        if not key:
            return None
        return (record.get("provider", ""), record.get("account_sid") or "", key)

    def find_duplicate(self, provider: str, account: str, key: str | None) -> dict | None:
        if not key:
            return None
        with self._lock:
            return self._by_key.get((provider, account, key))

    def add(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store ``record`` unless its idempotency key was seen; return (stored, is_new)."""
        with self._lock:
            key = self._key_of(record)
            if key and key in self._by_key:
                return self._by_key[key], False
            self._messages.append(record)
            if key:
                self._by_key[key] = record
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        preview = (record.get("subject") or record.get("body") or "").replace("\n", " ")
        print(
            f"{record['received_at']} {record['channel']}/{record['provider']} "
            f"to={record['to']} id={record['id']} {preview[:80]!r}",
            flush=True,
        )
        return record, True

    def list(self, channel: str | None, to: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                m
                for m in self._messages
                if (channel is None or m["channel"] == channel)
                and (to is None or m["to"] == to)
            ]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self.path.write_text("", encoding="utf-8")

    def set_fault(self, to: str, fail: list[dict[str, Any]]) -> None:
        with self._lock:
            self._faults.setdefault(to, deque()).extend(fail)

    def next_fault(self, to: str) -> dict[str, Any] | None:
        with self._lock:
            queue = self._faults.get(to)
            if not queue:
                return None
            fault = queue.popleft()
            if not queue:
                del self._faults[to]
            return fault

    def faults(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {to: list(q) for to, q in self._faults.items()}

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()


# ---------------------------------------------------------------- SMTP


def _part_text(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        text = part.get_content()
    except (LookupError, UnicodeError):  # unknown or lying charset
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    # Show what the sender wrote: wire line endings and the final newline MIME adds go.
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\n") else text


class MailHandler:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        fault = self.store.next_fault(address.lower())
        if fault:
            code = int(fault["status"])
            if 400 <= code < 600:
                text = fault.get("message") or (
                    "Mailbox temporarily unavailable" if code < 500 else "Mailbox unavailable"
                )
                return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        subject = msg.get("Subject")
        received_at = now_vn()
        for rcpt in envelope.rcpt_tos:
            self.store.add(
                {
                    "id": uuid.uuid4().hex,
                    "channel": "email",
                    "provider": "smtp",
                    "to": rcpt.lower(),
                    "from": envelope.mail_from,
                    "subject": str(subject) if subject is not None else None,
                    "body": _part_text(msg, "plain"),
                    "html": _part_text(msg, "html"),
                    "message_id": msg.get("Message-ID"),
                    "header_to": str(msg.get("To", "")),
                    "header_from": str(msg.get("From", "")),
                    "authenticated_as": _login_of(session),
                    "received_at": received_at,
                }
            )
        return "250 Message accepted for delivery"


def _login_of(session: Session) -> str | None:
    data = getattr(session, "auth_data", None)
    login = getattr(data, "login", None)
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else None


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


def start_smtp(
    store: Store, host: str, port: int, tls_context: ssl.SSLContext | None
) -> Controller:
    controller = Controller(
        MailHandler(store),
        hostname=host,
        port=port,
        server_hostname="sinks.local",
        authenticator=accept_any_login,
        auth_required=False,
        auth_require_tls=False,
        tls_context=tls_context,
        require_starttls=False,
    )
    controller.start()
    return controller


# ---------------------------------------------------------------- HTTP


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# Twilio's codes for the statuses a fault may ask for, so errors look like the real thing.
TWILIO_FAULT_CODES = {400: 21610, 401: 20003, 403: 20003, 404: 20404, 429: 20429, 500: 20500,
                      503: 20503}
GENERIC_FAULT_TEXT = {
    400: "Recipient rejected by operator",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    408: "Request timeout",
    429: "Too many requests",
    500: "Internal gateway error",
    502: "Upstream operator unreachable",
    503: "Gateway temporarily unavailable",
    504: "Upstream operator timeout",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class SinkHandler(BaseHTTPRequestHandler):
    server_version = "doithoai-sinks/1"
    # keep-alive, as the gateways it stands in for: every answer has its Content-Length
    protocol_version = "HTTP/1.1"
    store: Store  # set on the subclass made in make_http_server
    providers: Providers

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_json(self) -> Any:
        raw = self._read_body()
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def _fault_reply(self, fault: dict[str, Any], twilio: bool) -> None:
        status = int(fault["status"])
        message = fault.get("message") or GENERIC_FAULT_TEXT.get(status) or _phrase(status)
        headers = {"Retry-After": "1"} if status in (429, 503) else None
        if twilio:
            code = int(fault.get("code") or TWILIO_FAULT_CODES.get(status, 20500))
            self._send_json(status, twilio_error(status, code, message), headers)
        else:
            error = fault.get("code") or ("rejected" if status < 500 else "unavailable")
            payload = {"status": "error", "error": error, "message": message}
            self._send_json(status, payload, headers)

    # -- routes

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send_json(200, {"status": "ok"})
        elif url.path == "/messages":
            query = parse_qs(url.query)
            channel = query.get("channel", [None])[0]
            to = query.get("to", [None])[0]
            self._send_json(200, self.store.list(channel, normalise_to(to) if to else None))
        elif url.path == "/faults":
            self._send_json(200, self.store.faults())
        elif url.path == "/callbacks":
            self._send_json(200, self.providers.callbacks())
        elif url.path == "/zalo/stats":
            self._send_json(200, self.providers.zalo_stats())
        else:
            self._send_json(404, {"error": "not_found", "path": url.path})

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        data = self._read_json()
        if path == "/config" and isinstance(data, dict):
            self._send_json(200, self.providers.configure(data))
        else:
            self._send_json(404, {"error": "not_found", "path": path})

    def do_DELETE(self) -> None:
        path = urlsplit(self.path).path
        if path == "/messages":
            self.store.clear()
            self._send_json(200, {"status": "cleared"})
        elif path == "/faults":
            self.store.clear_faults()
            self._send_json(200, {"status": "cleared"})
        else:
            self._send_json(404, {"error": "not_found", "path": path})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/sms":
            self._generic_sms()
        elif ESMS_PATH.match(path):
            self._esms()
        elif path == "/v4/oa/access_token":
            self._zalo_token()
        elif path == "/message/template":
            self._zns()
        elif path == "/zalo/refresh-tokens":
            self._read_body()
            self._send_json(200, {"refresh_token": self.providers.new_refresh_token()})
        elif path == "/zalo/expire":
            self._read_body()
            self.providers.expire_access_tokens()
            self._send_json(200, {"status": "expired"})
        elif path == "/faults":
            self._add_faults()
        elif match := TWILIO_PATH.match(path):
            self._twilio_sms(match["sid"])
        else:
            self._read_body()
            self._send_json(404, {"error": "not_found", "path": path})

    def _add_faults(self) -> None:
        data = self._read_json()
        fail = data.get("fail") if isinstance(data, dict) else None
        to = data.get("to") if isinstance(data, dict) else None
        if not isinstance(to, str) or not isinstance(fail, list) or not fail:
            self._send_json(400, {"error": "bad_request",
                                  "message": 'expected {"to": "...", "fail": [503, ...]}'})
            return
        items: list[dict[str, Any]] = []
        for item in fail:
            entry = item if isinstance(item, dict) else {"status": item}
            if "status" not in entry and ({"report", "error", "code"} & entry.keys()):
                entry["status"] = 200
            try:
                entry["status"] = int(entry["status"])
            except (KeyError, TypeError, ValueError):
                self._send_json(400, {"error": "bad_request", "message": f"bad fault {item!r}"})
                return
            items.append(entry)
        self.store.set_fault(normalise_to(to), items)
        self._send_json(200, {"to": normalise_to(to), "pending": len(items)})

    def _generic_sms(self) -> None:
        data = self._read_json()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            self._send_json(401, {"status": "error", "error": "unauthorized",
                                  "message": "missing bearer token"})
            return
        if not isinstance(data, dict):
            self._send_json(400, {"status": "error", "error": "bad_request",
                                  "message": "body must be a JSON object"})
            return
        to, text = data.get("to"), data.get("text")
        key = data.get("idempotency_key") or self.headers.get("Idempotency-Key")
        if not isinstance(to, str) or not isinstance(text, str) or not text:
            self._send_json(400, {"status": "error", "error": "bad_request",
                                  "message": "to and text are required"})
            return
        duplicate = self.store.find_duplicate("generic", "", key)
        if duplicate:
            self._send_json(200, {"id": duplicate["id"], "status": "accepted", "duplicate": True})
            return
        if not E164.match(to) or (to.startswith("+84") and not VN_NUMBER.match(to)):
            self._send_json(400, {"status": "error", "error": "invalid_number",
                                  "message": f"not a valid E.164 number: {to}"})
            return
        fault = self.store.next_fault(to)
        if fault:
            self._fault_reply(fault, twilio=False)
            return
        record, _ = self.store.add(
            {
                "id": "msg_" + uuid.uuid4().hex,
                "channel": "sms",
                "provider": "generic",
                "to": to,
                "from": data.get("sender"),
                "subject": None,
                "body": text,
                "html": None,
                "segments": count_segments(text),
                "idempotency_key": key,
                "received_at": now_vn(),
            }
        )
        self._send_json(200, {"id": record["id"], "status": "accepted",
                              "segments": record["segments"]})

    # -- eSMS

    def _esms(self) -> None:
        data = self._read_json()
        p = self.providers
        if not isinstance(data, dict):
            self._send_json(400, {"CodeResult": "99", "ErrorMessage": "Body must be JSON"})
            return
        if (data.get("ApiKey"), data.get("SecretKey")) != (p.esms_api_key, p.esms_secret_key):
            self._send_json(200, {"CodeResult": "101", "CountRegenerate": 0,
                                  "ErrorMessage": "Authorize Failed"})
            return
        sms_type = str(data.get("SmsType", ""))
        if sms_type not in ESMS_TYPES:
            self._send_json(200, {"CodeResult": "118", "CountRegenerate": 0,
                                  "ErrorMessage": "Loai tin nhan khong hop le"})
            return
        if sms_type == "2" and data.get("Brandname") not in p.esms_brandnames:
            self._send_json(200, {"CodeResult": "104", "CountRegenerate": 0,
                                  "ErrorMessage": "Brandname khong ton tai hoac da bi huy"})
            return
        phone, content = str(data.get("Phone", "")), data.get("Content")
        to = "+84" + phone[1:] if phone.startswith("0") else "+" + phone
        if not isinstance(content, str) or not content or not VN_NUMBER.match(to):
            self._send_json(200, {"CodeResult": "99", "CountRegenerate": 0,
                                  "ErrorMessage": "Phone or Content is invalid"})
            return
        request_id = str(data.get("RequestId") or "") or None
        if self.store.find_duplicate("esms", "", request_id):
            self._send_json(200, {"CodeResult": "124", "CountRegenerate": 0,
                                  "ErrorMessage": "RequestId da ton tai"})
            return
        fault = self.store.next_fault(to)
        report = "delivered"
        if fault and "report" in fault:
            report = str(fault["report"])
        elif fault and (fault["status"] >= 500 or fault["status"] in (408, 429)):
            self._fault_reply(fault, twilio=False)
            return
        elif fault:
            self._send_json(200, {"CodeResult": str(fault.get("code") or "146"),
                                  "CountRegenerate": 0,
                                  "ErrorMessage": fault.get("message") or "Rejected"})
            return
        record, _ = self.store.add({
            "id": uuid.uuid4().hex + "30", "channel": "sms", "provider": "esms", "to": to,
            "from": data.get("Brandname"), "subject": None, "body": content, "html": None,
            "segments": count_segments(content), "idempotency_key": request_id,
            "sms_type": sms_type, "unicode": str(data.get("IsUnicode", "0")),
            "received_at": now_vn(),
        })
        if data.get("CallbackUrl") and report != "none":
            status = "5" if report == "delivered" else "4"
            query = urlencode({"SMSID": record["id"], "SendStatus": status,
                               "RequestId": request_id or "", "TypeId": sms_type,
                               "telcoid": "1", "phonenumber": phone})
            url = str(data["CallbackUrl"])
            p.later(lambda: p.call_back("esms", url + ("&" if "?" in url else "?") + query))
        self._send_json(200, {"CodeResult": "100", "CountRegenerate": 0, "SMSID": record["id"]})

    # -- Zalo

    def _zalo_token(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self._read_body().decode("utf-8", "replace")).items()}
        p = self.providers
        if (self.headers.get("secret_key") != p.zalo_secret_key
                or form.get("app_id") != p.zalo_app_id):
            self._send_json(200, {"error": -14002, "error_name": "Invalid app_id or secret_key"})
            return
        if form.get("grant_type") != "refresh_token":
            self._send_json(200, {"error": -14003, "error_name": "Invalid grant_type"})
            return
        tokens = p.refresh(form.get("refresh_token", ""))
        if tokens is None:
            self._send_json(200, {"error": -14014, "error_name": "Invalid refresh token",
                                  "error_reason": "used, expired or unknown"})
            return
        self._send_json(200, tokens)

    def _zns(self) -> None:
        data = self._read_json()
        p = self.providers
        if not p.access_valid(self.headers.get("access_token", "")):
            self._send_json(200, {"error": -124, "message": "Access token is invalid"})
            return
        if not isinstance(data, dict):
            self._send_json(200, {"error": -100, "message": "Body must be JSON"})
            return
        phone, template_id = str(data.get("phone", "")), str(data.get("template_id", ""))
        values = data.get("template_data")
        to = "+" + phone
        if not VN_NUMBER.match(to):
            self._send_json(200, {"error": -108, "message": "Phone number is invalid"})
            return
        if not template_id.isdigit():
            self._send_json(200, {"error": -109, "message": "Template id is invalid"})
            return
        if (not isinstance(values, dict) or not values or any(
                not isinstance(v, str | int | float) or not str(v).strip() or len(str(v)) > 400
                for v in values.values())):
            self._send_json(200, {"error": -112, "message": "Template data is invalid"})
            return
        fault = self.store.next_fault("zalo:" + to)
        report = "delivered"
        if fault and "error" in fault:
            self._send_json(200, {"error": int(fault["error"]),
                                  "message": fault.get("message") or "Rejected by Zalo"})
            return
        if fault and "report" in fault:
            report = str(fault["report"])
        elif fault and fault["status"] >= 300:
            self._fault_reply(fault, twilio=False)
            return
        body = "; ".join(f"{k}: {v}" for k, v in values.items())
        record, _ = self.store.add({
            "id": uuid.uuid4().hex, "channel": "zalo", "provider": "zns", "to": to,
            "from": p.zalo_app_id, "subject": None, "body": body, "html": None,
            "template_id": template_id, "template_data": values,
            "tracking_id": data.get("tracking_id"), "mode": data.get("mode"),
            "received_at": now_vn(),
        })
        sent_ms = str(int(datetime.now(UTC).timestamp() * 1000))
        if report == "delivered":
            p.later(lambda: p.zalo_delivered(record["id"], phone))
        self._send_json(200, {"error": 0, "message": "Success", "data": {
            "msg_id": record["id"], "sent_time": sent_ms,
            "quota": {"dailyQuota": "5000", "remainingQuota": "4999"}}})

    def _twilio_basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, token = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, token) if user and token else None

    def _twilio_sms(self, account_sid: str) -> None:
        raw = self._read_body()
        credentials = self._twilio_basic_auth()
        if credentials is None or credentials[0] != account_sid:
            self._send_json(401, twilio_error(401, 20003, "Authenticate"),
                            {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        key = self.headers.get("I-Twilio-Idempotency-Token")
        duplicate = self.store.find_duplicate("twilio", account_sid, key)
        if duplicate:
            self._send_json(201, self._twilio_resource(duplicate))
            return
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            self._send_json(400, twilio_error(400, 21604, "A 'To' phone number is required."))
        elif not sender and not service:
            self._send_json(400, twilio_error(400, 21603, "A 'From' phone number is required."))
        elif not body:
            self._send_json(400, twilio_error(400, 21602, "Message body is required."))
        elif len(body) > TWILIO_BODY_MAX:
            self._send_json(400, twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."))
        elif not E164.match(to) or (to.startswith("+84") and not VN_NUMBER.match(to)):
            self._send_json(400, twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}"))
        elif fault := self.store.next_fault(to):
            self._fault_reply(fault, twilio=True)
        else:
            record, _ = self.store.add(
                {
                    "id": "SM" + uuid.uuid4().hex,
                    "channel": "sms",
                    "provider": "twilio",
                    "account_sid": account_sid,
                    "to": to,
                    "from": sender,
                    "messaging_service_sid": service,
                    "subject": None,
                    "body": body,
                    "html": None,
                    "segments": count_segments(body),
                    "idempotency_key": key,
                    "received_at": now_vn(),
                }
            )
            self._send_json(201, self._twilio_resource(record))

    @staticmethod
    def _twilio_resource(record: dict[str, Any]) -> dict[str, Any]:
        created = format_datetime(datetime.fromisoformat(record["received_at"]).astimezone(UTC))
        account, sid = record["account_sid"], record["id"]
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}"
        return {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": record["body"],
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": record.get("from"),
            "messaging_service_sid": record.get("messaging_service_sid"),
            "num_media": "0",
            "num_segments": str(record["segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # Twilio says "accepted" while a Messaging Service still picks the sender.
            "status": "queued" if record.get("from") else "accepted",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": record["to"],
            "uri": f"{uri}.json",
        }


class Later:
    """Jobs run after a delay: one timer thread hands the due ones to a few workers. A
    thread per delivery report, as threading.Timer makes, cost more than the report."""

    def __init__(self, workers: int = 4) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._cv = threading.Condition()
        self._order = itertools.count()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="callback")
        threading.Thread(target=self._run, name="later", daemon=True).start()

    def add(self, delay: float, job: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), job))
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._cv.wait(self._due[0][0] - time.monotonic() if self._due else None)
                job = heapq.heappop(self._due)[2]
            self._pool.submit(job)


class Providers:
    """Credentials, Zalo tokens and delivery callbacks of the eSMS and Zalo stand-ins."""

    def __init__(self, data_dir: Path, args: argparse.Namespace) -> None:
        self._lock = threading.Lock()
        self.esms_api_key, self.esms_secret_key = args.esms_api_key, args.esms_secret_key
        self.esms_brandnames = {b.strip() for b in args.esms_brandnames.split(",") if b.strip()}
        self.zalo_app_id, self.zalo_secret_key = args.zalo_app_id, args.zalo_secret_key
        self.zalo_oa_secret, self.zalo_oa_id = args.zalo_oa_secret, args.zalo_oa_id
        self.zalo_webhook = args.zalo_webhook
        self.delay = args.callback_delay
        self.token_life = args.zalo_token_life
        self._calls: list[dict[str, Any]] = []
        self._later = Later()
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}  # kept alive
        self.path = data_dir / "zalo.json"
        if self.path.exists():
            state = json.loads(self.path.read_text(encoding="utf-8"))
        else:
            state = {"refresh": [args.zalo_refresh_token], "access": {}, "refreshes": 0}
        self._refresh: set[str] = set(state["refresh"])
        self._access: dict[str, float] = dict(state["access"])
        self._refreshes = int(state.get("refreshes", 0))
        self._save()

    def _save(self) -> None:
        self.path.write_text(json.dumps({"refresh": sorted(self._refresh),
                                         "access": self._access,
                                         "refreshes": self._refreshes}), encoding="utf-8")

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if "callback_delay" in data:
                self.delay = float(data["callback_delay"])
            if "zalo_webhook" in data:
                self.zalo_webhook = data["zalo_webhook"] or None
            return {"callback_delay": self.delay, "zalo_webhook": self.zalo_webhook}

    # tokens: a refresh token works once; access tokens live token_life seconds
    def new_refresh_token(self) -> str:
        with self._lock:
            token = "rt_" + uuid.uuid4().hex
            self._refresh.add(token)
            self._save()
            return token

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        with self._lock:
            if refresh_token not in self._refresh:
                return None
            self._refresh.discard(refresh_token)
            access, fresh = "at_" + uuid.uuid4().hex, "rt_" + uuid.uuid4().hex
            self._refresh.add(fresh)
            now = datetime.now(UTC).timestamp()
            self._access = {k: v for k, v in self._access.items() if v > now}
            self._access[access] = now + self.token_life
            self._refreshes += 1
            self._save()
        return {"access_token": access, "refresh_token": fresh,
                "expires_in": str(int(self.token_life))}

    def access_valid(self, token: str) -> bool:
        with self._lock:
            return self._access.get(token, 0) > datetime.now(UTC).timestamp()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()
            self._save()

    def zalo_stats(self) -> dict[str, Any]:
        with self._lock:
            return {"refreshes": self._refreshes, "valid_refresh_tokens": len(self._refresh),
                    "valid_access_tokens": len(self._access)}

    # delivery callbacks
    def later(self, job: Callable[[], None]) -> None:
        self._later.add(self.delay, job)

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def call_back(self, provider: str, url: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None, tries: int = CALLBACK_TRIES,
                  attempt: int = 1) -> None:
        """GET (eSMS) or POST (Zalo) one delivery report; retried like the providers do,
        each retry ``delay`` later."""
        status = self._fetch(url, body, headers or {})
        with self._lock:
            self._calls.append({"provider": provider, "url": url.split("?")[0],
                                "attempt": attempt, "status": status, "at": now_vn()})
        if status != 200 and attempt < tries:  # refused, timeout, 4xx/5xx: worth a retry
            self.later(lambda: self.call_back(provider, url, body, headers, tries, attempt + 1))

    def _fetch(self, url: str, body: bytes | None, headers: dict[str, str]) -> int | str:
        """The status of one request, on a kept-alive connection to the host (a fresh one
        if the kept one was closed meanwhile); an error as text."""
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            idle = self._idle.setdefault(host, [])
            conn = idle.pop() if idle else None
        for fresh in (conn is None, True):
            if fresh:
                kind = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
                conn = kind(parts.netloc, timeout=5)
            try:
                conn.request("POST" if body is not None else "GET", target, body=body,
                             headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if fresh:
                    return repr(exc)
                continue
            with self._lock:
                self._idle[host].append(conn)
            return response.status
        raise AssertionError("unreachable")

    def zalo_delivered(self, msg_id: str, phone: str) -> None:
        if not self.zalo_webhook:
            return
        now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
        user = hashlib.sha256(phone.encode()).hexdigest()[:19]
        body = json.dumps({
            "app_id": self.zalo_app_id, "sender": {"id": self.zalo_oa_id},
            "user_id_by_app": user, "recipient": {"id": user},
            "event_name": "user_received_message",
            "message": {"delivery_time": now_ms, "msg_id": msg_id}, "timestamp": now_ms,
        }).encode()
        mac = hashlib.sha256(self.zalo_app_id.encode() + body + now_ms.encode()
                             + self.zalo_oa_secret.encode()).hexdigest()
        self.call_back("zalo", self.zalo_webhook, body,
                       {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac}"})


def make_http_server(store: Store, host: str, port: int,
                     providers: Providers | None = None) -> ThreadingHTTPServer:
    if providers is None:
        providers = Providers(store.path.parent, parse_args([]))
    handler = type("BoundSinkHandler", (SinkHandler,), {"store": store,
                                                        "providers": providers})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------- main


class VnFormatter(logging.Formatter):
    """Log times in Vietnam time with an offset, like the stored messages."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, VN_TZ).isoformat(timespec="milliseconds")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SINK_HOST", "127.0.0.1"))
    parser.add_argument("--smtp-port", type=int,
                        default=int(os.environ.get("SINK_SMTP_PORT", "2525")))
    parser.add_argument("--http-port", type=int,
                        default=int(os.environ.get("SINK_HTTP_PORT", "8025")))
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("SINK_DATA_DIR", "var/sinks")),
                        help="folder for messages.jsonl")
    parser.add_argument("--tls-cert", default=os.environ.get("SINK_TLS_CERT"),
                        help="PEM certificate: offer STARTTLS (never required)")
    parser.add_argument("--tls-key", default=os.environ.get("SINK_TLS_KEY"))
    env = os.environ.get
    parser.add_argument("--callback-delay", type=float, default=float(env("SINK_CALLBACK_DELAY",
                                                                            "2")),
                        help="seconds before a delivery report is sent")
    parser.add_argument("--esms-api-key", default=env("ESMS_API_KEY", "dev-esms-api-key"))
    parser.add_argument("--esms-secret-key", default=env("ESMS_SECRET_KEY",
                                                         "dev-esms-secret-key"))
    parser.add_argument("--esms-brandnames", default=env("SINK_ESMS_BRANDNAMES", "DOITHOAI"),
                        help="registered brandnames, comma-separated")
    parser.add_argument("--zalo-app-id", default=env("ZALO_APP_ID", "dev-zalo-app"))
    parser.add_argument("--zalo-secret-key", default=env("ZALO_SECRET_KEY",
                                                         "dev-zalo-app-secret"))
    parser.add_argument("--zalo-oa-secret", default=env("ZALO_OA_SECRET", "dev-zalo-oa-secret"))
    parser.add_argument("--zalo-oa-id", default=env("SINK_ZALO_OA_ID", "1032900368522775331"))
    parser.add_argument("--zalo-refresh-token", default=env("ZALO_REFRESH_TOKEN",
                                                            "dev-zalo-refresh-token"),
                        help="the refresh token valid at the first start")
    parser.add_argument("--zalo-token-life", type=float, default=90000.0,
                        help="seconds an access token lives (Zalo: about 25 h)")
    parser.add_argument("--zalo-webhook", default=env("SINK_ZALO_WEBHOOK"),
                        help="OA webhook URL that receives user_received_message")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(VnFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # aiosmtpd logs every SMTP command at INFO; one line per message is enough.
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.WARNING)
    mail_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    store = Store(args.data)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("got %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    smtp = start_smtp(store, args.host, args.smtp_port, tls_context)
    http = make_http_server(store, args.host, args.http_port, Providers(args.data, args))
    # serve_forever runs in a thread because shutdown() must be called from another
    # thread than the one serving, and the signal handler runs in the main thread.
    http_thread = threading.Thread(target=http.serve_forever, name="http", daemon=True)
    http_thread.start()
    log.info("sinks ready: smtp=%s:%d http=%s:%d data=%s", args.host, args.smtp_port,
             args.host, args.http_port, store.path)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        http.shutdown()
        http.server_close()
        smtp.stop()
        log.info("sinks stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
