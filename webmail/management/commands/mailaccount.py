"""python manage.py mailaccount add|list|remove — upstream accounts for admins and scripts."""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.mailaccounts import (
    ConnectionCheckFailed,
    do_remove_mail_account,
    do_save_mail_account,
    parse_server_url,
)
from accounts.models import MailAccount, User


class Command(BaseCommand):
    help = "Add, list or remove upstream mail accounts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="test both servers, save, start the first sync")
        add.add_argument("--user", required=True, help="username of the owner")
        add.add_argument("--email", required=True)
        add.add_argument("--name", default="", help="display name")
        add.add_argument("--incoming", required=True, help="imap[s]://LOGIN@HOST:PORT")
        add.add_argument("--outgoing", required=True, help="smtp[s]://LOGIN@HOST:PORT")
        add.add_argument("--password-stdin", action="store_true", required=True)
        add.add_argument(
            "--outgoing-password-env",
            metavar="VAR",
            help="environment variable holding the SMTP password (default: the same one)",
        )
        lst = sub.add_parser("list", help="one line per account: ID EMAIL INCOMING STATUS")
        lst.add_argument("--user", help="only this user's accounts")
        remove = sub.add_parser("remove", help="remove an account and its cached mail")
        remove.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_add(self, options: dict[str, Any]) -> None:
        try:
            user = User.objects.get(username=options["user"])
        except User.DoesNotExist as exc:
            raise CommandError(f"no user {options['user']}") from exc
        try:
            incoming = parse_server_url(options["incoming"], kind="incoming")
            outgoing = parse_server_url(options["outgoing"], kind="outgoing")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("no password on standard input")
        outgoing_password = None
        if options["outgoing_password_env"]:
            outgoing_password = os.environ.get(options["outgoing_password_env"])
            if not outgoing_password:
                raise CommandError(f"{options['outgoing_password_env']} is not set")
        try:
            account = do_save_mail_account(
                user,
                email=options["email"],
                display_name=options["name"],
                incoming=incoming,
                outgoing=outgoing,
                incoming_password=password,
                outgoing_password=outgoing_password,
            )
        except ConnectionCheckFailed as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"account {account.pk}")

    def handle_list(self, options: dict[str, Any]) -> None:
        accounts = MailAccount.objects.select_related("owner").order_by("pk")
        if options.get("user"):
            accounts = accounts.filter(owner__username=options["user"])
        for account in accounts:
            self.stdout.write(
                f"{account.pk} {account.email} {account.incoming_url} {account.status}"
            )

    def handle_remove(self, options: dict[str, Any]) -> None:
        account = MailAccount.objects.filter(pk=options["id"]).first()
        if account is None:
            raise CommandError(f"no account {options['id']}")
        do_remove_mail_account(account)
        self.stdout.write(f"account {options['id']} removed")
