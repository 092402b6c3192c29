"""What every adapter needs to reach a server: endpoint, options, TLS context, checked socket.

`open_socket` resolves once through the host policy and connects to the checked address; TLS is
then verified against the name the user typed (SNI and hostname check), never the address.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass, field
from typing import Literal

from webmail.protocols.errors import (
    ConnectTimeout,
    ProtocolError,
    TLSError,
    TransientError,
    UnreachableError,
)
from webmail.protocols.hosts import HostPolicy, normalise_host, resolve_allowed

Security = Literal["tls", "starttls", "none"]
SECURITY_CHOICES: tuple[Security, ...] = ("tls", "starttls", "none")

_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN, errno.EHOSTDOWN}
)


@dataclass(frozen=True)
class Endpoint:
    """One upstream server and the credentials for it."""

    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITY_CHOICES:
            raise ValueError(f"security must be one of {SECURITY_CHOICES}, not {self.security!r}")


@dataclass(frozen=True)
class ConnectOptions:
    """How to connect: address policy, extra CA to trust (tests, private CAs), timeout."""

    policy: HostPolicy = field(default_factory=HostPolicy)
    ca_file: str | None = None
    timeout: float = 20.0


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifying client context (system CAs, plus ``ca_file`` if given), TLS 1.2 or newer."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSError("the server's configured CA file cannot be loaded") from exc
    return context


def tls_server_name(host: str) -> str:
    """The name to send as SNI and to check the certificate against."""
    try:
        return normalise_host(host)
    except ValueError:
        return host.strip()


def tls_error(exc: ssl.SSLError, host: str) -> TLSError:
    """A TLSError whose detail says what is wrong with the certificate or handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "unknown reason"
        return TLSError(f"certificate verify failed for {host}: {reason}")
    reason = str(exc.reason or exc.strerror or exc)
    hint = ""
    if "WRONG_VERSION_NUMBER" in reason.upper() or "RECORD_LAYER" in reason.upper():
        hint = " (is this port plain text? try STARTTLS)"
    return TLSError(f"TLS handshake with {host} failed: {reason.lower().replace('_', ' ')}{hint}")


def network_error(exc: OSError, host: str, port: int, doing: str) -> ProtocolError:
    """Translate a socket-level failure while ``doing`` something into our vocabulary."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLError):
        return tls_error(exc, host)
    if isinstance(exc, TimeoutError):
        return ConnectTimeout(f"{where} did not answer in time while {doing}")
    if isinstance(exc, ConnectionRefusedError):
        return UnreachableError(f"{where} refused the connection")
    if exc.errno in _UNREACHABLE_ERRNOS:
        return UnreachableError(f"{where} cannot be reached: {exc.strerror or exc}")
    return TransientError(f"connection to {where} failed while {doing}: {exc.strerror or exc}")


def open_socket(endpoint: Endpoint, options: ConnectOptions) -> tuple[socket.socket, str]:
    """A TCP connection to an address of ``endpoint.host`` that the policy allows.

    Returns the socket (timeout set to ``options.timeout``) and the address it is connected to.
    Addresses are tried in resolver order; the last failure is raised if none answers.
    """
    addresses = resolve_allowed(
        endpoint.host,
        endpoint.port,
        options.policy,
        plaintext=endpoint.security == "none",
    )
    failure: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, endpoint.port), timeout=options.timeout)
        except OSError as exc:
            failure = exc
            continue
        return sock, address
    if failure is None:  # resolve_allowed never returns an empty list; keep mypy and -O honest
        raise UnreachableError(f"{endpoint.host} has no addresses")
    raise network_error(failure, endpoint.host, endpoint.port, "connecting") from failure


__all__ = [
    "SECURITY_CHOICES",
    "ConnectOptions",
    "Endpoint",
    "Security",
    "network_error",
    "open_socket",
    "ssl_context",
    "tls_error",
    "tls_server_name",
]
