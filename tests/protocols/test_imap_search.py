"""ImapSession.search_text against the real Dovecot: the server's own body search."""

from __future__ import annotations

from tests.integration.sync_helpers import make_message
from tests.protocols.conftest import MakeEndpoint
from tests.servers.mail import MailServer
from webmail.protocols.connect import ConnectOptions
from webmail.protocols.imap import ImapSession


def test_search_text_finds_words_deep_in_a_body(
    imap_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer, folder: str
) -> None:
    filler = "filler " * 200  # far past the 200-character preview the cache holds
    first = mailserver.append(
        "alice", folder, make_message("one", body=f"{filler} the Zebra crossing گزارش ماهانه")
    )
    mailserver.append("alice", folder, make_message("two", body=f"{filler} nothing here"))
    with ImapSession.connect(imap_endpoint(), options) as session:
        session.select(folder)
        assert session.search_text(["zebra"]) == [first]
        assert session.search_text(["ZEBRA", "گزارش"]) == [first]  # a UTF-8 literal
        assert session.search_text(["zebra", "absent"]) == []
        assert len(session.search_text([])) == 2
