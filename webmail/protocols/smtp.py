"""SMTP adapter: check an outgoing server's settings and send a message through it.

Same host policy and error vocabulary as IMAP: we connect to the address `hosts` checked and
verify TLS against the name the user typed.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from webmail.protocols.connect import (
    ConnectOptions,
    Endpoint,
    network_error,
    open_socket,
    ssl_context,
    tls_error,
    tls_server_name,
)
from webmail.protocols.errors import (
    AuthError,
    PermanentError,
    ProtocolError,
    TLSError,
    TransientError,
)


@dataclass(frozen=True)
class Refusal:
    """A recipient the server would not accept."""

    code: int
    text: str


class _PinnedSMTP(smtplib.SMTP):
    """smtplib over a socket already connected to a policy-checked address.

    smtplib keeps the host it was given for STARTTLS (SNI and hostname check), so we give it
    the user's name and hand over our socket here instead of letting it connect by name.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sock: socket.socket,
        tls: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        self._pinned_sock = sock
        self._implicit_tls = tls
        # An address literal (RFC 5321 section 4.1.3) instead of socket.getfqdn(), which may
        # block on DNS and would name the machine.
        local = sock.getsockname()[0]
        helo = f"[IPv6:{local}]" if ":" in local else f"[{local}]"
        super().__init__(host, port, local_hostname=helo, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        if self._implicit_tls is None:
            return self._pinned_sock
        return self._implicit_tls.wrap_socket(self._pinned_sock, server_hostname=host)


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())[:300]


def _translate(
    exc: OSError, endpoint: Endpoint, doing: str, *, handshake: bool, login: bool
) -> ProtocolError:
    host = endpoint.host
    # smtplib's exceptions are OSErrors too, so they come first.
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = _text(exc.smtp_error)
        if endpoint.password:
            text = text.replace(endpoint.password, "***")
        if 400 <= exc.smtp_code < 500:  # RFC 4954 section 6: 454 temporary failure
            return TransientError(f"{host} cannot log you in right now: {exc.smtp_code} {text}")
        return AuthError(f"{host} refused the user name or password: {exc.smtp_code} {text}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"{host} does not support {doing}: {exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"{host} closed the connection while {doing}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        summary = "; ".join(
            f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
        )
        if codes and all(400 <= code < 500 for code in codes):
            return TransientError(f"{host} deferred every recipient: {summary}")
        return PermanentError(f"{host} refused every recipient: {summary}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return TransientError(f"{host} cannot do this right now ({doing}): {text}")
        if login:
            return AuthError(f"{host} refused the login: {text}")
        return PermanentError(f"{host} refused {doing}: {text}")
    if isinstance(exc, smtplib.SMTPException):
        return PermanentError(f"{host} failed while {doing}: {exc}")
    if isinstance(exc, ssl.SSLError) and not handshake:
        return TransientError(f"the TLS connection to {host} failed while {doing}")
    if isinstance(exc, ssl.SSLError):
        return tls_error(exc, host)
    return network_error(exc, host, endpoint.port, doing)


@contextmanager
def _guard(
    endpoint: Endpoint, doing: str, *, handshake: bool = False, login: bool = False
) -> Iterator[None]:
    try:
        yield
    except ProtocolError:
        raise
    except OSError as exc:
        raise _translate(exc, endpoint, doing, handshake=handshake, login=login) from exc


def _login(smtp: smtplib.SMTP, endpoint: Endpoint) -> None:
    username, password = endpoint.username, endpoint.password
    if not smtp.has_extn("auth"):
        raise PermanentError(f"{endpoint.host} does not offer authentication (AUTH)")
    if username.isascii() and password.isascii():
        smtp.login(username, password)
        return
    # smtplib encodes credentials as ASCII; SASL PLAIN is defined on UTF-8 (RFC 4616).
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise PermanentError(f"{endpoint.host} accepts only ASCII user names and passwords")
    token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode()
    code, response = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


@contextmanager
def _session(endpoint: Endpoint, options: ConnectOptions) -> Iterator[smtplib.SMTP]:
    """Connected, secured (per ``endpoint.security``), greeted and, with a user name, logged in."""
    context = ssl_context(options.ca_file) if endpoint.security != "none" else None
    sock, _address = open_socket(endpoint, options)
    implicit = context if endpoint.security == "tls" else None
    smtp: smtplib.SMTP | None = None
    try:
        with _guard(endpoint, "connecting", handshake=True):
            smtp = _PinnedSMTP(
                tls_server_name(endpoint.host), endpoint.port, sock, implicit, options.timeout
            )
            smtp.ehlo_or_helo_if_needed()
            if endpoint.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise TLSError(f"{endpoint.host} does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
        if endpoint.username:
            with _guard(endpoint, "logging in", login=True):
                _login(smtp, endpoint)
        yield smtp
        with suppress(smtplib.SMTPException, OSError):
            smtp.quit()  # a server that hangs up first has still done its job
    finally:
        if smtp is not None:
            smtp.close()
        sock.close()


def check_smtp(endpoint: Endpoint, options: ConnectOptions) -> None:
    """Connect, secure, EHLO, log in (when a user name is set) and QUIT; raise on failure."""
    with _session(endpoint, options):
        pass


def send_message(
    endpoint: Endpoint,
    options: ConnectOptions,
    *,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
) -> dict[str, Refusal]:
    """Submit ``message`` (RFC 5322 bytes) for ``recipients``; returns the refused ones.

    Raises when every recipient is refused, or the sender or the message is. Non-ASCII
    addresses need the server's SMTPUTF8 (RFC 6531).
    """
    if not recipients:
        raise ValueError("no recipients")
    international = not sender.isascii() or not all(r.isascii() for r in recipients)
    with _session(endpoint, options) as smtp, _guard(endpoint, "sending the message"):
        options_ = ["SMTPUTF8"] if international else []
        if international and not smtp.has_extn("smtputf8"):
            raise PermanentError(
                f"{endpoint.host} cannot deliver to or from addresses with non-ASCII characters"
            )
        refused = smtp.sendmail(sender, list(recipients), message, mail_options=options_)
    return {rcpt: Refusal(code, _text(msg)) for rcpt, (code, msg) in refused.items()}


__all__ = ["Refusal", "check_smtp", "send_message"]
