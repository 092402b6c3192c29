"""Bulk reading against the real Dovecot: pipelined envelope batches, stopping early, new
UIDs from a starting point, and the TLS context reused between connections."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.protocols.conftest import MakeEndpoint
from tests.servers.mail import MailServer
from webmail.protocols.connect import ConnectOptions
from webmail.protocols.imap import ImapSession, _tls_context  # noqa: PLC2701

pytestmark = pytest.mark.mailserver


@pytest.fixture
def seeded(mailserver: MailServer, folder: str) -> tuple[str, list[int]]:
    mailserver.seed("alice", folder, 60)
    with mailserver.imap("alice") as client:
        client.select_folder(folder)
        uids = sorted(client.search("ALL"))
    return folder, uids


def test_pipelined_batches_equal_one_fetch_per_batch(session: ImapSession, seeded):
    folder, uids = seeded
    session.select(folder)
    # Overlapping on purpose (uids[5] twice): Dovecot answers pipelined FETCHes side by side.
    batches = [uids[50:], uids[10:50][::-1], [], [uids[0], 999_999, uids[5]], uids[1:10]]
    with closing(session.fetch_envelope_batches(batches)) as fetched:
        pipelined = list(fetched)
    one_by_one = [session.fetch_envelopes(batch) for batch in batches]
    assert pipelined == one_by_one
    assert [[e.uid for e in batch] for batch in pipelined] == [
        [u for u in batch if u != 999_999]
        for batch in batches  # in the order asked, gone left out
    ]
    assert all(e.subject and e.from_ and e.modseq for batch in pipelined for e in batch)


def test_stopping_early_leaves_the_session_usable(session: ImapSession, seeded):
    folder, uids = seeded
    session.select(folder)
    batches = [uids[i : i + 10] for i in range(0, 60, 10)]
    with closing(session.fetch_envelope_batches(batches)) as fetched:
        first = next(fetched)  # the second batch's FETCH is in flight now
    assert [e.uid for e in first] == uids[:10]
    # Whatever the server still sent for the abandoned batches is read and dropped, so the
    # next command gets its own answer.
    assert session.uid_list() == uids
    assert [e.uid for e in session.fetch_envelopes(uids[-3:])] == uids[-3:]


def test_flags_changed_meanwhile_reach_the_later_batches(
    session: ImapSession, mailserver: MailServer, seeded
):
    folder, uids = seeded
    session.select(folder)
    batches = [uids[:20], uids[20:40], uids[40:]]
    with closing(session.fetch_envelope_batches(batches)) as fetched:
        next(fetched)
        mailserver.flag("alice", folder, uids[50], "$Changed")  # another client, mid-sync
        rest = [e for batch in fetched for e in batch]
    assert "$Changed" in {e.uid: e for e in rest}[uids[50]].flags


@pytest.mark.parametrize("esearch", [True, False])
def test_uid_list_from_a_starting_uid(session: ImapSession, seeded, esearch: bool):
    folder, uids = seeded
    if not esearch:
        session._capabilities -= {"ESEARCH"}  # noqa: SLF001 - the RFC 3501 path, same server
    session.select(folder)
    assert session.uid_list(first=uids[55]) == uids[55:]
    assert session.uid_list(first=1) == uids
    # "n:*" past the last UID still matches the last message on the wire; not in the answer.
    assert session.uid_list(first=uids[-1] + 1) == []
    assert session.uid_list(first=2**32) == []


def test_connections_share_one_tls_context(
    imap_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer
):
    with ImapSession.connect(imap_endpoint(), options) as first:
        assert first.tls_version is not None
    with ImapSession.connect(imap_endpoint("tls"), options) as second:
        assert second.tls_version is not None
    assert _tls_context(options.ca_file) is _tls_context(options.ca_file)
    assert _tls_context(None) is not _tls_context(options.ca_file)
