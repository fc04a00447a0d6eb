"""Vietnamese providers: eSMS.vn (SMS brandname) and Zalo ZNS (template messages).

Both speak the providers' public HTTP APIs as documented by them:

- eSMS: ``POST {base}/MainService.svc/json/SendMultipleMessage_V4_post_json/`` with
  ``ApiKey, SecretKey, Phone, Content, Brandname, SmsType, IsUnicode, Sandbox, RequestId,
  CallbackUrl``; ``CodeResult "100"`` and ``SMSID`` mean accepted. ``RequestId`` is the
  idempotency key (a repeat is refused with 124, which means we already sent it). The
  delivery report is a GET to ``CallbackUrl`` with ``SMSID, SendStatus, RequestId, ...``;
  eSMS does not sign it, so the URL we give carries a per-message HMAC (see
  :func:`callback_signature`).
- Zalo ZNS: ``POST {base}/message/template`` with header ``access_token`` and JSON
  ``{phone, template_id, template_data, tracking_id}``; ``error 0`` and ``data.msg_id``
  mean accepted. The access token lasts about 25 h and is renewed with
  ``POST {oauth}/v4/oa/access_token`` (header ``secret_key``; form ``app_id,
  grant_type=refresh_token, refresh_token``), which also returns a new refresh token:
  the old one is then dead, so :class:`ZaloTokens` keeps the pair in notify's database
  and lets exactly one process refresh it. Delivery reports come to the OA webhook
  (``event_name "user_received_message"``) signed ``X-ZEvent-Signature:
  mac=sha256(app_id + body + timestamp + OA secret)``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from services.notify.channels import (
    PermanentError,
    SendResult,
    SmsProvider,
    TransientError,
    _json,
)
from services.notify.sms import is_gsm7
from services.notify.sms import segments as sms_segments

if TYPE_CHECKING:
    from services.notify.credentials import Credentials

log = logging.getLogger(__name__)

ESMS_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
ZNS_PATH = "/message/template"
ZALO_TOKEN_PATH = "/v4/oa/access_token"
BRANDNAME_MAX = 11

# eSMS CodeResult values. 100 is success; 124 is "RequestId already used": the message
# went with the first request, so it is a success for an idempotent sender.
ESMS_OK = "100"
ESMS_DUPLICATE = "124"
# Worth retrying: the provider's own trouble, an empty balance someone will top up, and
# "too many requests".
ESMS_TRANSIENT = {"99", "103", "105", "113"}
# Everything else is permanent: 101 authentication, 102 account locked, 104 unknown
# brandname, 118 wrong SmsType, 119 brandname not allowed for the type, 146 content does
# not match a registered template, 177 number refused...

# ZNS error codes (negative): retry on the provider's errors, an expired token (after a
# refresh), quota and rate limits and the night-time ban; the rest is permanent (number
# invalid or without Zalo, template id or data wrong, user refused ZNS...).
ZNS_TOKEN_INVALID = -124
ZNS_TRANSIENT = {-1, -100, -32, -115, -133, ZNS_TOKEN_INVALID}

# eSMS SendStatus in delivery reports.
ESMS_DELIVERED = {"5"}
ESMS_FAILED = {"4", "6"}


def callback_signature(secret: str, notification_id: str) -> str:
    """The HMAC a callback URL carries for one notification (eSMS signs nothing itself)."""
    return hmac.new(secret.encode(), f"esms|{notification_id}".encode(),
                    hashlib.sha256).hexdigest()


def zalo_signature(app_id: str, body: bytes | str, timestamp: str, oa_secret: str) -> str:
    """``X-ZEvent-Signature`` of a Zalo OA webhook: ``mac=`` + sha256 of the four parts."""
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    return "mac=" + hashlib.sha256(f"{app_id}{raw}{timestamp}{oa_secret}".encode()).hexdigest()


def national(to_e164: str) -> str:
    """``+84912345678`` -> ``84912345678``: how eSMS and Zalo want Vietnamese numbers."""
    return to_e164.lstrip("+")


class EsmsSms(SmsProvider):
    """eSMS.vn brandname SMS (customer-care type 2 by default)."""

    name = "esms"

    def __init__(self, *, base_url: str, api_key: str, secret_key: str, brandname: str,
                 sms_type: str = "2", sandbox: bool = False, unicode: bool = False,
                 callback_url: Callable[[str], str | None] | None = None,
                 timeout: float = 10.0, session: requests.Session | None = None) -> None:
        if not brandname or len(brandname) > BRANDNAME_MAX:
            raise ValueError(f"brandname must be 1-{BRANDNAME_MAX} characters: {brandname!r}")
        super().__init__(timeout, session)
        self.url = base_url.rstrip("/") + ESMS_PATH
        self.api_key = api_key
        self.secret_key = secret_key
        self.brandname = brandname
        self.sms_type = sms_type
        self.sandbox = sandbox
        self.unicode = unicode
        self.callback_url = callback_url

    def send(self, to_e164: str, text: str, idempotency_key: str) -> SendResult:
        self._check_number(to_e164)
        if not self.unicode and not is_gsm7(text):
            # A brandname account set up without Unicode rejects it, or bills 70-character
            # parts: our templates give GSM-7, so this is a bug upstream, not a retry.
            raise PermanentError("text is not GSM-7 and Unicode is off", provider=self.name,
                                 code="not_gsm7")
        body: dict[str, Any] = {
            "ApiKey": self.api_key, "SecretKey": self.secret_key, "Phone": national(to_e164),
            "Content": text, "Brandname": self.brandname, "SmsType": self.sms_type,
            "IsUnicode": "1" if self.unicode else "0", "Sandbox": "1" if self.sandbox else "0",
            "RequestId": idempotency_key,
        }
        if self.callback_url and (url := self.callback_url(idempotency_key)):
            body["CallbackUrl"] = url
        resp = self._post(self.url, json=body)
        data = _json(resp)
        if resp.status_code >= 300:
            self._raise_for(resp, str(data.get("ErrorMessage") or ""), data.get("CodeResult"))
        code = str(data.get("CodeResult", ""))
        if code == ESMS_OK and data.get("SMSID"):
            return SendResult(self.name, str(data["SMSID"]), "accepted",
                              sms_segments(text), detail=data)
        if code == ESMS_DUPLICATE:
            # Sent by an earlier attempt whose answer we lost; its report names RequestId.
            return SendResult(self.name, f"request:{idempotency_key}", "accepted",
                              sms_segments(text), detail=data)
        reason = str(data.get("ErrorMessage") or f"CodeResult {code or '?'}")
        cls = TransientError if (code in ESMS_TRANSIENT or not code) else PermanentError
        raise cls(reason, provider=self.name, status=resp.status_code, code=code or None)


# ---------------------------------------------------------------- Zalo


class ZaloTokens:
    """Zalo OA access and refresh tokens, kept in notify's database.

    One document ``{_id: "zalo"}``, read and written through
    :class:`~services.notify.credentials.Credentials`, holds both tokens (encrypted), the
    access token's expiry and a ``version``. Refreshing spends the refresh token, so only
    the process that wins a conditional update (a lease on the current version) calls
    Zalo; the others wait for the new version or give up for this round (their send is
    retried).
    The answer is stored at once, with the lease holder as the condition.
    """

    DOC = "zalo"

    def __init__(self, credentials: Credentials, *, oauth_url: str, app_id: str,
                 secret_key: str, seed_refresh_token: str, seed_access_token: str = "",
                 encrypt: Callable[[str], str] = lambda s: s,
                 decrypt: Callable[[str], str] = lambda s: s,
                 clock: Callable[[], datetime], margin: float = 300.0,
                 lease_seconds: float = 30.0, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.store = credentials
        self.url = oauth_url.rstrip("/") + ZALO_TOKEN_PATH
        self.app_id = app_id
        self.secret_key = secret_key
        self.seed_refresh = seed_refresh_token
        self.seed_access = seed_access_token
        self.encrypt, self.decrypt = encrypt, decrypt
        self.clock = clock
        self.margin = timedelta(seconds=margin)
        self.lease = timedelta(seconds=lease_seconds)
        self.timeout = timeout
        self.session = session or requests.Session()

    def _doc(self) -> dict[str, Any]:
        doc = self.store.get(self.DOC)
        if doc is not None:
            return doc
        if not self.seed_refresh:
            raise PermanentError("no Zalo refresh token configured (ZALO_REFRESH_TOKEN)",
                                 provider="zalo", code="no_token")
        now = self.clock()
        seed = {"_id": self.DOC, "version": 0, "refreshes": 0,
                "refresh_enc": self.encrypt(self.seed_refresh),
                "access_enc": self.encrypt(self.seed_access) if self.seed_access else None,
                # A configured access token is trusted for an hour; none means refresh now.
                "expires_at": now + timedelta(hours=1) if self.seed_access else now,
                "lease_token": None, "lease_until": None, "updated_at": now}
        return self.store.seed(seed)

    def access_token(self, wait: float = 5.0) -> str:
        """A valid access token, refreshing it first when it is about to expire."""
        deadline = time.monotonic() + wait
        while True:
            doc = self._doc()
            now = self.clock()
            if doc.get("access_enc") and doc["expires_at"] - self.margin > now:
                return self.decrypt(doc["access_enc"])
            token = self._claim(doc, now)
            if token:
                return self._refresh(doc, token)
            if time.monotonic() >= deadline:
                raise TransientError("another process is refreshing the Zalo token",
                                     provider="zalo", code="refreshing", retry_after=5)
            time.sleep(0.2)

    def expire(self, access: str) -> None:
        """Zalo refused ``access`` (-124): make the next caller refresh, unless done."""
        doc = self.store.get(self.DOC) or {}
        if doc.get("access_enc") and self.decrypt(doc["access_enc"]) == access:
            self.store.expire(self.DOC, doc["version"], self.clock())

    def _claim(self, doc: dict[str, Any], now: datetime) -> str | None:
        lease_until = doc.get("lease_until")
        if lease_until is not None and lease_until > now:
            return None
        token = uuid.uuid4().hex
        return token if self.store.claim(doc, token, now + self.lease) else None

    def _refresh(self, doc: dict[str, Any], token: str) -> str:
        refresh = self.decrypt(doc["refresh_enc"])
        try:
            resp = self.session.post(
                self.url, headers={"secret_key": self.secret_key},
                data={"app_id": self.app_id, "grant_type": "refresh_token",
                      "refresh_token": refresh}, timeout=self.timeout)
        except requests.RequestException as exc:
            self._release(token)
            raise TransientError(f"token refresh: {type(exc).__name__}: {exc}",
                                 provider="zalo") from exc
        data = _json(resp)
        if resp.status_code >= 500:
            self._release(token)
            raise TransientError(f"token refresh: HTTP {resp.status_code}", provider="zalo",
                                 status=resp.status_code)
        if not data.get("access_token") or not data.get("refresh_token"):
            self._release(token)
            # The refresh token is dead (used, expired, revoked): only a person can fix it
            # by authorising the app again. Every send fails loudly until then.
            raise PermanentError(f"token refresh refused: {data.get('error_name') or data}",
                                 provider="zalo", status=resp.status_code,
                                 code=data.get("error") or "refresh_refused")
        now = self.clock()
        expires_in = int(data.get("expires_in") or 90000)
        self.store.renew(self.DOC, token, {
            "access_enc": self.encrypt(data["access_token"]),
            "refresh_enc": self.encrypt(data["refresh_token"]),
            "expires_at": now + timedelta(seconds=expires_in), "updated_at": now})
        log.info("zalo access token refreshed", extra={"expires_in": expires_in})
        return data["access_token"]

    def _release(self, token: str) -> None:
        self.store.release(self.DOC, token)


class ZnsSender:
    """Zalo ZNS template messages to a phone number."""

    name = "zns"

    def __init__(self, *, base_url: str, tokens: ZaloTokens, mode: str = "",
                 timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.url = base_url.rstrip("/") + ZNS_PATH
        self.tokens = tokens
        self.mode = mode
        self.timeout = timeout
        self.session = session or requests.Session()

    def send(self, to_e164: str, template_id: str, data: Mapping[str, str],
             tracking_id: str) -> SendResult:
        access = self.tokens.access_token()
        body: dict[str, Any] = {"phone": national(to_e164), "template_id": template_id,
                                "template_data": dict(data), "tracking_id": tracking_id}
        if self.mode:
            body["mode"] = self.mode  # "development": delivered to the OA's admins only
        try:
            resp = self.session.post(self.url, json=body, timeout=self.timeout,
                                     headers={"access_token": access})
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc
        except requests.RequestException as exc:
            raise PermanentError(f"{type(exc).__name__}: {exc}", provider=self.name) from exc
        answer = _json(resp)
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise TransientError(f"HTTP {resp.status_code}", provider=self.name,
                                 status=resp.status_code)
        try:
            error = int(answer.get("error", -1 if resp.status_code >= 300 else 0))
        except (TypeError, ValueError):
            error = -1
        msg_id = (answer.get("data") or {}).get("msg_id")
        if error == 0 and msg_id:
            return SendResult(self.name, str(msg_id), "accepted", detail=answer)
        reason = str(answer.get("message") or f"error {error}")
        if error == ZNS_TOKEN_INVALID:
            self.tokens.expire(access)
            raise TransientError(reason, provider=self.name, code=error, retry_after=1)
        cls = TransientError if error in ZNS_TRANSIENT else PermanentError
        raise cls(reason, provider=self.name, status=resp.status_code, code=error)
