"""Searching message text on the upstream servers (IMAP SEARCH TEXT), for what the cache
does not hold: bodies. Runs in a worker; the hits are mapped to cached rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.credentials import CredentialError
from accounts.upstream import connect_options, describe_error, incoming_endpoint
from webmail.models import Folder, Message
from webmail.protocols import errors
from webmail.protocols.imap import ImapSession

MAX_HITS = 1000  # newest first; a word in every message is no search


@dataclass
class ServerHits:
    ids: list[int] = field(default_factory=list)  # cached Message ids, newest first
    errors: list[str] = field(default_factory=list)  # one line per account that failed


def search_server_text(user_id: int, folder_ids: list[int], terms: list[str]) -> ServerHits:
    """Cached messages of the user's folders whose text on the server holds every term.
    One connection per account; an account that fails is reported and the rest go on.
    Hits the cache does not hold yet (a folder still syncing) are left out."""
    folders = Folder.objects.filter(
        pk__in=folder_ids, account__owner_id=user_id, selectable=True
    ).select_related("account__owner__organisation")
    by_account: dict[int, list[Folder]] = {}
    for folder in folders.order_by("account_id", "pk"):
        by_account.setdefault(folder.account_id, []).append(folder)
    hits = ServerHits()
    found: list[int] = []
    for group in by_account.values():
        account = group[0].account
        try:
            with ImapSession.connect(
                incoming_endpoint(account), connect_options(account.owner.organisation)
            ) as session:
                for folder in group:
                    try:
                        session.select(folder.raw_name, expect_uidvalidity=folder.uidvalidity)
                    except (errors.FolderGone, errors.UidValidityChanged):
                        continue  # the next sync sorts the folder out
                    uids = session.search_text(terms)[-MAX_HITS:]  # highest UIDs: newest
                    found += Message.objects.filter(folder=folder, uid__in=uids).values_list(
                        "pk", flat=True
                    )
        except CredentialError as exc:
            hits.errors.append(f"{account.email}: {exc}")
        except errors.ProtocolError as exc:
            reason = describe_error(exc, host=account.incoming_host)
            hits.errors.append(f"{account.email}: {reason}")
    hits.ids = list(
        Message.objects.filter(pk__in=found)
        .order_by("-internaldate", "-pk")
        .values_list("pk", flat=True)[:MAX_HITS]
    )
    return hits
