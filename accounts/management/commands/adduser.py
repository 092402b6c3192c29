"""python manage.py adduser USERNAME [--admin] [--email ADDR] [--org NAME] --password-stdin"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import actions


class Command(BaseCommand):
    help = "Create a user in the only organisation, or in the one named with --org."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--admin", action="store_true", help="make an organisation admin")
        parser.add_argument("--email", default="")
        parser.add_argument("--org", default=None, help="organisation name; created if missing")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            required=True,
            help="read the password from standard input (one line)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        line = sys.stdin.readline()
        # Only the line ending is not part of the password; other whitespace is.
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("no password on standard input")
        username: str = options["username"]
        try:
            organisation = actions.get_or_create_organisation(options["org"])
            actions.do_create_user(
                organisation,
                username,
                password,
                email=options["email"],
                is_org_admin=options["admin"],
            )
        except actions.UserExistsError as exc:
            raise CommandError(f"user {username} already exists") from exc
        except ValidationError as exc:
            raise CommandError("password refused: " + " ".join(exc.messages)) from exc
        self.stdout.write(f"user {username} created")
