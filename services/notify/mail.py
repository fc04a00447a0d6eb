"""E-mail: one multipart/alternative message per notification, over SMTP."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Literal

from services.common.clock import VN_TZ
from services.notify.channels import DeliveryError, PermanentError, SendResult, TransientError

DEFAULT_SENDER = "Hệ thống Đối thoại với Nhân dân <no-reply@localhost>"

Security = Literal["none", "starttls", "tls"]


def message_id_for(idempotency_key: str, domain: str) -> str:
    """A stable Message-ID for a key, so a resent copy can be recognised as the same mail."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class SmtpSender:
    """Sends one multipart/alternative mail per call over a fresh SMTP connection.

    A connection per message keeps failure handling simple; the volume of
    notifications is far below what would make connection reuse matter.
    """

    provider = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        sender: str = DEFAULT_SENDER,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {security!r}")
        parsed = getaddresses([sender])
        if not parsed or "@" not in parsed[0][1]:
            raise ValueError(f"sender has no e-mail address: {sender!r}")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self.password = password
        display, addr = parsed[0]
        self.sender = Address(display_name=display, addr_spec=addr)
        self.timeout = timeout
        self.ssl_context = ssl_context

    def build_message(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        idempotency_key: str | None = None,
    ) -> EmailMessage:
        """The message exactly as it will be sent (UTF-8 headers and body)."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(VN_TZ))
        domain = self.sender.domain or "localhost"
        if idempotency_key:
            msg["Message-ID"] = message_id_for(idempotency_key, domain)
        else:
            msg["Message-ID"] = make_msgid(domain=domain)
        # RFC 3834: tells mail servers and autoresponders this is machine-sent.
        msg["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps the body 7-bit, so relays without 8BITMIME pass it intact.
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        if html is not None:
            msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        return msg

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Deliver to the configured relay; raise TransientError or PermanentError."""
        try:
            msg = self.build_message(to, subject, text, html, idempotency_key)
        except (ValueError, TypeError) as exc:  # a malformed address or header
            raise PermanentError(f"cannot build message: {exc}", provider=self.provider) from exc
        try:
            self._deliver(msg, to)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _smtp_error(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, auth failed, connect refused with a code…
            raise _smtp_error(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(
                f"server does not support what we asked for: {exc}", provider=self.provider
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(
                f"TLS certificate rejected: {exc}", provider=self.provider
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnects, timeouts, refused connections, TLS hiccups: the mail may go later.
            raise TransientError(
                f"{type(exc).__name__}: {exc}", provider=self.provider
            ) from exc
        return SendResult(provider=self.provider, message_id=msg["Message-ID"], status="sent")

    def _deliver(self, msg: EmailMessage, to: str) -> None:
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(msg, to_addrs=[to])


def _smtp_error(code: int, reply: bytes | str) -> DeliveryError:
    reason = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    cls = TransientError if 400 <= code < 500 or code < 0 else PermanentError
    return cls(reason, provider="smtp", status=code)

