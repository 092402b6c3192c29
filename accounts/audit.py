"""The sign-in audit trail: one log line per try on every sign-in path (logger webmail.audit).

Names are logged with repr() so a username with a newline cannot forge a second line.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest

from accounts import throttle

logger = logging.getLogger("webmail.audit")


def sign_in(request: HttpRequest, username: str, outcome: str) -> None:
    """outcome: "ok", "failed" or "throttled"."""
    logger.info(
        "sign-in %s user=%r address=%s path=%s",
        outcome,
        throttle.normal_username(username),
        throttle.client_ip(request),
        request.path,
    )
