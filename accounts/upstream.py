"""From a MailAccount row to protocol endpoints, and upstream errors to user messages.

The only place accounts/ touches webmail.protocols: to build endpoints and test logins.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.credentials import decrypt_secret
from accounts.models import MailAccount, Organisation
from webmail.protocols import errors
from webmail.protocols.connect import ConnectOptions, Endpoint
from webmail.protocols.hosts import HostPolicy
from webmail.protocols.imap import ImapSession
from webmail.protocols.smtp import check_smtp


def connect_options(organisation: Organisation) -> ConnectOptions:
    return ConnectOptions(
        policy=HostPolicy(
            operator_rules=tuple(settings.ALLOWED_MAIL_HOSTS),
            org_rules=tuple(organisation.allowed_mail_host_list()),
        ),
        ca_file=settings.CA_FILE,
    )


def incoming_endpoint(account: MailAccount) -> Endpoint:
    return Endpoint(
        host=account.incoming_host,
        port=account.incoming_port,
        security=account.incoming_security,  # type: ignore[arg-type]
        username=account.incoming_username,
        password=decrypt_secret(account.incoming_secret),
    )


def outgoing_endpoint(account: MailAccount) -> Endpoint:
    secret = account.outgoing_secret or account.incoming_secret
    return Endpoint(
        host=account.outgoing_host,
        port=account.outgoing_port,
        security=account.outgoing_security,  # type: ignore[arg-type]
        username=account.outgoing_username,
        password=decrypt_secret(secret) if account.outgoing_username else "",
    )


def check_incoming(endpoint: Endpoint, options: ConnectOptions) -> frozenset[str]:
    """Log in and out; returns the server's capabilities. Raises errors.ProtocolError."""
    with ImapSession.connect(endpoint, options) as session:
        return session.capabilities


def check_outgoing(endpoint: Endpoint, options: ConnectOptions) -> None:
    check_smtp(endpoint, options)


def describe_error(exc: errors.ProtocolError, *, host: str, role: str = "") -> str:
    """One translatable sentence per error class; `detail` is already safe to show."""
    where = f"{role} {host}".strip()
    detail = getattr(exc, "detail", "") or ""
    if isinstance(exc, errors.AuthError):
        message = _("%(where)s refused the login or password.")
    elif isinstance(exc, errors.TLSError):
        message = _("Secure connection to %(where)s failed: %(detail)s")
    elif isinstance(exc, errors.HostNotAllowed):
        message = _("%(where)s is not allowed: %(detail)s")
    elif isinstance(exc, errors.ConnectTimeout):
        message = _("%(where)s did not answer in time.")
    elif isinstance(exc, errors.UnreachableError):
        message = _("Cannot reach %(where)s: %(detail)s")
    elif isinstance(exc, errors.TransientError):
        message = _("%(where)s dropped the connection: %(detail)s")
    else:
        message = _("%(where)s refused: %(detail)s")
    return (message % {"where": where, "detail": detail})[:500]
