"""The composition root of notify: settings, kit, store, senders, service, handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from flask import Flask

from services.common import contracts  # noqa: F401  (registers every event type)
from services.common.clock import Clock
from services.common.contracts.notify import TOPIC as DELIVERIES
from services.common.kafka import Consumer
from services.common.kit import Kit
from services.common.outbox import Outbox
from services.notify import api, store
from services.notify.channels import SmsProvider, SmtpSender, sms_provider_from_config
from services.notify.handlers import TOPICS, event_handlers
from services.notify.service import NotifyService, Senders
from services.notify.settings import NotifySettings

DB_NAME = "notify"
GROUP = "notify"


def email_sender(settings: NotifySettings) -> SmtpSender:
    return SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_security,
                      settings.smtp_user or None, settings.smtp_password or None,
                      settings.smtp_sender, timeout=settings.smtp_timeout)


def sms_sender(settings: NotifySettings) -> SmsProvider:
    if settings.sms_provider == "twilio":
        return sms_provider_from_config(
            "twilio", account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token, from_number=settings.twilio_from or None,
            messaging_service_sid=settings.twilio_messaging_service_sid or None,
            base_url=settings.twilio_base_url, timeout=settings.sms_timeout)
    return sms_provider_from_config("generic", url=settings.sms_url, token=settings.sms_token,
                                    sender=settings.sms_sender, timeout=settings.sms_timeout)


@dataclass
class App:
    settings: NotifySettings
    kit: Kit
    store: store.Store
    service: NotifyService
    outbox: Outbox
    _web: Flask | None = field(default=None, repr=False)

    @cached_property
    def handlers(self):
        return event_handlers(self.service)

    def prepare(self) -> None:
        """Indexes and topics; idempotent, run by the web app and the worker at start."""
        self.kit.prepare(store.INDEXES, [*TOPICS, DELIVERIES])

    def web(self) -> Flask:
        if self._web is None:
            self.prepare()
            self._web = self.kit.app("Notify", [api.notifications, api.directory, api.inbound],
                                     extensions={"notify": self.service})
        return self._web

    def consumer(self, **options) -> Consumer:
        return self.kit.consumer(GROUP, self.handlers, topics=TOPICS, **options)

    def send_due(self) -> int:
        return self.service.send_due()

    def relay(self) -> int:
        return self.outbox.relay_once()

    def close(self) -> None:
        self.kit.close()


def build(settings: NotifySettings | None = None, clock: Clock | None = None, *,
          senders: Senders | None = None) -> App:
    settings = settings or NotifySettings.from_env()
    kit = Kit(settings, DB_NAME, clock=clock)
    st = store.Store(kit.db)
    outbox = Outbox(kit.bus, [st.notifications], clock=kit.clock)
    senders = senders or Senders(email=email_sender(settings), sms=sms_sender(settings))
    service = NotifyService(kit, settings, st, senders, outbox)
    return App(settings, kit, st, service, outbox)
