"""The composition root of notify: settings, kit, store, senders, service, handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from flask import Flask

from services.common import contracts  # noqa: F401  (registers every event type)
from services.common.clock import Clock
from services.common.config import Settings
from services.common.contracts.notify import TOPIC as DELIVERIES
from services.common.kafka import Consumer
from services.common.kit import Job, Kit, ServiceApp
from services.common.outbox import Outbox
from services.notify import api, store
from services.notify.channels import SmsProvider, sms_provider_from_config
from services.notify.credentials import Credentials
from services.notify.handlers import TOPICS, batch_handlers, event_handlers
from services.notify.mail import SmtpSender
from services.notify.providers import EsmsSms, ZaloTokens, ZnsSender, callback_signature
from services.notify.service import NotifyService, Senders
from services.notify.settings import NotifySettings
from services.notify.views import Views

DB_NAME = "notify"
GROUP = "notify"


def email_sender(settings: NotifySettings) -> SmtpSender:
    return SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_security,
                      settings.smtp_user or None, settings.smtp_password or None,
                      settings.smtp_sender, timeout=settings.smtp_timeout)


def callback_url(settings: NotifySettings, notification_id: str) -> str:
    """Where eSMS reports on one message: signed, since eSMS itself signs nothing."""
    base = settings.callback_base_url.rstrip("/")
    sig = callback_signature(settings.callback_secret, notification_id)
    return f"{base}/api/v1/callbacks/esms?n={notification_id}&sig={sig}"


def sms_sender(settings: NotifySettings) -> SmsProvider:
    if settings.sms_provider == "esms":
        return EsmsSms(base_url=settings.esms_url, api_key=settings.esms_api_key,
                       secret_key=settings.esms_secret_key, brandname=settings.sms_sender,
                       sms_type=settings.esms_sms_type, sandbox=settings.esms_sandbox,
                       unicode=settings.esms_unicode, timeout=settings.sms_timeout,
                       callback_url=lambda nid: callback_url(settings, nid))
    if settings.sms_provider == "twilio":
        return sms_provider_from_config(
            "twilio", account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token, from_number=settings.twilio_from or None,
            messaging_service_sid=settings.twilio_messaging_service_sid or None,
            base_url=settings.twilio_base_url, timeout=settings.sms_timeout)
    return sms_provider_from_config("generic", url=settings.sms_url, token=settings.sms_token,
                                    sender=settings.sms_sender, timeout=settings.sms_timeout)


def zalo_sender(settings: NotifySettings, kit: Kit) -> ZnsSender | None:
    if not settings.zalo_zns:
        return None
    tokens = ZaloTokens(
        Credentials(kit.db), oauth_url=settings.zalo_oauth_url,
        app_id=settings.zalo_app_id, secret_key=settings.zalo_secret_key,
        seed_refresh_token=settings.zalo_refresh_token,
        seed_access_token=settings.zalo_access_token,
        encrypt=lambda s: kit.keys.encrypt(s, "zalo-token"),
        decrypt=lambda s: kit.keys.decrypt(s, "zalo-token"), clock=kit.clock,
        timeout=settings.sms_timeout)
    return ZnsSender(base_url=settings.zalo_api_url, tokens=tokens, mode=settings.zalo_mode,
                     timeout=settings.sms_timeout)


@dataclass
class App(ServiceApp):
    TITLE = "Notify"

    settings: NotifySettings
    kit: Kit
    store: store.Store
    service: NotifyService
    outbox: Outbox
    _web: Flask | None = field(default=None, repr=False)

    @cached_property
    def handlers(self):
        return event_handlers(self.service.dispatch)

    @cached_property
    def views(self) -> Views:
        return Views(self.store, self.service.directory)

    def indexes(self):
        return store.INDEXES

    def upgrade(self) -> None:
        """Notifications and stops written by older versions (idempotent)."""
        self.store.migrate_queue()
        self.store.migrate_stops()

    def topics(self):
        return [*TOPICS, DELIVERIES]

    def blueprints(self):
        return [api.notifications, api.directory, api.inbound, api.callbacks]

    def extensions(self) -> dict:
        return {"notify": self.service, "notify.views": self.views}

    def install(self, app: Flask) -> None:
        api.install_metrics(app)

    def web(self) -> Flask:
        if self._web is None:  # one app per process: its metrics hook is installed once
            self._web = super().web()
        return self._web

    def consumer(self, **options) -> Consumer:
        # a poll's consecutive petition.received: one bulk write and one find of read models
        options.setdefault("batch_handlers", batch_handlers(self.service.dispatch))
        return self.kit.consumer(GROUP, self.handlers, topics=TOPICS, **options)

    def consumers(self) -> list[Consumer]:
        return [self.consumer()]

    def outboxes(self) -> list[Outbox]:
        return [self.outbox]

    def jobs(self) -> list[Job]:
        return [Job("send-due", 0.5, self.send_due),
                Job("zns-fallback", 15.0, self.zns_timeouts),
                Job("rate-limit-sweep", 60.0, self.sweep_quotas),
                Job("held-reports", 5.0, self.service.inbound.apply_held_reports)]

    def send_due(self) -> int:
        return self.service.delivery.send_due()

    def zns_timeouts(self) -> int:
        return self.service.delivery.zns_timeouts()

    def sweep_quotas(self) -> int:
        return self.service.delivery.quota.sweep()



def build(settings: Settings | None = None, clock: Clock | None = None, *,
          senders: Senders | None = None) -> App:
    settings = NotifySettings.of(settings)
    kit = Kit(settings, DB_NAME, clock=clock)
    st = store.Store(kit.db)
    outbox = kit.outbox([st.notifications])
    senders = senders or Senders(email=email_sender(settings), sms=sms_sender(settings),
                                 zalo=zalo_sender(settings, kit))
    service = NotifyService(kit, settings, st, senders, outbox)
    return App(settings, kit, st, service, outbox)
