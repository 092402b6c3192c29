"""Fetch one remote image for the image proxy, under the same address policy as mail servers.

A mail's sender chooses the URL, so this is an SSRF surface: every hop (including redirects) is
resolved once through `resolve_allowed` and we connect to the checked address, sending the
original name as Host and TLS SNI. Only raster images labelled and sniffed (magic numbers) as
one of IMAGE_TYPES come back; anything else (SVG, HTML, oversized, slow) is refused or failed
with a short reason class.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, urljoin, urlsplit

from webmail.protocols.connect import ssl_context, tls_server_name
from webmail.protocols.errors import HostNotAllowed, TLSError, UnreachableError
from webmail.protocols.hosts import HostPolicy, normalise_host, resolve_allowed

RefusedReason = Literal["url", "scheme", "address", "type", "size"]
FailedReason = Literal["unreachable", "timeout", "tls", "http", "redirects"]

# Raster formats only: SVG can carry script and external references, so it is never proxied.
IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/x-icon",
    }
)
# Names servers use for the same formats.
_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-ms-bmp": "image/bmp",
    "image/vnd.microsoft.icon": "image/x-icon",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_SNIFF_BYTES = 32
_USER_AGENT = "Mozilla/5.0 (compatible; webmail-image-proxy)"
# Spaces, control characters and non-ASCII in the path and query, percent-encoded as UTF-8 the
# way browsers do (http.client would refuse them).
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")


class FetchError(Exception):
    """Base for image-fetch failures. ``reason`` is a short class safe to show; ``detail`` is
    for logs only (it names hosts and addresses)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FetchRefused(FetchError):
    """We will not fetch or return it: bad URL or scheme, disallowed address, wrong type, too big.

    Retrying will not help; the answer is the same for every user.
    """

    reason: RefusedReason

    def __init__(self, reason: RefusedReason, detail: str) -> None:
        super().__init__(reason, detail)


class FetchFailed(FetchError):
    """The upstream could not deliver: unreachable, too slow, bad TLS, HTTP error, redirect loop."""

    reason: FailedReason

    def __init__(self, reason: FailedReason, detail: str) -> None:
        super().__init__(reason, detail)


@dataclass(frozen=True)
class FetchedImage:
    """An image whose bytes were sniffed as ``content_type`` (one of IMAGE_TYPES)."""

    content_type: str
    data: bytes


def fetch_image(
    url: str,
    policy: HostPolicy,
    *,
    max_bytes: int = 5 * 1024 * 1024,
    timeout: float = 10.0,
    ca_file: str | None = None,
    max_redirects: int = 3,
) -> FetchedImage:
    """GET ``url`` (http or https) and return it if it is a raster image of at most ``max_bytes``.

    ``timeout`` bounds the whole fetch, redirects included (name resolution aside: the system
    resolver has its own limits). Plain http is allowed to any address the policy allows: an
    image is public content, and its bytes are checked before they are returned. Raises
    FetchRefused or FetchFailed.
    """
    deadline = time.monotonic() + timeout
    try:
        context = _tls_context(ca_file)
    except TLSError as exc:
        raise FetchFailed("tls", exc.detail) from exc
    current = url
    for _hop in range(max_redirects + 1):
        target = _parse_url(current)
        status, location, content_type, data = _get(target, policy, deadline, max_bytes, context)
        if status in _REDIRECTS:
            if not location:
                raise FetchFailed("http", f"{status} redirect from {current} without Location")
            current = urljoin(current, location)
            continue
        if status != http.client.OK:
            raise FetchFailed("http", f"{current} answered {status}")
        return FetchedImage(_checked_type(content_type, data, current), data)
    raise FetchFailed("redirects", f"more than {max_redirects} redirects starting at {url}")


@functools.lru_cache(maxsize=4)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Loading the system CA store takes milliseconds; one shared context is thread-safe.
    return ssl_context(ca_file)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as written in the URL, without brackets
    port: int
    request_target: str  # path and query, ASCII

    @property
    def host_header(self) -> str:
        name = normalise_host(self.host)
        shown = f"[{name}]" if ":" in name else name
        return shown if self.port == _DEFAULT_PORTS[self.scheme] else f"{shown}:{self.port}"


def _parse_url(url: str) -> _Target:
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchRefused("url", f"{url!r} is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise FetchRefused("scheme", f"{url!r}: only http and https images are fetched")
    host = parts.hostname
    if not host:
        raise FetchRefused("url", f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("url", f"{url!r} carries credentials")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    target = _UNSAFE_IN_TARGET.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), target)
    return _Target(scheme, host, port or _DEFAULT_PORTS[scheme], target)


def _get(
    target: _Target,
    policy: HostPolicy,
    deadline: float,
    max_bytes: int,
    context: ssl.SSLContext,
) -> tuple[int, str | None, str, bytes]:
    """One request: (status, Location, Content-Type, body); the body only for a 200."""
    try:
        # plaintext=False: resolve_allowed refuses plain text except to loopback, a rule for
        # mail passwords. Images carry none, so http is allowed wherever the address is.
        addresses = resolve_allowed(target.host, target.port, policy, plaintext=False)
    except HostNotAllowed as exc:
        raise FetchRefused("address", exc.detail) from exc
    except UnreachableError as exc:
        raise FetchFailed("unreachable", exc.detail) from exc
    sock = _connect(target, addresses, deadline)
    watchdog = _Watchdog(sock, max(0.0, deadline - time.monotonic()))
    try:
        if target.scheme == "https":
            sock = _start_tls(sock, target, context, watchdog)
        result = _exchange(sock, target, max_bytes)
    except TimeoutError as exc:
        raise FetchFailed("timeout", f"{target.host} did not answer in time") from exc
    except ssl.SSLError as exc:
        raise FetchFailed("tls", f"TLS with {target.host} failed: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.fired:
            raise FetchFailed("timeout", f"{target.host} did not finish in time") from exc
        if isinstance(exc, OSError):
            raise FetchFailed("unreachable", f"{target.host}: {exc}") from exc
        raise FetchFailed("http", f"{target.host} sent a broken response: {exc!r}") from exc
    finally:
        watchdog.stop()
        sock.close()
    if watchdog.fired:  # a body cut short by the watchdog can look complete; never use it
        raise FetchFailed("timeout", f"{target.host} did not finish in time")
    return result


def _remaining(deadline: float, target: _Target) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed("timeout", f"out of time before contacting {target.host}")
    return left


def _connect(target: _Target, addresses: list[str], deadline: float) -> socket.socket:
    """A TCP connection to the first checked address that answers (never the name again)."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection(
                (address, target.port), timeout=_remaining(deadline, target)
            )
        except OSError as exc:
            failure = exc
    if isinstance(failure, TimeoutError):
        raise FetchFailed("timeout", f"{target.host}:{target.port} did not answer in time")
    raise FetchFailed("unreachable", f"cannot connect to {target.host}:{target.port}: {failure}")


def _start_tls(
    sock: socket.socket, target: _Target, context: ssl.SSLContext, watchdog: _Watchdog
) -> ssl.SSLSocket:
    """Verify the certificate against the name in the URL (SNI too), not the address."""
    tls = context.wrap_socket(
        sock, server_hostname=tls_server_name(target.host), do_handshake_on_connect=False
    )
    watchdog.sock = tls  # the plain socket is detached now; the handshake is watched too
    try:
        tls.do_handshake()
    except BaseException:
        tls.close()  # the caller still holds the detached plain socket, not this one
        raise
    return tls


def _exchange(
    sock: socket.socket, target: _Target, max_bytes: int
) -> tuple[int, str | None, str, bytes]:
    connection = http.client.HTTPConnection(target.host, target.port)
    connection.sock = sock  # already connected to the checked address; never resolve again
    connection.putrequest("GET", target.request_target, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", target.host_header)
    connection.putheader("User-Agent", _USER_AGENT)
    connection.putheader("Accept", ", ".join(sorted(IMAGE_TYPES)))
    connection.putheader("Accept-Encoding", "identity")
    connection.putheader("Connection", "close")
    connection.endheaders()
    response = connection.getresponse()
    # The response holds its own reference to the socket: close it too, or the fd outlives us.
    with contextlib.closing(response):
        content_type = response.headers.get_content_type()
        if response.status != http.client.OK:
            return response.status, response.headers.get("Location"), content_type, b""
        _refuse_type(content_type, target)
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > max_bytes:
            raise FetchRefused("size", f"{target.host} announced {length} bytes, over {max_bytes}")
        data = bytearray()
        # Read one byte past the limit: more than max_bytes is refused, not silently truncated.
        while len(data) <= max_bytes:
            chunk = response.read(min(_CHUNK, max_bytes + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > max_bytes:
            raise FetchRefused("size", f"{target.host} sent more than {max_bytes} bytes")
        return response.status, None, content_type, bytes(data)


def _declared_type(content_type: str) -> str:
    return _TYPE_ALIASES.get(content_type, content_type)


def _refuse_type(content_type: str, target: _Target) -> None:
    if _declared_type(content_type) not in IMAGE_TYPES:
        raise FetchRefused("type", f"{target.host} sent {content_type!r}, not a raster image")


def _checked_type(content_type: str, data: bytes, url: str) -> str:
    """The type the bytes really are, which is what we serve them as.

    The label was already checked to be one of ours; servers often call a PNG "image/jpeg", and
    browsers show it anyway, so a mismatch between two allowed types is not refused.
    """
    sniffed = sniff_image_type(data[:_SNIFF_BYTES])
    if sniffed is None:
        raise FetchRefused("type", f"{url} is labelled {content_type!r} but is no image we serve")
    return sniffed


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes announce (magic numbers), or None if none of ours."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and _is_avif_brand(head):
        return "image/avif"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image/bmp"
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "image/x-icon"
    return None


def _is_avif_brand(head: bytes) -> bool:
    # ISO BMFF: the ftyp box holds a major brand, a version, then compatible brands (HEIF
    # files often say "mif1" first and list "avif" among the compatible ones).
    box_size = int.from_bytes(head[:4], "big")
    brands = head[8:12] + head[16 : min(box_size, len(head))]
    return any(brands[i : i + 4] in (b"avif", b"avis") for i in range(0, len(brands) - 3, 4))


class _Watchdog:
    """Shuts the socket down at the deadline.

    Socket timeouts bound each read, not the whole response: a server that trickles a byte
    every few seconds would otherwise hold a web worker thread for as long as it likes.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.fired = False
        self._lock = threading.Lock()
        self._stopped = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            # The plain socket's shutdown, also on an SSLSocket (whose own shutdown would tear
            # down the TLS object under the reading thread). OSError: the peer closed first.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        with self._lock:  # after this, _fire cannot touch a socket we are about to close
            self._stopped = True
        self._timer.cancel()


__all__ = [
    "IMAGE_TYPES",
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "FetchedImage",
    "fetch_image",
    "sniff_image_type",
]
