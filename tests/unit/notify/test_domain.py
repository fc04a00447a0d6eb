"""Notify's rules without servers: commands, keys, quiet hours, backoff, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import VN_TZ
from services.common.config import ConfigError
from services.notify import domain
from services.notify.settings import NotifySettings

QUIET = ((21, 0), (7, 0))


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ).astimezone(UTC)


@pytest.mark.parametrize(("text", "verb", "code"), [
    ("TT NB25-4K7Q2M", "status", "NB25-4K7Q2M"),
    ("  tt   nb25-4k7q2m ", "status", "NB25-4K7Q2M"),
    ("HUY NB25-4K7Q2M", "stop", "NB25-4K7Q2M"),
    ("Huỷ nb25-4k7q2m", "stop", "NB25-4K7Q2M"),
    ("HỦY", "stop", None),
    ("TT", "help", None),
    ("TT <ma>", "help", None),
    ("xin chào", "help", None),
    ("", "help", None),
])
def test_commands(text, verb, code):
    assert domain.parse_command(text) == domain.Command(verb, code)


# A well-formed code (its check character fits): NB-7K4M-Q2X4, as people type it.
@pytest.mark.parametrize(("text", "verb", "code"), [
    ("TT NB-7K4M-Q2X4", "status", "NB-7K4M-Q2X4"),
    ("TT 7K4MQ2X4", "status", "7K4M-Q2X4"),  # no dash, no prefix
    ("tt 7k4m q2x4", "status", "7K4M-Q2X4"),  # lower case, a space
    ("TT NB7K4MQ2X4", "status", "NB-7K4M-Q2X4"),  # prefix glued
    ("tt nb 7k4m q2x4", "status", "NB-7K4M-Q2X4"),
    ("TT7K4MQ2X4", "status", "7K4M-Q2X4"),  # verb glued to the code
    ("HUY 7k4mq2x4", "stop", "7K4M-Q2X4"),
    ("huỷ nb-7k4m-q2x4", "stop", "NB-7K4M-Q2X4"),
    ("Hủy  NB 7K4M-Q2X4 ", "stop", "NB-7K4M-Q2X4"),
])
def test_codes_as_people_type_them(text, verb, code):
    assert domain.parse_command(text) == domain.Command(verb, code)
    # whatever was typed, the petition is found by the same 8 symbols
    assert domain.code_key_of(code) == "7K4MQ2X4"


def test_key_and_id_are_stable():
    key = domain.notification_key("ev-1", "petition:p1/sms", "petition_received")
    assert key == "ev-1|petition:p1/sms|petition_received"
    assert domain.notification_id(key) == domain.notification_id(key)
    assert domain.notification_id(key) != domain.notification_id(key + "x")


def test_reminder_keys_follow_the_start():
    a = domain.reminder_cause("dl", vn(2027, 3, 19, 8, 30), 24)
    b = domain.reminder_cause("dl", vn(2027, 3, 26, 14, 0), 24)
    assert a != b and a.endswith(":24h")


def test_reminder_times_skip_the_past():
    start = vn(2027, 3, 19, 8, 30)
    now = start - timedelta(hours=30)
    assert domain.reminder_times(start, (48, 24), now) == [(24, start - timedelta(hours=24))]


def test_stale_reminders():
    start = vn(2027, 3, 19, 8, 30)
    assert not domain.reminder_stale(start, 48, (48, 24), start - timedelta(hours=47))
    assert domain.reminder_stale(start, 48, (48, 24), start - timedelta(hours=24))
    assert not domain.reminder_stale(start, 24, (48, 24), start - timedelta(hours=2))
    assert domain.reminder_stale(start, 24, (48, 24), start)


@pytest.mark.parametrize(("moment", "quiet"), [
    (vn(2027, 3, 9, 20, 59), False), (vn(2027, 3, 9, 21, 0), True),
    (vn(2027, 3, 10, 3, 0), True), (vn(2027, 3, 10, 6, 59), True),
    (vn(2027, 3, 10, 7, 0), False), (vn(2027, 3, 10, 12, 0), False),
])
def test_quiet_hours(moment, quiet):
    assert domain.in_quiet_hours(moment, *QUIET) is quiet


def test_quiet_hours_end_is_the_next_seven_oclock():
    assert domain.quiet_hours_end(vn(2027, 3, 9, 22, 0), *QUIET) == vn(2027, 3, 10, 7, 0)
    assert domain.quiet_hours_end(vn(2027, 3, 10, 2, 0), *QUIET) == vn(2027, 3, 10, 7, 0)


def test_daytime_window():
    assert domain.in_quiet_hours(vn(2027, 3, 9, 12, 30), (12, 0), (13, 30))
    assert not domain.in_quiet_hours(vn(2027, 3, 9, 14, 0), (12, 0), (13, 30))


def test_backoff_doubles_and_is_capped():
    assert [domain.backoff(n, 30, 3600) for n in (1, 2, 3)] == [30, 60, 120]
    assert domain.backoff(20, 30, 3600) == 3600
    assert domain.backoff(1, 30, 3600, retry_after=300) == 300


def test_after_failure():
    now = vn(2027, 3, 9, 10, 0)
    retry = domain.after_failure(attempts=1, limit=3, transient=True, reason="503", now=now,
                                 base=30, cap=3600, retry_after=None)
    assert retry.state == "pending" and retry.due_at == now + timedelta(seconds=30)
    assert retry.event is None
    final = domain.after_failure(attempts=3, limit=3, transient=True, reason="503", now=now,
                                 base=30, cap=3600, retry_after=None)
    assert final.state == "failed" and final.event == "notification.failed"
    assert "3 attempts" in final.reason
    permanent = domain.after_failure(attempts=1, limit=3, transient=False,
                                     reason="invalid number", now=now, base=30, cap=3600,
                                     retry_after=None)
    assert permanent.state == "failed" and permanent.reason == "invalid number"


def test_contact_addresses():
    def normalize(raw: str) -> str:
        if not raw.startswith("09"):
            raise ValueError(raw)
        return "+84" + raw[1:]

    found = domain.contact_addresses({"phone": "0912345678", "email": "a@b.vn"}, "petition:p",
                                     "petitioner", normalize)
    assert [(a.channel, a.to) for a in found] == [("sms", "+84912345678"), ("email", "a@b.vn")]
    assert domain.contact_addresses({"phone": "12", "email": "nope"}, "p", "petitioner",
                                    normalize) == []


def test_directory_prefers_email():
    entry = {"name": "Sở Xây dựng"}
    [a] = domain.directory_addresses(entry, {"email": "x@y.vn", "phone": "+84912345678"},
                                     "agency:x", "agency")
    assert a.channel == "email" and a.name == "Sở Xây dựng"
    [b] = domain.directory_addresses(entry, {"phone": "+84912345678"}, "agency:x", "agency")
    assert b.channel == "sms"


def test_settings_defaults_and_checks():
    settings = NotifySettings.from_env({})
    assert settings.smtp_port == 2525 and settings.sms_provider == "esms"
    assert settings.esms_url == "http://127.0.0.1:8025" and settings.zalo_zns
    assert settings.zns_map["petition_received"].template_id == "100001"
    assert settings.reminder_offsets == (48, 24)
    assert settings.quiet_hours == QUIET
    assert NotifySettings.from_env({"NOTIFY_REMINDER_HOURS": "2, 72,24"}).reminder_offsets == (
        72, 24, 2)
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"NOTIFY_REMINDER_HOURS": "tomorrow"})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"NOTIFY_QUIET_START": "25:00"})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"SMS_PROVIDER": "twilio"})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"CONTACT_PRIVATE_KEYS": "nope"})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"ZNS_TEMPLATES": '{"petition_received": {"params": {}}}'})
    with pytest.raises(ConfigError):
        NotifySettings.from_env({"SMS_SENDER": "UBND TINH NINH BINH"})  # > 11 characters


def test_a_one_time_code_goes_at_once_and_never_after_it_expires():
    night = vn(2027, 3, 9, 23, 40)
    assert domain.urgent("dialogue_request_code", night)
    assert not domain.expired(night + timedelta(minutes=15), night)
    assert domain.expired(night + timedelta(minutes=15), night + timedelta(minutes=15))
    assert not domain.expired(None, night)
