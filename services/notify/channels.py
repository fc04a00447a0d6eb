"""What every sender shares (its result, its two kinds of failure) and the SMS gateways
over HTTP: a generic JSON gateway and Twilio. E-mail is in ``mail``; the Vietnamese
providers (eSMS, Zalo ZNS) in ``providers``.

Every sender returns a :class:`SendResult` or raises a :class:`TransientError` (worth
retrying later) or a :class:`PermanentError` (retrying cannot help: bad address,
rejected content, wrong credentials). A retry carries the same notification id as the
provider's request id, but only some providers drop a repeat (see ``delivery``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import requests

from services.notify.sms import segments as sms_segments

E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@dataclass(frozen=True)
class SendResult:
    """What a provider said when it took a message."""

    provider: str  # "smtp", "generic", "twilio"
    message_id: str  # the provider's id (Message-ID for email, message sid/id for SMS)
    status: str  # the provider's word: "sent", "accepted", "queued"…
    segments: int | None = None  # SMS only
    detail: dict[str, Any] = field(default_factory=dict, compare=False)


class DeliveryError(Exception):
    """A send that did not go through; ``reason`` is the provider's own words."""

    def __init__(
        self,
        reason: str,
        *,
        provider: str,
        status: int | None = None,
        code: str | int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider = provider
        self.status = status  # HTTP status or SMTP reply code
        self.code = code  # the provider's error code, e.g. Twilio 21211
        self.retry_after = retry_after  # seconds, when the provider asked for a pause

    def __str__(self) -> str:
        parts = [self.provider]
        if self.status is not None:
            parts.append(str(self.status))
        if self.code is not None:
            parts.append(f"code={self.code}")
        return f"{' '.join(parts)}: {self.reason}"


class TransientError(DeliveryError):
    """Timeouts, connection failures, 5xx, 429, SMTP 4xx: try again later."""


class PermanentError(DeliveryError):
    """4xx other than 408/429, SMTP 5xx, invalid number or address: do not retry."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the caller's own backoff is good enough



# ---------------------------------------------------------------- SMS


class SmsProvider(ABC):
    """One SMS gateway. ``send`` passes our id as the gateway's request id; whether a
    repeat is dropped depends on the gateway (eSMS and our stand-in do, Twilio does not)."""

    name: str = "sms"

    def __init__(self, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.timeout = timeout
        self.session = session or requests.Session()

    @abstractmethod
    def send(self, to_e164: str, text: str, idempotency_key: str) -> SendResult:
        """Hand one message to the gateway."""

    def _check_number(self, to_e164: str) -> None:
        if not E164.match(to_e164):
            raise PermanentError(
                f"not an E.164 number: {to_e164!r}", provider=self.name, code="invalid_number"
            )

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.post(url, timeout=self.timeout, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            # A read timeout may hide a message that did go out; the retry sends the
            # same request id, which a gateway that checks it (eSMS) drops.
            raise TransientError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc
        except requests.RequestException as exc:  # bad URL or similar: configuration
            raise PermanentError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc

    def _raise_for(self, resp: requests.Response, reason: str, code: str | int | None) -> None:
        status = resp.status_code
        # 408 is the server saying it timed out waiting for us: as retryable as our own.
        transient = status >= 500 or status in (408, 429)
        cls = TransientError if transient else PermanentError
        raise cls(
            reason or resp.reason or f"HTTP {status}",
            provider=self.name,
            status=status,
            code=code,
            retry_after=_retry_after(resp.headers.get("Retry-After")),
        )


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class GenericHttpSms(SmsProvider):
    """A gateway speaking ``POST <url>`` with JSON {to, text, sender, idempotency_key}."""

    name = "generic"

    def __init__(
        self,
        url: str,
        token: str,
        sender: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(timeout, session)
        self.url = url
        self.token = token
        self.sender = sender

    def send(self, to_e164: str, text: str, idempotency_key: str) -> SendResult:
        self._check_number(to_e164)
        resp = self._post(
            self.url,
            json={
                "to": to_e164,
                "text": text,
                "sender": self.sender,
                "idempotency_key": idempotency_key,
            },
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": idempotency_key},
        )
        data = _json(resp)
        if resp.status_code >= 300:
            reason = str(data.get("message") or data.get("error") or resp.text[:200])
            self._raise_for(resp, reason, data.get("error"))
        if not data.get("id"):
            # It answered 2xx but we cannot tell what it did; the key makes a retry safe.
            raise TransientError(
                f"unreadable answer: {resp.text[:200]!r}",
                provider=self.name,
                status=resp.status_code,
            )
        return SendResult(
            provider=self.name,
            message_id=str(data["id"]),
            status=str(data.get("status", "accepted")),
            segments=sms_segments(text),
            detail=data,
        )


class TwilioSms(SmsProvider):
    """Twilio's Programmable Messaging API (``POST …/Accounts/{sid}/Messages.json``)."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSms needs from_number or messaging_service_sid")
        super().__init__(timeout, session)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.base_url = base_url.rstrip("/")

    @property
    def url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def send(self, to_e164: str, text: str, idempotency_key: str) -> SendResult:
        self._check_number(to_e164)
        form = {"To": to_e164, "Body": text}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        if self.from_number:
            form["From"] = self.from_number
        resp = self._post(
            self.url,
            data=form,
            auth=(self.account_sid, self.auth_token),
            # Twilio documents this header on the webhooks it sends us; its Messages API
            # does not promise to drop a repeated request, so a retry may send twice.
            headers={"I-Twilio-Idempotency-Token": idempotency_key, "Accept": "application/json"},
        )
        data = _json(resp)
        if resp.status_code >= 300:
            reason = str(data.get("message") or resp.text[:200])
            self._raise_for(resp, reason, data.get("code"))
        if not str(data.get("sid", "")).startswith(("SM", "MM")):
            raise TransientError(
                f"unreadable answer: {resp.text[:200]!r}",
                provider=self.name,
                status=resp.status_code,
            )
        try:
            count = int(data.get("num_segments"))  # Twilio sends it as a string
        except (TypeError, ValueError):
            count = sms_segments(text)
        return SendResult(
            provider=self.name,
            message_id=str(data["sid"]),
            status=str(data.get("status", "queued")),
            segments=count,
            detail=data,
        )


SMS_PROVIDERS: dict[str, type[SmsProvider]] = {
    "generic": GenericHttpSms,
    "http": GenericHttpSms,
    "twilio": TwilioSms,
}


def sms_provider_from_config(kind: str, **settings: Any) -> SmsProvider:
    """Build the SMS adapter named by ``kind`` ("generic"/"http" or "twilio").

    ``settings`` are the adapter's constructor arguments; ``timeout`` may be a string,
    as it comes from the environment.
    """
    try:
        cls = SMS_PROVIDERS[kind.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(SMS_PROVIDERS))
        raise ValueError(f"unknown SMS provider {kind!r}; known: {known}") from None
    if "timeout" in settings and settings["timeout"] is not None:
        settings["timeout"] = float(settings["timeout"])
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ValueError(f"bad settings for SMS provider {kind!r}: {exc}") from exc
