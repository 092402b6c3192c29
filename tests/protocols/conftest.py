"""Fixtures for adapter tests: endpoints and options for the real Dovecot/Postfix rig."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.servers.mail import MailServer
from webmail.protocols.connect import ConnectOptions, Endpoint, Security
from webmail.protocols.hosts import HostPolicy
from webmail.protocols.imap import ImapSession

LOOPBACK = HostPolicy(operator_rules=("127.0.0.1",))


@pytest.fixture
def options(mailserver: MailServer) -> ConnectOptions:
    """Loopback allowed by the operator, the rig's private CA trusted."""
    return ConnectOptions(policy=LOOPBACK, ca_file=str(mailserver.ca_file), timeout=10.0)


MakeEndpoint = Callable[..., Endpoint]


@pytest.fixture
def imap_endpoint(mailserver: MailServer) -> MakeEndpoint:
    """Endpoint factory; STARTTLS on the plain port as alice unless told otherwise."""

    def make(
        security: Security = "starttls",
        *,
        user: str = "alice",
        password: str | None = None,
        port: int | None = None,
        host: str | None = None,
    ) -> Endpoint:
        default_port = mailserver.imaps_port if security == "tls" else mailserver.imap_port
        return Endpoint(
            host=host or mailserver.host,
            port=port or default_port,
            security=security,
            username=user,
            password=mailserver.users[user] if password is None else password,
        )

    return make


@pytest.fixture
def folder(mailserver: MailServer) -> Iterator[str]:
    """A fresh, empty folder of alice's (wire name); removed afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    mailserver.create_folder("alice", name)
    yield name
    with mailserver.imap("alice") as client:
        if client.folder_exists(name):
            client.delete_folder(name)


@pytest.fixture
def session(imap_endpoint: MakeEndpoint, options: ConnectOptions) -> Iterator[ImapSession]:
    """alice, logged in over STARTTLS."""
    with ImapSession.connect(imap_endpoint(), options) as imap:
        yield imap
