"""check_smtp and send_message against the real Postfix rig (submission with Dovecot SASL)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import pytest

from tests.protocols.conftest import LOOPBACK
from tests.servers.mail import MailServer
from webmail.protocols.connect import ConnectOptions, Endpoint, Security
from webmail.protocols.errors import (
    AuthError,
    HostNotAllowed,
    PermanentError,
    TLSError,
    UnreachableError,
)
from webmail.protocols.smtp import check_smtp, send_message

pytestmark = pytest.mark.mailserver

MakeEndpoint = Callable[..., Endpoint]


@pytest.fixture
def smtp_endpoint(mailserver: MailServer) -> MakeEndpoint:
    """Submission with STARTTLS as alice unless told otherwise."""

    def make(
        security: Security = "starttls",
        *,
        user: str = "alice",
        password: str | None = None,
        port: int | None = None,
    ) -> Endpoint:
        default = mailserver.submissions_port if security == "tls" else mailserver.submission_port
        return Endpoint(
            host=mailserver.host,
            port=port or default,
            security=security,
            username=user,
            password=mailserver.users.get(user, "") if password is None else password,
        )

    return make


@pytest.mark.parametrize("security", ["starttls", "tls", "none"])
def test_it_logs_in_with_each_security_mode(
    smtp_endpoint: MakeEndpoint, options: ConnectOptions, security: Security
):
    check_smtp(smtp_endpoint(security), options)


@pytest.mark.parametrize("password", ["wrong-Secret-1", "pässwort-falsch"])
def test_it_reports_a_wrong_password_as_auth_error(
    smtp_endpoint: MakeEndpoint, options: ConnectOptions, password: str
):
    # The non-ASCII one goes through our own AUTH PLAIN (smtplib encodes only ASCII).
    with pytest.raises(AuthError) as info:
        check_smtp(smtp_endpoint(password=password), options)
    assert password not in info.value.detail
    assert "535" in info.value.detail


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_it_refuses_a_certificate_it_cannot_verify(smtp_endpoint: MakeEndpoint, security):
    options = ConnectOptions(policy=LOOPBACK, timeout=10)
    with pytest.raises(TLSError, match="certificate verify failed"):
        check_smtp(smtp_endpoint(security), options)


def test_it_reports_a_server_without_auth(
    smtp_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer
):
    # The MX-style port offers no AUTH: fine without a user name, refused with one.
    check_smtp(smtp_endpoint("starttls", user="", port=mailserver.smtp_port), options)
    with pytest.raises(PermanentError, match="AUTH"):
        check_smtp(smtp_endpoint("starttls", port=mailserver.smtp_port), options)


def test_it_reports_a_closed_port_as_unreachable(smtp_endpoint: MakeEndpoint, options):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UnreachableError):
        check_smtp(smtp_endpoint(port=port), options)


def test_it_refuses_loopback_without_an_operator_rule(smtp_endpoint: MakeEndpoint, mailserver):
    with pytest.raises(HostNotAllowed):
        check_smtp(smtp_endpoint(), ConnectOptions(ca_file=str(mailserver.ca_file)))


def _message(message_id: str) -> bytes:
    return (
        "From: Alice <alice@example.test>\r\n"
        "To: Bob <bob@example.test>\r\n"
        "Subject: via submission\r\n"
        f"Message-ID: {message_id}\r\n"
        "\r\n"
        "Hello Bob.\r\n"
    ).encode()


def test_it_sends_and_returns_refused_recipients(
    smtp_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer
):
    message_id = f"<{uuid.uuid4().hex}@example.test>"
    refused = send_message(
        smtp_endpoint(),
        options,
        sender="alice@example.test",
        recipients=["bob@example.test", "nobody@example.test"],
        message=_message(message_id),
    )
    assert list(refused) == ["nobody@example.test"]
    assert refused["nobody@example.test"].code == 550
    assert mailserver.wait_for("bob", ["HEADER", "Message-ID", message_id])


def test_it_raises_when_every_recipient_is_refused(
    smtp_endpoint: MakeEndpoint, options: ConnectOptions
):
    with pytest.raises(PermanentError, match="nobody@example.test: 550"):
        send_message(
            smtp_endpoint(),
            options,
            sender="alice@example.test",
            recipients=["nobody@example.test"],
            message=_message("<x@example.test>"),
        )
