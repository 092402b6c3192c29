"""The image proxy view: signed per user, address policy from settings, safe response headers.

Images come from a real HTTP server on 127.0.0.1 (see tests/unit/test_http_fetch.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client, override_settings

from accounts.models import User
from tests.unit.test_http_fetch import PNG, SVG, ImageServer, Reply
from webmail.views.proxy import proxy_url_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    server.routes["/pixel.png"] = Reply(PNG, "image/png")
    yield server
    server.close()


@pytest.fixture
def loopback_allowed() -> Iterator[None]:
    with override_settings(PROXY_ALLOWED_HOSTS=["127.0.0.1"]):
        yield


def with_query(proxy_url: str, **changes: str) -> str:
    parts = urlsplit(proxy_url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


@pytest.mark.usefixtures("loopback_allowed")
def test_it_serves_a_signed_image_to_its_signer(
    client: Client, alice: User, image_server: ImageServer
) -> None:
    client.force_login(alice)
    response = client.get(proxy_url_for(alice.pk, image_server.url("/pixel.png")))
    assert response.status_code == 200
    assert response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert response["Referrer-Policy"] == "no-referrer"


def test_it_builds_proxy_urls_on_its_own_route(alice: User) -> None:
    url = proxy_url_for(alice.pk, "https://images.example/a b.png?x=1&y=2")
    parts = urlsplit(url)
    assert parts.path == "/mail/proxy/"
    assert parse_qs(parts.query)["u"] == ["https://images.example/a b.png?x=1&y=2"]


@pytest.mark.usefixtures("loopback_allowed")
def test_it_gives_404_for_another_users_proxy_url(
    client: Client, alice: User, carol: User, image_server: ImageServer
) -> None:
    client.force_login(carol)
    response = client.get(proxy_url_for(alice.pk, image_server.url("/pixel.png")))
    assert response.status_code == 404
    assert image_server.requests == []


@pytest.mark.usefixtures("loopback_allowed")
def test_it_gives_404_for_a_tampered_or_missing_signature(
    client: Client, alice: User, image_server: ImageServer
) -> None:
    client.force_login(alice)
    signed = proxy_url_for(alice.pk, image_server.url("/pixel.png"))
    signature = parse_qs(urlsplit(signed).query)["s"][0]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for url in [
        with_query(signed, s=flipped),
        with_query(signed, s=""),
        with_query(signed, u=image_server.url("/other.png")),
        "/mail/proxy/?" + urlencode({"u": image_server.url("/pixel.png")}),
        "/mail/proxy/",
    ]:
        assert client.get(url).status_code == 404, url
    assert image_server.requests == []


def test_it_requires_login(client: Client, alice: User) -> None:
    response = client.get(proxy_url_for(alice.pk, "http://127.0.0.1/pixel.png"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@override_settings(PROXY_ALLOWED_HOSTS=[])
def test_it_refuses_loopback_unless_the_operator_allows_it(
    client: Client, alice: User, image_server: ImageServer
) -> None:
    client.force_login(alice)
    response = client.get(proxy_url_for(alice.pk, image_server.url("/pixel.png")))
    assert response.status_code == 403
    assert response.content == b"refused: address\n"  # the class only, never the address
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert image_server.requests == []


@pytest.mark.usefixtures("loopback_allowed")
@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/pixel.png",
        "http://10.255.1.2:8080/pixel.png",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.0.1/pixel.png",
    ],
)
def test_it_refuses_private_and_link_local_addresses(client: Client, alice: User, url: str) -> None:
    client.force_login(alice)
    response = client.get(proxy_url_for(alice.pk, url))
    assert response.status_code == 403
    assert response.content == b"refused: address\n"


@pytest.mark.usefixtures("loopback_allowed")
def test_it_refuses_svg_and_answers_502_when_upstream_fails(
    client: Client, alice: User, image_server: ImageServer
) -> None:
    image_server.routes["/logo.svg"] = Reply(SVG, "image/svg+xml")
    client.force_login(alice)
    response = client.get(proxy_url_for(alice.pk, image_server.url("/logo.svg")))
    assert response.status_code == 403
    assert response.content == b"refused: type\n"
    response = client.get(proxy_url_for(alice.pk, image_server.url("/missing.png")))
    assert response.status_code == 502
    assert response.content == b"upstream failed: http\n"


@pytest.mark.usefixtures("loopback_allowed")
def test_it_only_answers_get_and_head(
    client: Client, alice: User, image_server: ImageServer
) -> None:
    client.force_login(alice)
    url = proxy_url_for(alice.pk, image_server.url("/pixel.png"))
    assert client.post(url).status_code == 405
    assert client.head(url).status_code == 200
