"""The small vocabulary of upstream mail-server failures that adapters raise.

Callers choose by class alone: tasks retry `TransientError`, stop on `AuthError` and
`PermanentError`, and views map classes to translated messages. `detail` is plain text meant for
a user (it never contains a password); the original exception is chained with ``from``.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base for upstream mail-server failures."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AuthError(ProtocolError):
    """Credentials refused; retrying will not help."""


class TransientError(ProtocolError):
    """Timeout, reset or BYE; safe to retry later."""


class UnreachableError(TransientError):
    """Connection refused, no route to the host, or the name does not resolve."""


class ConnectTimeout(TransientError):
    """The server did not answer (connect, handshake or a command) within the timeout."""


class TLSError(ProtocolError):
    """TLS handshake or certificate failure; `detail` names the certificate problem.

    Not transient: a certificate that does not verify today will not verify on retry.
    """


class PermanentError(ProtocolError):
    """Command refused or capability missing."""


class HostNotAllowed(PermanentError):
    """The host or one of its addresses is refused by the operator's or organisation's policy."""


class UidValidityChanged(PermanentError):
    """Folder recreated upstream; cached UIDs are void."""


class FolderGone(PermanentError):
    """The folder (or a command's destination folder) no longer exists on the server."""


__all__ = [
    "AuthError",
    "ConnectTimeout",
    "FolderGone",
    "HostNotAllowed",
    "PermanentError",
    "ProtocolError",
    "TLSError",
    "TransientError",
    "UidValidityChanged",
    "UnreachableError",
]
