"""Adding, changing and removing upstream mail accounts. Saving always tests both
connections first, so an account that is stored is one that worked."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.credentials import encrypt_secret
from accounts.models import MailAccount, User
from accounts.upstream import (
    check_incoming,
    check_outgoing,
    connect_options,
    describe_error,
    incoming_endpoint,
    outgoing_endpoint,
)
from webmail.actions import do_request_sync
from webmail.protocols import errors
from webmail.protocols.connect import Endpoint

DEFAULT_PORTS = {"imap": 143, "imaps": 993, "smtp": 587, "smtps": 465}


class ConnectionCheckFailed(Exception):
    """Testing the incoming or outgoing server failed; `message` is for the user."""

    def __init__(self, role: str, message: str) -> None:
        super().__init__(message)
        self.role = role  # "incoming" or "outgoing"
        self.message = message


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str  # tls | starttls | none
    username: str


def parse_server_url(url: str, *, kind: str) -> ServerSettings:
    """imap://LOGIN@HOST:PORT, imaps://, smtp://, smtps://; ?tls=none for plaintext.
    imap:// and smtp:// mean STARTTLS; `%40` stands for `@` in LOGIN."""
    parts = urlsplit(url)
    schemes = ("imap", "imaps") if kind == "incoming" else ("smtp", "smtps")
    if parts.scheme not in schemes:
        raise ValueError(
            _("%(url)s: scheme must be %(schemes)s")
            % {"url": url, "schemes": " or ".join(f"{s}://" for s in schemes)}
        )
    if not parts.hostname:
        raise ValueError(_("%(url)s: no host") % {"url": url})
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError(_("%(url)s: bad port") % {"url": url}) from exc
    tls = parse_qs(parts.query).get("tls", [""])[0]
    if parts.scheme.endswith("s"):
        security = "tls"
    elif tls == "none":
        security = "none"
    elif tls in ("", "starttls"):
        security = "starttls"
    else:
        raise ValueError(_("%(url)s: tls= takes none or starttls") % {"url": url})
    username = unquote(parts.username or "")
    return ServerSettings(parts.hostname, port, security, username)


def _endpoint(server: ServerSettings, password: str) -> Endpoint:
    return Endpoint(
        host=server.host,
        port=server.port,
        security=server.security,  # type: ignore[arg-type]
        username=server.username,
        password=password,
    )


def check_connections(
    user: User,
    incoming: ServerSettings,
    outgoing: ServerSettings,
    incoming_password: str,
    outgoing_password: str,
) -> frozenset[str]:
    options = connect_options(user.organisation)
    try:
        capabilities = check_incoming(_endpoint(incoming, incoming_password), options)
    except errors.ProtocolError as exc:
        raise ConnectionCheckFailed(
            "incoming", describe_error(exc, host=incoming.host, role=_("IMAP server"))
        ) from exc
    try:
        check_outgoing(_endpoint(outgoing, outgoing_password), options)
    except errors.ProtocolError as exc:
        raise ConnectionCheckFailed(
            "outgoing", describe_error(exc, host=outgoing.host, role=_("SMTP server"))
        ) from exc
    return capabilities


def resolve_passwords(
    account: MailAccount | None, incoming_password: str, outgoing_password: str | None
) -> tuple[str, str]:
    """Fill in what the user left empty: the saved passwords when editing (the browser never
    receives them, so it cannot send them back), and the incoming one for SMTP by default."""
    if account is not None and not incoming_password:
        incoming_password = incoming_endpoint(account).password
    if outgoing_password is None:
        return incoming_password, incoming_password
    if not outgoing_password and account is not None:
        stored = outgoing_endpoint(account).password if account.outgoing_secret else ""
        return incoming_password, stored or incoming_password
    return incoming_password, outgoing_password


def do_save_mail_account(
    user: User,
    *,
    email: str,
    display_name: str,
    incoming: ServerSettings,
    outgoing: ServerSettings,
    incoming_password: str,
    outgoing_password: str | None = None,
    account: MailAccount | None = None,
) -> MailAccount:
    """Test both servers, then create (or update) the account and enqueue a sync.

    outgoing_password None: the incoming one. On update, an empty password keeps the stored
    one (the browser never receives it, so it cannot send it back)."""
    incoming_password, outgoing_password = resolve_passwords(
        account, incoming_password, outgoing_password
    )
    capabilities = check_connections(user, incoming, outgoing, incoming_password, outgoing_password)
    with transaction.atomic():
        if account is None:
            account = MailAccount(owner=user)
        server_changed = account.pk is not None and (
            account.incoming_host != incoming.host
            or account.incoming_port != incoming.port
            or account.incoming_username != incoming.username
        )
        account.email = email
        account.display_name = display_name
        account.incoming_host, account.incoming_port = incoming.host, incoming.port
        account.incoming_security, account.incoming_username = incoming.security, incoming.username
        account.incoming_secret = encrypt_secret(incoming_password)
        account.outgoing_host, account.outgoing_port = outgoing.host, outgoing.port
        account.outgoing_security, account.outgoing_username = outgoing.security, outgoing.username
        account.outgoing_secret = (
            "" if outgoing_password == incoming_password else encrypt_secret(outgoing_password)
        )
        account.capabilities = " ".join(sorted(capabilities))
        account.last_error = ""
        account.save()
        if server_changed:
            # Another mailbox: the cached folders belong to the old one.
            account.folders.all().delete()
        do_request_sync(account)
    return account


def do_remove_mail_account(account: MailAccount) -> None:
    account.delete()
