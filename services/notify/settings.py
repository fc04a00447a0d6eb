"""Settings of the notify service (environment variables, validated at start)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import ConfigError, Settings, setting
from services.common.crypto import DEV_CONTACT_PRIVATE, parse_keys


def _hours(raw: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(p) for p in raw.split(",") if p.strip()}, reverse=True))
    except ValueError:
        raise ConfigError(f"NOTIFY_REMINDER_HOURS={raw!r}: comma-separated whole hours") from None
    if any(v <= 0 for v in values):
        raise ConfigError("NOTIFY_REMINDER_HOURS: hours must be positive")
    return values


def _hhmm(env: str, raw: str) -> tuple[int, int]:
    try:
        hour, minute = (int(p) for p in raw.split(":"))
    except ValueError:
        raise ConfigError(f"{env}={raw!r} must be HH:MM") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"{env}={raw!r} must be HH:MM")
    return hour, minute


@dataclass(frozen=True)
class NotifySettings(Settings):
    service: str = setting("SERVICE_NAME", "notify", "service name, used as event source")

    # e-mail
    smtp_host: str = setting("SMTP_HOST", "127.0.0.1", "SMTP relay host")
    smtp_port: int = setting("SMTP_PORT", 2525, "SMTP relay port", low=1, high=65535)
    smtp_security: str = setting("SMTP_SECURITY", "none", "none, starttls or tls",
                                 choices=("none", "starttls", "tls"))
    smtp_user: str = setting("SMTP_USER", "", "SMTP login (empty: no AUTH)")
    smtp_password: str = setting("SMTP_PASSWORD", "", "SMTP password")
    smtp_sender: str = setting(
        "SMTP_SENDER", "Hệ thống Đối thoại với Nhân dân <thongbao@doithoai.local>",
        "From: header of every e-mail")
    smtp_timeout: float = setting("SMTP_TIMEOUT", 10.0, "seconds per SMTP conversation")

    # SMS
    sms_provider: str = setting("SMS_PROVIDER", "esms",
                                "esms (eSMS.vn brandname), generic or twilio",
                                choices=("esms", "generic", "twilio"))
    sms_url: str = setting("SMS_URL", "http://127.0.0.1:8025/sms", "generic gateway URL")
    sms_token: str = setting("SMS_TOKEN", "dev-sms-token", "generic gateway bearer token")
    sms_sender: str = setting("SMS_SENDER", "DOITHOAI", "brandname / sender id")
    sms_timeout: float = setting("SMS_TIMEOUT", 10.0, "seconds per gateway request")
    twilio_base_url: str = setting("TWILIO_BASE_URL", "https://api.twilio.com",
                                   "Twilio API base (a stand-in locally)")
    twilio_account_sid: str = setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID")
    twilio_auth_token: str = setting("TWILIO_AUTH_TOKEN", "", "Twilio auth token")
    twilio_from: str = setting("TWILIO_FROM", "", "Twilio sender number")
    twilio_messaging_service_sid: str = setting("TWILIO_MESSAGING_SERVICE_SID", "",
                                                "Twilio messaging service (instead of From)")
    esms_url: str = setting("ESMS_URL", "http://127.0.0.1:8025",
                            "eSMS API base (https://rest.esms.vn; the stand-in locally)")
    esms_api_key: str = setting("ESMS_API_KEY", "dev-esms-api-key", "eSMS ApiKey")
    esms_secret_key: str = setting("ESMS_SECRET_KEY", "dev-esms-secret-key", "eSMS SecretKey")
    esms_sms_type: str = setting("ESMS_SMS_TYPE", "2",
                                 "eSMS SmsType: 2 customer care (brandname), 8 fixed number",
                                 choices=("2", "8"))
    esms_unicode: bool = setting("ESMS_UNICODE", False,
                                 "IsUnicode=1, for accounts that require it (our texts stay "
                                 "unaccented GSM-7 either way)")
    esms_sandbox: bool = setting("ESMS_SANDBOX", False, "eSMS sandbox: checked, not sent")
    callback_base_url: str = setting(
        "NOTIFY_CALLBACK_URL", "http://127.0.0.1:8004",
        "public base URL of notify that providers send delivery reports to")
    callback_secret: str = setting(
        "NOTIFY_CALLBACK_SECRET", "dev-callback-secret-change-me",
        "HMAC key signing the per-message delivery report URLs given to eSMS")

    # Zalo ZNS, with SMS as the fallback
    zalo_zns: bool = setting("ZALO_ZNS", True,
                             "send over Zalo ZNS to citizens who chose Zalo (else SMS)")
    zalo_api_url: str = setting("ZALO_API_URL", "http://127.0.0.1:8025",
                                "ZNS API base (https://business.openapi.zalo.me)")
    zalo_oauth_url: str = setting("ZALO_OAUTH_URL", "http://127.0.0.1:8025",
                                  "Zalo OAuth base (https://oauth.zaloapp.com)")
    zalo_app_id: str = setting("ZALO_APP_ID", "dev-zalo-app", "Zalo app id")
    zalo_secret_key: str = setting("ZALO_SECRET_KEY", "dev-zalo-app-secret",
                                   "Zalo app secret key (token refresh)")
    zalo_oa_secret: str = setting("ZALO_OA_SECRET", "dev-zalo-oa-secret",
                                  "OA secret key verifying X-ZEvent-Signature of webhooks")
    zalo_refresh_token: str = setting(
        "ZALO_REFRESH_TOKEN", "dev-zalo-refresh-token",
        "first refresh token; later ones are kept (encrypted) in notify's database")
    zalo_access_token: str = setting("ZALO_ACCESS_TOKEN", "",
                                     "first access token (empty: refresh at first use)")
    zalo_mode: str = setting("ZALO_ZNS_MODE", "", "empty, or development (admins only)",
                             choices=("", "development"))
    zns_templates: str = setting("ZNS_TEMPLATES", "",
                                 "JSON: our template -> {template_id, params}; empty: the "
                                 "stand-in's ids (see services/notify/zns.py)")
    zns_fallback_seconds: int = setting(
        "ZNS_FALLBACK_SECONDS", 900,
        "a ZNS message not reported delivered within this goes by SMS", low=5, high=86400)
    sms_inbound_secret: str = setting(
        "SMS_INBOUND_SECRET", "", "shared secret the gateway sends in X-Webhook-Secret "
        "on inbound SMS (empty: not checked)")

    # contact tokens: only notify holds the private key
    contact_private_keys: str = setting(
        "CONTACT_PRIVATE_KEYS", DEV_CONTACT_PRIVATE,
        "X25519 private keys 'id:base64[,…]' opening contact tokens in events")

    # delivery
    send_attempts: int = setting("NOTIFY_SEND_ATTEMPTS", 5,
                                 "attempts before a transient failure becomes final",
                                 low=1, high=50)
    retry_backoff: float = setting("NOTIFY_RETRY_BACKOFF", 30.0,
                                   "seconds before the first retry; doubles each time")
    retry_backoff_max: float = setting("NOTIFY_RETRY_BACKOFF_MAX", 3600.0,
                                       "longest wait between two attempts, seconds")
    send_concurrency: int = setting(
        "NOTIFY_SEND_CONCURRENCY", 8, "messages handed to the providers at once by one "
        "process (a poll's acknowledgements, a sender pass): sending is waiting on a gateway",
        low=1, high=64)
    lease_seconds: int = setting("NOTIFY_LEASE_SECONDS", 120,
                                 "how long a sender's claim lasts before another may retry it",
                                 low=5, high=3600)
    sms_rate_per_minute: int = setting("NOTIFY_SMS_RATE", 120, "SMS per minute per provider",
                                       low=1, high=1_000_000)
    email_rate_per_minute: int = setting("NOTIFY_EMAIL_RATE", 300, "e-mails per minute",
                                         low=1, high=1_000_000)
    quiet_start: str = setting("NOTIFY_QUIET_START", "21:00",
                               "start of SMS quiet hours, Asia/Ho_Chi_Minh")
    quiet_end: str = setting("NOTIFY_QUIET_END", "07:00",
                             "end of SMS quiet hours, Asia/Ho_Chi_Minh")
    reminder_hours: str = setting("NOTIFY_REMINDER_HOURS", "48,24",
                                  "hours before a dialogue when invitees are reminded")

    # what templates tell people
    lookup_base_url: str = setting("NOTIFY_LOOKUP_URL", "http://127.0.0.1:8001/tra-cuu",
                                   "public petition lookup page")
    dialogue_base_url: str = setting("NOTIFY_DIALOGUE_URL", "",
                                     "public dialogue page base (empty: no link)")
    hotline: str = setting("NOTIFY_HOTLINE", "1900 0000", "hotline number shown in messages")
    sms_number: str = setting("NOTIFY_SMS_NUMBER", "8077",
                              "number citizens text TT/HUY commands to")
    platform_name: str = setting("NOTIFY_PLATFORM_NAME", "Hệ thống Đối thoại với Nhân dân",
                                 "name signing every message")

    def validate(self) -> None:
        super().validate()
        try:
            parse_keys(self.contact_private_keys)
        except ValueError as exc:
            raise ConfigError(f"CONTACT_PRIVATE_KEYS: {exc}") from None
        _hours(self.reminder_hours)
        from services.notify import zns

        try:
            zns.parse(self.zns_templates or zns.DEV_TEMPLATES)
        except zns.ZnsConfigError as exc:
            raise ConfigError(f"ZNS_TEMPLATES: {exc}") from None
        if self.env == "production" and "dev-" in (self.callback_secret + self.zalo_oa_secret):
            raise ConfigError("NOTIFY_CALLBACK_SECRET and ZALO_OA_SECRET must be set in "
                              "production: with the development values anyone can forge "
                              "delivery reports")
        if self.sms_provider == "esms" and not (0 < len(self.sms_sender) <= 11):
            raise ConfigError("SMS_SENDER: an eSMS brandname has 1 to 11 characters")
        _hhmm("NOTIFY_QUIET_START", self.quiet_start)
        _hhmm("NOTIFY_QUIET_END", self.quiet_end)
        if self.sms_provider == "twilio" and not (
                self.twilio_account_sid and self.twilio_auth_token
                and (self.twilio_from or self.twilio_messaging_service_sid)):
            raise ConfigError("SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                              "and TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")

    @property
    def reminder_offsets(self) -> tuple[int, ...]:
        return _hours(self.reminder_hours)

    @property
    def zns_map(self):
        from services.notify import zns

        return zns.parse(self.zns_templates or zns.DEV_TEMPLATES)

    @property
    def quiet_hours(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (_hhmm("NOTIFY_QUIET_START", self.quiet_start),
                _hhmm("NOTIFY_QUIET_END", self.quiet_end))
