"""Compare the cache with the server on a fresh connection: every UID and flag set."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.models import MailAccount
from accounts.upstream import connect_options, incoming_endpoint
from webmail.protocols.imap import ImapSession
from webmail.sync.flags import normalise, row_flags

# UID FETCH 1:4294967295 (FLAGS): every message, as `1:*` would (RFC 3501 2.3.1.1: UIDs are
# 32-bit), without `*` naming the last message when the folder is empty of higher UIDs.
ALL_UIDS = range(1, 2**32)


@dataclass
class VerifyReport:
    messages: int = 0
    folders: int = 0
    differences: list[str] = field(default_factory=list)


def verify_account(account: MailAccount, report: VerifyReport, folder_name: str | None) -> None:
    options = connect_options(account.owner.organisation)
    with ImapSession.connect(incoming_endpoint(account), options) as session:
        for folder in account.folders.filter(selectable=True).order_by("name"):
            if folder_name is not None and folder.name != folder_name:
                continue
            session.select(folder.raw_name)
            server = session.flags_in(ALL_UIDS)
            fields = ("uid", "seen", "flagged", "answered", "draft", "deleted", "keywords")
            cached = {row["uid"]: row for row in folder.messages.values(*fields)}
            where = f"{account.email} {folder.name}"
            for uid in sorted(server.keys() - cached.keys()):
                report.differences.append(f"{where}: UID {uid} on the server, not in the cache")
            for uid in sorted(cached.keys() - server.keys()):
                report.differences.append(f"{where}: UID {uid} in the cache, not on the server")
            for uid in sorted(server.keys() & cached.keys()):
                want, have = normalise(server[uid]), row_flags(cached[uid])
                if want != have:
                    report.differences.append(
                        f"{where}: UID {uid} flags {' '.join(sorted(have)) or '()'} in the "
                        f"cache, {' '.join(sorted(want)) or '()'} on the server"
                    )
            report.messages += len(server)
            report.folders += 1
