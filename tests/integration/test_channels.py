"""Email and SMS senders against the real local sinks (deploy/sinks.py) as a subprocess."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notify.channels import (
    GenericHttpSms,
    PermanentError,
    SmsProvider,
    TransientError,
    TwilioSms,
    sms_provider_from_config,
)
from services.notify.mail import SmtpSender, message_id_for
from services.notify.templates import render

try:
    from conftest_sinks import Sinks, free_port, running_sinks
except ImportError:  # collected as part of a package
    from .conftest_sinks import Sinks, free_port, running_sinks

SENDER = "Hệ thống Đối thoại với Nhân dân <thongbao@doithoai.ninhbinh.gov.vn>"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
SUBJECT = "Kiến nghị NB25-4K7Q2M đã có trả lời – Sở Xây dựng tỉnh Ninh Bình"
BODY = (
    "Kính gửi Ông/Bà Nguyễn Thị Hoa,\n\n"
    "Đường liên thôn Đông Chùa – Đại Hữu sẽ được nâng cấp trong quý I/2026.\n"
    "Ủy ban nhân dân xã Gia Viễn đã bố trí máy bơm tiêu úng."
)


@pytest.fixture(scope="module")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    with running_sinks(tmp_path_factory.mktemp("sinks")) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "sinks" in request.fixturenames:
        request.getfixturevalue("sinks").clear()


def smtp(sinks: Sinks, **kwargs: object) -> SmtpSender:
    return SmtpSender(sinks.host, sinks.smtp_port, sender=SENDER, timeout=5, **kwargs)


def generic(sinks: Sinks, token: str = "dev-token") -> GenericHttpSms:
    return GenericHttpSms(f"{sinks.url}/sms", token=token, sender="UBND-NB", timeout=5)


def twilio(sinks: Sinks, **kwargs: object) -> TwilioSms:
    settings: dict[str, object] = {"from_number": "+15005550006", **kwargs}
    return TwilioSms(
        account_sid=ACCOUNT_SID, auth_token="secret", base_url=sinks.url, timeout=5, **settings
    )


ADAPTERS = ["generic", "twilio"]


def adapter(kind: str, sinks: Sinks) -> SmsProvider:
    return generic(sinks) if kind == "generic" else twilio(sinks)


# ---------------------------------------------------------------- email


def test_email_arrives_with_exact_vietnamese_subject_and_body(sinks: Sinks) -> None:
    html = "<p>Đường liên thôn <b>Đông Chùa</b></p>"
    result = smtp(sinks).send("Hoa.Nguyen@example.vn", SUBJECT, BODY, html, "evt-1:hoa:answered")

    [mail] = sinks.messages(channel="email", to="hoa.nguyen@example.vn")
    assert mail["subject"] == SUBJECT
    assert mail["body"] == BODY
    assert mail["html"] == html
    assert mail["provider"] == "smtp" and mail["channel"] == "email"
    assert mail["header_from"] == SENDER
    assert mail["from"] == "thongbao@doithoai.ninhbinh.gov.vn"
    assert mail["message_id"] == result.message_id
    assert result.message_id == message_id_for("evt-1:hoa:answered", "doithoai.ninhbinh.gov.vn")
    assert result.status == "sent"
    received = dt.datetime.fromisoformat(mail["received_at"])
    assert received.utcoffset() == dt.timedelta(hours=7)


def test_message_id_is_stable_for_one_key(sinks: Sinks) -> None:
    sender = smtp(sinks)
    first = sender.send("an@example.vn", "Thử", "Một", None, "same-key")
    second = sender.send("an@example.vn", "Thử", "Một", None, "same-key")
    other = sender.send("an@example.vn", "Thử", "Một", None, "other-key")
    assert first.message_id == second.message_id != other.message_id
    # SMTP has no idempotency: both copies arrive, and a mail client can fold them by id.
    ids = [m["message_id"] for m in sinks.messages(channel="email")]
    assert ids == [first.message_id, first.message_id, other.message_id]


def test_rendered_template_survives_the_wire(sinks: Sinks) -> None:
    out = render(
        "petition_rejected",
        "email",
        {
            "tracking_code": "NB25-4K7Q2M",
            "reason": "Nội dung thuộc thẩm quyền của Tòa án <nhân dân> khu vực 5.",
            "lookup_url": "https://doithoai.ninhbinh.gov.vn/tra-cuu",
        },
    )
    smtp(sinks).send("hoa@example.vn", out.subject, out.text, out.html, "evt-2")
    [mail] = sinks.messages(channel="email")
    assert mail["subject"] == "Kiến nghị NB25-4K7Q2M không được thụ lý"
    assert mail["body"] == out.text.removesuffix("\n")
    assert "Tòa án &lt;nhân dân&gt; khu vực 5." in mail["html"]


def test_email_with_login(sinks: Sinks) -> None:
    smtp(sinks, username="notify", password="pw").send("an@example.vn", "Xin chào", "Nội dung")
    [mail] = sinks.messages(channel="email")
    assert mail["authenticated_as"] == "notify"
    assert mail["subject"] == "Xin chào"


def test_smtp_4xx_is_transient_and_5xx_permanent(sinks: Sinks) -> None:
    sinks.fault("busy@example.vn", [451])
    with pytest.raises(TransientError) as transient:
        smtp(sinks).send("busy@example.vn", "Thử", "Nội dung", None, "k1")
    assert transient.value.status == 451
    assert "temporarily" in transient.value.reason

    sinks.fault("gone@example.vn", [{"status": 550, "message": "5.1.1 Mailbox does not exist"}])
    with pytest.raises(PermanentError) as permanent:
        smtp(sinks).send("gone@example.vn", "Thử", "Nội dung", None, "k2")
    assert permanent.value.status == 550
    assert permanent.value.reason == "5.1.1 Mailbox does not exist"

    # The fault was used up: the next send goes through.
    smtp(sinks).send("busy@example.vn", "Thử", "Nội dung", None, "k1")
    assert [m["to"] for m in sinks.messages(channel="email")] == ["busy@example.vn"]


def test_smtp_unreachable_is_transient() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), sender=SENDER, timeout=2)
    with pytest.raises(TransientError):
        sender.send("an@example.vn", "Thử", "Nội dung")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_starttls_with_login(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with running_sinks(tmp_path / "data", tls_cert=cert, tls_key=key) as tls_sinks:
        trusted = ssl.create_default_context(cafile=str(cert))
        sender = SmtpSender(
            tls_sinks.host, tls_sinks.smtp_port, "starttls", "notify", "pw", SENDER, 5, trusted
        )
        sender.send("an@example.vn", "Thư qua TLS", "Nội dung mã hóa", None, "tls-1")
        [mail] = tls_sinks.messages(channel="email")
        assert mail["subject"] == "Thư qua TLS"
        assert mail["body"] == "Nội dung mã hóa"
        assert mail["authenticated_as"] == "notify"

        # A certificate we do not trust is a configuration problem, not worth retrying.
        untrusted = SmtpSender(tls_sinks.host, tls_sinks.smtp_port, "starttls", sender=SENDER)
        with pytest.raises(PermanentError, match="certificate"):
            untrusted.send("an@example.vn", "Thử", "Nội dung")


# ---------------------------------------------------------------- SMS


def test_generic_sms_is_stored_as_sent(sinks: Sinks) -> None:
    text = render(
        "petition_received",
        "sms",
        {"tracking_code": "NB25-4K7Q2M", "lookup_url": "https://doithoai.ninhbinh.gov.vn/tra-cuu",
         "sms_number": "8077"},
    ).text
    result = generic(sinks).send("+84912345678", text, "evt-3:sms")
    assert result.provider == "generic" and result.status == "accepted"
    assert result.segments == 1
    [sms] = sinks.messages(channel="sms", to="+84912345678")
    assert sms["id"] == result.message_id
    assert sms["body"] == text
    assert sms["subject"] is None
    assert sms["provider"] == "generic"
    assert sms["from"] == "UBND-NB"
    assert dt.datetime.fromisoformat(sms["received_at"]).utcoffset() == dt.timedelta(hours=7)


def test_twilio_sms_has_twilio_shape(sinks: Sinks) -> None:
    text = "Kien nghi NB25-4K7Q2M da co tra loi. " + "Chi tiet tai trang tra cuu. " * 5
    result = twilio(sinks).send("+84987654321", text, "evt-4:sms")
    assert result.provider == "twilio"
    assert result.message_id.startswith("SM")
    assert result.status == "queued"
    assert result.segments == 2
    assert result.detail["from"] == "+15005550006"
    assert result.detail["to"] == "+84987654321"
    assert result.detail["num_segments"] == "2"
    assert result.detail["account_sid"] == ACCOUNT_SID
    [sms] = sinks.messages(channel="sms")
    assert sms["id"] == result.message_id and sms["body"] == text and sms["provider"] == "twilio"


def test_twilio_through_a_messaging_service(sinks: Sinks) -> None:
    sender = TwilioSms(
        account_sid=ACCOUNT_SID, auth_token="secret", base_url=sinks.url,
        messaging_service_sid="MG0123456789abcdef0123456789abcdef",
    )
    result = sender.send("+84912000111", "Nhac lich doi thoai", "evt-5")
    assert result.status == "accepted"
    assert result.detail["messaging_service_sid"] == "MG0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("kind", ADAPTERS)
def test_same_idempotency_key_stores_once(sinks: Sinks, kind: str) -> None:
    provider = adapter(kind, sinks)
    first = provider.send("+84912345001", "Da tiep nhan kien nghi", "evt-6:hoa:received")
    again = provider.send("+84912345001", "Da tiep nhan kien nghi", "evt-6:hoa:received")
    other = provider.send("+84912345001", "Da tiep nhan kien nghi", "evt-7:hoa:received")
    assert first.message_id == again.message_id != other.message_id
    assert [m["id"] for m in sinks.messages(channel="sms")] == [
        first.message_id, other.message_id
    ]


@pytest.mark.parametrize("kind", ADAPTERS)
def test_503_twice_is_transient_then_succeeds(sinks: Sinks, kind: str) -> None:
    provider = adapter(kind, sinks)
    sinks.fault("+84912345002", [503, 503])
    for _ in range(2):
        with pytest.raises(TransientError) as error:
            provider.send("+84912345002", "Nhac lich", "evt-8")
        assert error.value.status == 503
        assert error.value.retry_after == 1.0
        assert error.value.reason
    result = provider.send("+84912345002", "Nhac lich", "evt-8")
    assert [m["id"] for m in sinks.messages(to="+84912345002")] == [result.message_id]


def test_400_is_permanent_with_the_providers_reason(sinks: Sinks) -> None:
    sinks.fault("+84912345003", [400])
    with pytest.raises(PermanentError) as error:
        generic(sinks).send("+84912345003", "Thu", "evt-9")
    assert error.value.status == 400
    assert error.value.reason == "Recipient rejected by operator"

    sinks.fault("+84912345003", [{"status": 400, "code": 21610,
                                  "message": "Attempt to send to unsubscribed recipient"}])
    with pytest.raises(PermanentError) as twilio_error:
        twilio(sinks).send("+84912345003", "Thu", "evt-9")
    assert twilio_error.value.code == 21610
    assert twilio_error.value.reason == "Attempt to send to unsubscribed recipient"
    assert sinks.messages(channel="sms") == []


@pytest.mark.parametrize("kind", ADAPTERS)
def test_429_is_transient(sinks: Sinks, kind: str) -> None:
    sinks.fault("+84912345004", [429])
    with pytest.raises(TransientError) as error:
        adapter(kind, sinks).send("+84912345004", "Thu", "evt-10")
    assert error.value.status == 429


def test_twilio_invalid_number_is_permanent_21211(sinks: Sinks) -> None:
    with pytest.raises(PermanentError) as error:
        twilio(sinks).send("+8491234", "Thu", "evt-11")  # E.164-shaped, no such VN number
    assert error.value.code == 21211
    assert error.value.status == 400
    assert "Invalid 'To' Phone Number" in error.value.reason
    assert sinks.messages() == []


@pytest.mark.parametrize("kind", ADAPTERS)
def test_national_format_is_refused_before_sending(sinks: Sinks, kind: str) -> None:
    with pytest.raises(PermanentError) as error:
        adapter(kind, sinks).send("0912345678", "Thu", "evt-12")
    assert error.value.code == "invalid_number"
    assert error.value.status is None  # nothing went over the wire
    assert sinks.messages() == []


def test_bad_credentials_are_permanent(sinks: Sinks) -> None:
    with pytest.raises(PermanentError) as error:
        generic(sinks, token="").send("+84912345005", "Thu", "evt-13")
    assert error.value.status == 401
    no_token = TwilioSms(account_sid=ACCOUNT_SID, auth_token="", from_number="+15005550006",
                         base_url=sinks.url)
    with pytest.raises(PermanentError) as twilio_error:
        no_token.send("+84912345005", "Thu", "evt-13")
    assert twilio_error.value.status == 401 and twilio_error.value.code == 20003
    assert sinks.messages() == []


def test_unreachable_gateway_is_transient() -> None:
    provider = GenericHttpSms(f"http://127.0.0.1:{free_port()}/sms", "t", "UBND", timeout=2)
    with pytest.raises(TransientError):
        provider.send("+84912345006", "Thu", "evt-14")


def test_gateway_that_never_answers_is_transient() -> None:
    # A listening socket that is never read: the connection opens, the answer never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        provider = TwilioSms(account_sid=ACCOUNT_SID, auth_token="x", from_number="+1500555",
                             base_url=f"http://127.0.0.1:{port}", timeout=0.5)
        with pytest.raises(TransientError, match="Timeout"):
            provider.send("+84912345007", "Thu", "evt-15")


def test_factory_builds_each_adapter(sinks: Sinks) -> None:
    provider = sms_provider_from_config(
        "twilio", account_sid=ACCOUNT_SID, auth_token="secret", from_number="+15005550006",
        base_url=sinks.url, timeout="3",
    )
    assert isinstance(provider, TwilioSms) and provider.timeout == 3.0
    provider.send("+84912345008", "Thu", "evt-16")
    gateway = sms_provider_from_config("generic", url=f"{sinks.url}/sms", token="t", sender="NB")
    assert isinstance(gateway, GenericHttpSms)
    gateway.send("+84912345008", "Thu", "evt-17")
    assert [m["provider"] for m in sinks.messages(to="+84912345008")] == ["twilio", "generic"]
    with pytest.raises(ValueError, match="unknown SMS provider"):
        sms_provider_from_config("carrier-pigeon")
    with pytest.raises(ValueError, match="bad settings"):
        sms_provider_from_config("generic", url="http://x", token="t", sender="NB", colour="red")


# ---------------------------------------------------------------- the sink itself


def test_messages_filter_accepts_an_unencoded_plus(sinks: Sinks) -> None:
    generic(sinks).send("+84912345009", "Thu", "evt-18")
    raw = requests.get(f"{sinks.url}/messages?to=+84912345009&channel=sms", timeout=5).json()
    assert [m["to"] for m in raw] == ["+84912345009"]
    assert requests.get(f"{sinks.url}/healthz", timeout=5).status_code == 200


def test_messages_survive_a_restart_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "persist"
    with running_sinks(data) as first:
        kept = GenericHttpSms(f"{first.url}/sms", "t", "UBND").send("+84912345010", "Mot", "k-1")
        SmtpSender(first.host, first.smtp_port, sender=SENDER).send(
            "an@example.vn", "Thư lưu lại", "Nội dung"
        )
        assert first.stop() == 0
    lines = (data / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["channel"] for line in lines] == ["sms", "email"]
    assert "Thư lưu lại" in lines[1]  # readable by a person, not \u-escaped
    assert "got SIGTERM" in first.log()

    with running_sinks(data) as second:
        assert [m["to"] for m in second.messages()] == ["+84912345010", "an@example.vn"]
        # The idempotency key is remembered across the restart.
        again = GenericHttpSms(f"{second.url}/sms", "t", "UBND").send("+84912345010", "Mot", "k-1")
        assert again.message_id == kept.message_id
        assert len(second.messages(channel="sms")) == 1
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(10) == 0
