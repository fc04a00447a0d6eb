#!/usr/bin/env python3
"""Local stand-ins for the outside world notify talks to: an SMTP server and SMS gateways.

One process runs:

* an SMTP server (aiosmtpd) that accepts every message; AUTH is optional and any login
  is accepted; STARTTLS is offered when --tls-cert/--tls-key are given;
* an HTTP server speaking a generic SMS gateway protocol (``POST /sms``) and Twilio's
  Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``), plus test helpers:
  ``GET/DELETE /messages``, ``POST/GET/DELETE /faults`` and ``GET /healthz``.

Every accepted message is kept in memory and appended to ``DIR/messages.jsonl``, which is
read back at start, so a person can see what went over the wire.

Faults (``POST /faults`` with ``{"to": ..., "fail": [503, 503]}``) make the next sends to
that recipient fail with those statuses in order. For a phone number they are HTTP
statuses; for an e-mail address they are SMTP reply codes given at RCPT (e.g. 451, 550).
An item may also be an object ``{"status": 400, "code": 21610, "message": "..."}``.

Only the standard library and aiosmtpd are used, so the stand-in does not depend on the
code it is there to test.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
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
    store: Store  # set on the subclass made in make_http_server

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
        else:
            self._send_json(404, {"error": "not_found", "path": url.path})

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


def make_http_server(store: Store, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("BoundSinkHandler", (SinkHandler,), {"store": store})
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
    http = make_http_server(store, args.host, args.http_port)
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
