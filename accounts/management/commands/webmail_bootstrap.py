"""First start: with no users, create an organisation and its admin and print how to log in."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from accounts import actions


class Command(BaseCommand):
    help = "Create the first admin if there are no users (run by `make run` after migrate)."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("WEBMAIL_ADMIN_USERNAME", "").strip() or "admin"
        password = os.environ.get("WEBMAIL_ADMIN_PASSWORD") or None
        created = actions.do_bootstrap_admin(username, password)
        if created is None:
            return
        host = os.environ.get("HOST", "127.0.0.1")
        port = os.environ.get("PORT", "8000")
        shown = created.password or "(from WEBMAIL_ADMIN_PASSWORD)"
        url_host = f"[{host}]" if ":" in host else host
        self.stdout.write(f"admin login: {created.username} {shown} at http://{url_host}:{port}/")
