"""The remote-image proxy: a mail's remote images, fetched by us, only through URLs we signed.

The sanitiser rewrites each remote image to `proxy_url_for(user, url)`; the signature covers the
user id and the URL, so the proxy is no open fetcher and one user's links are 404 for another.
The fetch itself (address policy, type sniffing, size and time limits) is `fetch_image`.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from webmail.protocols.hosts import HostPolicy
from webmail.protocols.http_fetch import FetchFailed, FetchRefused, fetch_image

logger = logging.getLogger(__name__)

_SALT = "webmail.proxy"
# Whatever the bytes are, the browser may only show them as the image type we checked: no
# script, no plugins, no sniffing into HTML, no Referer back to the sender.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def _signed_value(user_id: int, url: str) -> str:
    # The id is digits only, so the first ":" always ends it: no (user, url) pair can pose as
    # another.
    return f"{int(user_id)}:{url}"


def proxy_url_for(user_id: int, url: str) -> str:
    """The proxy URL that fetches ``url`` for ``user_id`` (and nobody else)."""
    signature = _signer().signature(_signed_value(user_id, url))
    return f"{reverse('image_proxy')}?{urlencode({'u': url, 's': signature})}"


def _signature_ok(user_id: int, url: str, signature: str) -> bool:
    signer = _signer()
    try:
        # unsign() compares in constant time and accepts SECRET_KEY_FALLBACKS during rotation.
        signer.unsign(f"{_signed_value(user_id, url)}{signer.sep}{signature}")
    except signing.BadSignature:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _policy(operator_rules: tuple[str, ...]) -> HostPolicy:
    return HostPolicy(operator_rules=operator_rules)


def _plain(text: str, status: int) -> HttpResponse:
    response = HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)
    for name, value in _HEADERS.items():
        response[name] = value
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def image_proxy(request: HttpRequest) -> HttpResponse:
    url = request.GET.get("u", "")
    user_id = request.user.pk  # LoginRequiredMiddleware lets only signed-in users this far
    if user_id is None or not url or not _signature_ok(user_id, url, request.GET.get("s", "")):
        raise Http404  # a bad signature and another user's link look the same: not found
    policy = _policy(tuple(settings.PROXY_ALLOWED_HOSTS))
    try:
        image = fetch_image(url, policy, ca_file=settings.CA_FILE)
    except FetchRefused as exc:
        logger.info("image proxy refused (%s): %s", exc.reason, exc.detail)
        return _plain(f"refused: {exc.reason}\n", 403)
    except FetchFailed as exc:
        logger.info("image proxy upstream failure (%s): %s", exc.reason, exc.detail)
        return _plain(f"upstream failed: {exc.reason}\n", 502)
    response = HttpResponse(image.data, content_type=image.content_type)
    for name, value in _HEADERS.items():
        response[name] = value
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=86400"
    return response
