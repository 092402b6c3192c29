"""fetch_image against a real HTTP(S) server on 127.0.0.1 (no database, no mocks).

Refused addresses (10/8, 169.254/16, ::1) are refused before any connection, so no test sends
a packet anywhere but loopback.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers import tls
from webmail.protocols.hosts import HostPolicy
from webmail.protocols.http_fetch import (
    FetchedImage,
    FetchFailed,
    FetchRefused,
    fetch_image,
    sniff_image_type,
)

# A 1x1 transparent PNG and GIF.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><script>alert(document.cookie)</script>"

NOTHING = HostPolicy()
LOOPBACK = HostPolicy(operator_rules=("127.0.0.1",))


@dataclass
class Reply:
    """What the test server answers on one path."""

    body: bytes = PNG
    content_type: str | None = "image/png"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    framing: str = "length"  # "length", "chunked" or "close" (no Content-Length)
    trickle: float = 0.0  # seconds between body bytes, to play a slow server


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up mid-reply (the point of several tests) are expected


class ImageServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that answers each path with a configured Reply."""

    def __init__(self, tls_files: tls.TLSFiles | None = None) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[Request] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.scheme = "http"
        if tls_files is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_files.cert_file, tls_files.key_file)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                server.requests.append(Request(self.path, dict(self.headers.items())))
                reply = server.routes.get(self.path.split("?")[0], Reply(b"", None, 404))
                with contextlib.suppress(OSError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.framing == "length":
                    self.send_header("Content-Length", str(len(reply.body)))
                elif reply.framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if reply.trickle:
                    for byte in reply.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                elif reply.framing == "chunked":
                    for start in range(0, len(reply.body), 1000):
                        piece = reply.body[start : start + 1000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(reply.body)

        return Handler


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.close()


@pytest.fixture
def tls_files(tmp_path: Path) -> tls.TLSFiles:
    return tls.generate(tmp_path / "tls")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused(url: str, policy: HostPolicy = LOOPBACK, **kwargs: object) -> str:
    with pytest.raises(FetchRefused) as info:
        fetch_image(url, policy, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def failed(url: str, policy: HostPolicy = LOOPBACK, **kwargs: object) -> str:
    with pytest.raises(FetchFailed) as info:
        fetch_image(url, policy, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_it_fetches_a_png_from_a_loopback_server_the_operator_allowed(
    image_server: ImageServer,
) -> None:
    image_server.routes["/pixel.png"] = Reply(PNG, "image/png")
    image = fetch_image(image_server.url("/pixel.png?x=1"), LOOPBACK)
    assert image == FetchedImage("image/png", PNG)
    (request,) = image_server.requests
    assert request.path == "/pixel.png?x=1"
    assert request.headers["Host"] == f"127.0.0.1:{image_server.port}"
    assert "Cookie" not in request.headers
    assert "Referer" not in request.headers


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_it_reads_chunked_and_close_delimited_bodies(
    image_server: ImageServer, framing: str
) -> None:
    image_server.routes["/pixel.gif"] = Reply(GIF, "image/gif", framing=framing)
    assert fetch_image(image_server.url("/pixel.gif"), LOOPBACK).data == GIF


def test_it_refuses_loopback_unless_the_operator_allows_it(image_server: ImageServer) -> None:
    image_server.routes["/pixel.png"] = Reply()
    assert refused(image_server.url("/pixel.png"), NOTHING) == "address"
    assert image_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/pixel.png",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "http://[::1]/pixel.png",
        "http://[fe80::1]/pixel.png",
        "http://0.0.0.0/pixel.png",
        "http://192.168.1.1/pixel.png",
    ],
)
def test_it_refuses_private_link_local_and_other_loopback_addresses(url: str) -> None:
    # Allowing 127.0.0.1 allows exactly that; every other non-public address stays refused.
    assert refused(url, LOOPBACK) == "address"
    assert refused(url, NOTHING) == "address"


def test_it_refuses_loopback_in_ipv6_clothing_without_a_rule() -> None:
    assert refused("http://[::ffff:127.0.0.1]/pixel.png", NOTHING) == "address"
    assert refused("http://[64:ff9b::7f00:1]/pixel.png", NOTHING) == "address"


def test_it_refuses_a_name_that_resolves_to_loopback(image_server: ImageServer) -> None:
    image_server.routes["/pixel.png"] = Reply()
    assert refused(image_server.url("/pixel.png", host="localhost"), NOTHING) == "address"
    assert image_server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/pixel.png",
        "file:///etc/passwd",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/",
        "//127.0.0.1/pixel.png",
    ],
)
def test_it_refuses_schemes_other_than_http_and_https(url: str) -> None:
    assert refused(url) == "scheme"


@pytest.mark.parametrize(
    "url", ["http://user:pw@127.0.0.1/pixel.png", "http:///pixel.png", "http://127.0.0.1:99999/"]
)
def test_it_refuses_malformed_urls(url: str) -> None:
    assert refused(url) == "url"


def test_it_refuses_svg(image_server: ImageServer) -> None:
    image_server.routes["/logo.svg"] = Reply(SVG, "image/svg+xml")
    assert refused(image_server.url("/logo.svg")) == "type"


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream", None])
def test_it_refuses_types_that_are_not_images(
    image_server: ImageServer, content_type: str | None
) -> None:
    image_server.routes["/page"] = Reply(PNG, content_type)
    assert refused(image_server.url("/page")) == "type"


def test_it_refuses_html_labelled_as_png(image_server: ImageServer) -> None:
    image_server.routes["/pixel.png"] = Reply(HTML, "image/png")
    assert refused(image_server.url("/pixel.png")) == "type"


def test_it_serves_a_mislabelled_image_as_what_its_bytes_are(image_server: ImageServer) -> None:
    image_server.routes["/pixel.png"] = Reply(GIF, "image/png")
    assert fetch_image(image_server.url("/pixel.png"), LOOPBACK).content_type == "image/gif"


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_it_refuses_images_over_the_size_limit(image_server: ImageServer, framing: str) -> None:
    big = PNG + bytes(5000)
    image_server.routes["/big.png"] = Reply(big, "image/png", framing=framing)
    assert refused(image_server.url("/big.png"), max_bytes=len(big) - 1) == "size"
    assert fetch_image(image_server.url("/big.png"), LOOPBACK, max_bytes=len(big)).data == big


def test_it_refuses_an_announced_oversize_before_reading_it(image_server: ImageServer) -> None:
    # The body never comes: only the Content-Length can have refused it.
    image_server.routes["/big.png"] = Reply(
        PNG, "image/png", headers={"Content-Length": "999999999"}, framing="close"
    )
    assert refused(image_server.url("/big.png"), timeout=5.0) == "size"


def test_it_follows_redirects_and_checks_every_hop(image_server: ImageServer) -> None:
    image_server.routes["/moved"] = Reply(b"", None, 302, {"Location": "/pixel.png"})
    image_server.routes["/pixel.png"] = Reply()
    assert fetch_image(image_server.url("/moved"), LOOPBACK).data == PNG
    assert [r.path for r in image_server.requests] == ["/moved", "/pixel.png"]


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/pixel.png",
        "http://[::1]/pixel.png",
        "file:///etc/passwd",
    ],
)
def test_it_refuses_a_redirect_to_a_forbidden_target(
    image_server: ImageServer, location: str
) -> None:
    image_server.routes["/moved"] = Reply(b"", None, 301, {"Location": location})
    assert refused(image_server.url("/moved")) in {"address", "scheme"}


def test_it_gives_up_after_too_many_redirects(image_server: ImageServer) -> None:
    image_server.routes["/loop"] = Reply(b"", None, 307, {"Location": "/loop"})
    assert failed(image_server.url("/loop"), max_redirects=2) == "redirects"
    assert len(image_server.requests) == 3


def test_it_reports_http_errors_and_unreachable_servers(image_server: ImageServer) -> None:
    assert failed(image_server.url("/missing.png")) == "http"
    assert failed(f"http://127.0.0.1:{free_port()}/pixel.png") == "unreachable"


def test_it_gives_up_on_a_server_that_trickles(image_server: ImageServer) -> None:
    # Each byte arrives well within a socket timeout; only the whole-fetch deadline stops it.
    image_server.routes["/slow.png"] = Reply(PNG * 10, "image/png", framing="close", trickle=0.02)
    assert failed(image_server.url("/slow.png"), timeout=0.5) == "timeout"


def test_it_percent_encodes_spaces_and_non_ascii_in_the_path(image_server: ImageServer) -> None:
    image_server.routes["/caf%C3%A9%20au%20lait.png"] = Reply()
    assert fetch_image(image_server.url("/café au lait.png"), LOOPBACK).data == PNG


def test_it_verifies_tls_against_the_name_in_the_url(tls_files: tls.TLSFiles) -> None:
    server = ImageServer(tls_files)
    try:
        server.routes["/pixel.png"] = Reply()
        policy = HostPolicy(operator_rules=("localhost",))
        url = server.url("/pixel.png", host="localhost")
        image = fetch_image(url, policy, ca_file=str(tls_files.ca_file))
        assert image.data == PNG
        assert server.requests[0].headers["Host"] == f"localhost:{server.port}"
        # The same server without our test CA is an unknown issuer, as it would be in production.
        assert failed(url, policy) == "tls"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "image/avif"),
        (b"\x00\x00\x00\x20ftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"BM" + bytes(12), "image/bmp"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "image/x-icon"),
        (SVG, None),
        (HTML, None),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),
        (b"", None),
    ],
)
def test_it_sniffs_image_types_from_magic_numbers(head: bytes, kind: str | None) -> None:
    assert sniff_image_type(head[:32]) == kind
