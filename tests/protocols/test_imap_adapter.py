"""ImapSession against the real Dovecot rig: connecting, folders, envelopes, sync, writes, IDLE.

Another client (the rig's helpers) changes the mailbox behind the session's back, and every
assertion about a write checks the server's state, not only what the adapter returned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.exceptions import ProtocolError as ImapClientProtocolError
from imapclient.response_parser import parse_response

from tests.protocols.conftest import LOOPBACK, MakeEndpoint
from tests.servers.mail import MailServer
from webmail.protocols.connect import ConnectOptions, Endpoint
from webmail.protocols.errors import (
    AuthError,
    ConnectTimeout,
    FolderGone,
    HostNotAllowed,
    PermanentError,
    TLSError,
    TransientError,
    UidValidityChanged,
    UnreachableError,
)
from webmail.protocols.hosts import HostPolicy
from webmail.protocols.imap import (  # noqa: PLC2701 - the fast path is tested directly
    Address,
    IdleEvent,
    ImapSession,
    _envelope,
    _fast_parse,
    _fetch_items,
    _internaldate,
    decode_folder_name,
    decode_header_text,
    encode_folder_name,
)

pytestmark = pytest.mark.mailserver


def _message(
    subject: str = "hello",
    *,
    body: str = "Hello there.\n",
    sender: str = "Bob <bob@example.test>",
    to: str = "alice@example.test",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg["Date"] = "Tue, 02 Jul 2024 10:20:30 +0200"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Connecting


def test_it_connects_with_implicit_tls(imap_endpoint: MakeEndpoint, options: ConnectOptions):
    with ImapSession.connect(imap_endpoint("tls"), options) as imap:
        assert imap.tls_version in ("TLSv1.2", "TLSv1.3")
        assert imap.address == "127.0.0.1"
        assert {"IMAP4REV1", "IDLE", "MOVE"} <= imap.capabilities
        assert imap.has_qresync and imap.has_condstore and imap.has_move
        assert imap.has_idle and imap.has_special_use


def test_it_connects_with_starttls(imap_endpoint: MakeEndpoint, options: ConnectOptions):
    with ImapSession.connect(imap_endpoint("starttls"), options) as imap:
        assert imap.tls_version in ("TLSv1.2", "TLSv1.3")
        assert imap.list_folders()


def test_it_connects_in_plain_text_to_loopback(
    imap_endpoint: MakeEndpoint, options: ConnectOptions
):
    with ImapSession.connect(imap_endpoint("none"), options) as imap:
        assert imap.tls_version is None
        assert imap.list_folders()


def test_it_verifies_the_name_the_user_typed_while_connecting_to_the_checked_address(
    imap_endpoint: MakeEndpoint, mailserver: MailServer
):
    # "localhost" is in the certificate; the connection goes to the address the policy checked.
    policy = HostPolicy(operator_rules=("localhost",))
    options = ConnectOptions(policy=policy, ca_file=str(mailserver.ca_file), timeout=10)
    with ImapSession.connect(imap_endpoint("tls", host="localhost"), options) as imap:
        assert imap.address == "127.0.0.1"


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_it_refuses_a_certificate_it_cannot_verify(imap_endpoint: MakeEndpoint, security):
    options = ConnectOptions(policy=LOOPBACK, timeout=10)  # the rig's CA not trusted
    with pytest.raises(TLSError) as info:
        ImapSession.connect(imap_endpoint(security), options)
    assert "certificate verify failed" in info.value.detail
    assert "self-signed certificate in certificate chain" in info.value.detail


def test_it_explains_tls_to_a_plain_text_port(
    imap_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer
):
    with pytest.raises(TLSError, match="plain text"):
        ImapSession.connect(imap_endpoint("tls", port=mailserver.imap_port), options)


def _certificate_for(name: str, directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``name`` only: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def wrong_name_tls_server() -> Iterator[tuple[int, Path]]:
    """A TLS listener on 127.0.0.1 whose (otherwise valid) certificate names another host."""
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = _certificate_for("elsewhere.example", Path(tmp))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(10)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            # The client hangs up on our certificate: that is the point.
            with (
                conn,
                context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls,
                contextlib.suppress(ssl.SSLError, OSError),
            ):
                tls.do_handshake()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield listener.getsockname()[1], ca
        listener.close()
        thread.join(5)


def test_it_refuses_a_certificate_for_another_host(
    imap_endpoint: MakeEndpoint, wrong_name_tls_server: tuple[int, Path]
):
    port, ca = wrong_name_tls_server
    options = ConnectOptions(policy=LOOPBACK, ca_file=str(ca), timeout=10)
    with pytest.raises(TLSError) as info:
        ImapSession.connect(imap_endpoint("tls", port=port), options)
    assert "certificate verify failed" in info.value.detail
    assert "mismatch" in info.value.detail
    assert "127.0.0.1" in info.value.detail


def test_it_reports_a_wrong_password_as_auth_error(
    imap_endpoint: MakeEndpoint, options: ConnectOptions
):
    with pytest.raises(AuthError) as info:
        ImapSession.connect(imap_endpoint(password="not-the-Secret-9"), options)
    assert "not-the-Secret-9" not in info.value.detail
    assert "AUTHENTICATIONFAILED" in info.value.detail


def test_it_reports_a_closed_port_as_unreachable(
    imap_endpoint: MakeEndpoint, options: ConnectOptions
):
    with pytest.raises(UnreachableError, match="refused"):
        ImapSession.connect(imap_endpoint("tls", port=_closed_port()), options)


def test_it_times_out_on_a_server_that_never_greets(imap_endpoint: MakeEndpoint):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never speaks
        port = silent.getsockname()[1]
        options = ConnectOptions(policy=LOOPBACK, timeout=0.5)
        with pytest.raises(ConnectTimeout):
            ImapSession.connect(imap_endpoint("none", port=port), options)


def test_it_refuses_loopback_without_an_operator_rule(imap_endpoint: MakeEndpoint, mailserver):
    options = ConnectOptions(ca_file=str(mailserver.ca_file), timeout=10)
    with pytest.raises(HostNotAllowed, match="loopback"):
        ImapSession.connect(imap_endpoint("tls"), options)


def test_logout_and_close_are_safe_twice(imap_endpoint: MakeEndpoint, options: ConnectOptions):
    imap = ImapSession.connect(imap_endpoint(), options)
    imap.logout()
    imap.logout()
    imap.close()
    with pytest.raises(TransientError, match="closed"):
        imap.list_folders()


def test_the_context_manager_closes_on_error(imap_endpoint: MakeEndpoint, options):
    with pytest.raises(RuntimeError), ImapSession.connect(imap_endpoint(), options) as imap:
        raise RuntimeError("boom")
    with pytest.raises(TransientError):
        imap.list_folders()


# --------------------------------------------------------------------------------------------
# Folders


@pytest.fixture
def unicode_folder(mailserver: MailServer) -> Iterator[str]:
    name = f"Entwürfe-{uuid.uuid4().hex[:6]}/Привет"
    mailserver.create_folder("alice", name)
    yield name
    with mailserver.imap("alice") as client:
        for candidate in (name, name.split("/")[0]):
            if client.folder_exists(candidate):
                client.delete_folder(candidate)


def test_it_lists_special_use_folders(session: ImapSession):
    folders = {f.name: f for f in session.list_folders()}
    roles = {name: f.special_use for name, f in folders.items() if f.special_use}
    assert roles == {
        "INBOX": "inbox",
        "Drafts": "drafts",
        "Sent": "sent",
        "Trash": "trash",
        "Junk": "junk",
        "Archive": "archive",
    }
    assert folders["Sent"].subscribed
    assert "\\Sent" in folders["Sent"].flags
    assert folders["Sent"].delimiter == "/"
    assert folders["INBOX"].selectable


def test_it_decodes_non_ascii_folder_names(session: ImapSession, unicode_folder: str):
    folders = {f.name: f for f in session.list_folders()}
    info = folders[unicode_folder]
    assert info.raw_name == encode_folder_name(unicode_folder)
    assert info.raw_name.isascii() and "&" in info.raw_name
    assert info.selectable
    assert info.special_use is None
    state = session.select(info.raw_name)
    assert state.exists == 0
    assert session.status(info.raw_name).messages == 0


def test_it_lists_with_list_and_lsub_when_list_extended_is_missing(
    session: ImapSession, mailserver: MailServer, folder: str
):
    with mailserver.imap("alice") as client:
        client.subscribe_folder(folder)
    # Exercise the RFC 3501 path against the same server by hiding the extension.
    session._capabilities -= {"LIST-EXTENDED"}  # noqa: SLF001
    folders = {f.name: f for f in session.list_folders()}
    assert folders[folder].subscribed
    assert folders["Sent"].special_use == "sent"
    with mailserver.imap("alice") as client:
        client.unsubscribe_folder(folder)
    assert not {f.name: f for f in session.list_folders()}[folder].subscribed


def test_it_reads_status_and_select_numbers(
    session: ImapSession, mailserver: MailServer, folder: str
):
    for i in range(3):
        mailserver.append("alice", folder, _message(f"m{i}"), flags=["\\Seen"] if i == 0 else [])
    status = session.status(folder)
    assert (status.messages, status.unseen, status.uidnext) == (3, 2, 4)
    assert status.uidvalidity > 0 and status.highestmodseq
    state = session.select(folder)
    assert (state.uidvalidity, state.uidnext, state.exists) == (status.uidvalidity, 4, 3)
    assert state.highestmodseq == status.highestmodseq


def test_it_reports_a_missing_folder_as_gone(session: ImapSession):
    with pytest.raises(FolderGone):
        session.select("No such folder")
    with pytest.raises(FolderGone):
        session.status("No such folder")
    session.select("INBOX")  # the session is still usable


def test_it_notices_a_folder_recreated_upstream(
    session: ImapSession, mailserver: MailServer, folder: str
):
    before = session.select(folder).uidvalidity
    session.select("INBOX")
    with mailserver.imap("alice") as client:
        client.delete_folder(folder)
        client.create_folder(folder)
    with pytest.raises(UidValidityChanged):
        session.select(folder, expect_uidvalidity=before)


# --------------------------------------------------------------------------------------------
# Envelopes


def _attachment_message() -> EmailMessage:
    msg = _message("Report attached", body="See the attachment.\n")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="r.pdf")
    return msg


def _inline_image_message() -> EmailMessage:
    msg = _message("Newsletter", body="plain version\n")
    msg.add_alternative('<p>html <img src="cid:logo@x"></p>', subtype="html")
    html = msg.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<logo@x>",
                     filename="logo.png", disposition="inline")  # fmt: skip
    return msg


_HOSTILE = (
    b"Subject: =?utf-8?b?broken base64!?= \xff\xfe raw =?x-unknown?q?caf=E9?= "
    b"=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=\r\n"
    b'From: "=?utf-8?q?J=C3=BCrgen?=" <juergen@example.de>, \xc3\xa9ve <eve\xff@ex.test>\r\n'
    b"To: Team: a@example.test, B <b@example.test>;, undisclosed-recipients:;\r\n"
    b"Date: not a date at all\r\n"
    b"Message-ID: <\xff weird>\r\n"
    b"Content-Type: multipart/mixed; boundary=x\r\n"
    b"\r\n--x\r\ncontent-type: text/plain\r\n\r\nhi\r\n--x--\r\n"
)


def test_it_fetches_envelopes(session: ImapSession, mailserver: MailServer, folder: str):
    when = dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    encoded = _message(
        str(Header("Grüße aus München – 会议", "utf-8")),
        sender=str(Header("Jürgen Müller", "utf-8")) + " <juergen@example.de>",
        to="Team: a@example.test, B <b@example.test>;",
        Cc="Carol <carol@example.test>",
        Reply_To="replies@example.test",
        In_Reply_To="<parent@example.test>",
    )
    plain = mailserver.append("alice", folder, encoded, flags=["\\Seen", "$Label1"],
                              internaldate=when)  # fmt: skip
    attached = mailserver.append("alice", folder, _attachment_message())
    inline = mailserver.append("alice", folder, _inline_image_message())
    hostile = mailserver.append("alice", folder, _HOSTILE)
    session.select(folder)

    envelopes = session.fetch_envelopes([hostile, inline, attached, plain, 999])

    assert [e.uid for e in envelopes] == [hostile, inline, attached, plain]
    by_uid = {e.uid: e for e in envelopes}
    env = by_uid[plain]
    assert env.subject == "Grüße aus München – 会议"
    assert env.from_ == (Address("Jürgen Müller", "juergen@example.de"),)
    assert env.to == (Address("", "a@example.test"), Address("B", "b@example.test"))
    assert env.cc == (Address("Carol", "carol@example.test"),)
    assert env.reply_to == (Address("", "replies@example.test"),)
    assert env.date == dt.datetime(2024, 7, 2, 8, 20, 30, tzinfo=dt.UTC)
    assert env.internaldate == when.astimezone(dt.UTC)
    assert env.internaldate.tzinfo is dt.UTC
    assert env.flags == {"\\Seen", "$Label1"}
    assert env.message_id == encoded["Message-ID"]
    assert env.in_reply_to == "<parent@example.test>"
    assert env.size > 100
    assert env.modseq and env.modseq > 0
    assert not env.has_attachments
    assert by_uid[attached].has_attachments
    assert not by_uid[inline].has_attachments  # an image of the HTML body, not an attachment

    odd = by_uid[hostile]
    assert "broken base64!" in odd.subject  # undecodable word kept as sent
    assert "café" in odd.subject and "€" in odd.subject  # unknown charset, split UTF-8
    assert odd.from_[0] == Address("Jürgen", "juergen@example.de")
    assert odd.from_[1].email.startswith("eve")
    assert [a.email for a in odd.to] == ["a@example.test", "b@example.test"]
    assert odd.date is None
    assert odd.internaldate.tzinfo is dt.UTC
    assert not odd.has_attachments


def test_it_fetches_previews_headers_and_raw_messages(
    session: ImapSession, mailserver: MailServer, folder: str
):
    msg = _message(
        "with preview",
        body="The quick brown fox jumps over the lazy dog.\n",
        References="<a@example.test> <b@example.test>",
        List_Id="=?utf-8?q?Caf=C3=A9?= list <cafe.lists.example.test>",
    )
    uid = mailserver.append("alice", folder, msg)
    session.select(folder)
    assert session.fetch_preview([uid]) == {uid: "The quick brown fox jumps over the lazy dog."}
    headers = session.fetch_headers([uid], ["References", "List-Id", "X-Missing"])
    assert headers == {
        uid: {
            "References": "<a@example.test> <b@example.test>",
            "List-Id": "Café list <cafe.lists.example.test>",
        }
    }
    raw = session.fetch_raw(uid)
    assert raw is not None and b"The quick brown fox" in raw
    assert raw.replace(b"\r\n", b"\n") == msg.as_bytes().replace(b"\r\n", b"\n")
    assert "\\Seen" not in mailserver.flags("alice", folder, uid)  # BODY.PEEK
    assert session.fetch_raw(uid + 100) is None


# --------------------------------------------------------------------------------------------
# Sync


def test_it_reports_changes_and_vanished_uids_since_a_modseq(
    session: ImapSession, mailserver: MailServer, folder: str
):
    uids = [mailserver.append("alice", folder, _message(f"m{i}")) for i in range(4)]
    state = session.select(folder)
    assert state.highestmodseq is not None

    mailserver.flag("alice", folder, uids[0], "\\Flagged")
    mailserver.flag("alice", folder, uids[1], ["$Label1", "\\Seen"])
    mailserver.expunge_externally("alice", folder, [uids[2]])

    changes = session.changes_since(state.highestmodseq, vanished=True)

    changed = {c.uid: c for c in changes.changed}
    assert set(changed) == {uids[0], uids[1]}
    assert changed[uids[0]].flags == {"\\Flagged"}
    assert changed[uids[1]].flags == {"$Label1", "\\Seen"}
    assert all(c.modseq and c.modseq > state.highestmodseq for c in changes.changed)
    assert changes.vanished == [uids[2]]


def test_it_keeps_expunges_announced_during_other_commands(
    session: ImapSession, mailserver: MailServer, folder: str
):
    uids = [mailserver.append("alice", folder, _message(f"m{i}")) for i in range(3)]
    state = session.select(folder)
    assert state.highestmodseq is not None
    mailserver.expunge_externally("alice", folder, uids[:2])
    session.noop()  # the server tells this session now (VANISHED), and only once
    session.fetch_envelopes([uids[2]])
    changes = session.changes_since(state.highestmodseq, vanished=True)
    assert changes.vanished == uids[:2]
    assert session.changes_since(state.highestmodseq, vanished=True).vanished == uids[:2]


def test_it_reports_flag_changes_with_condstore_only(
    session: ImapSession, mailserver: MailServer, folder: str
):
    uid = mailserver.append("alice", folder, _message())
    state = session.select(folder)
    assert state.highestmodseq is not None
    mailserver.flag("alice", folder, uid, "\\Answered")
    changes = session.changes_since(state.highestmodseq, vanished=False)
    assert [(c.uid, c.flags) for c in changes.changed] == [(uid, frozenset({"\\Answered"}))]
    assert changes.vanished == []


@pytest.mark.parametrize("esearch", [True, False])
def test_it_lists_uids_and_reads_flags_in_windows(
    session: ImapSession, mailserver: MailServer, folder: str, esearch: bool
):
    if not esearch:
        session._capabilities -= {"ESEARCH"}  # noqa: SLF001 - the RFC 3501 path, same server
    session.select(folder)
    assert session.uid_list() == []
    uids = [mailserver.append("alice", folder, _message(f"m{i}")) for i in range(5)]
    mailserver.expunge_externally("alice", folder, [uids[1]])
    mailserver.flag("alice", folder, uids[3], "\\Flagged")
    session.select(folder)
    assert session.uid_list() == [uids[0], *uids[2:]]
    window = session.flags_in(range(uids[0], uids[-1] + 1))
    assert set(window) == {uids[0], *uids[2:]}
    assert window[uids[3]] == {"\\Flagged"}
    assert session.flags_in([uids[1], uids[3]]) == {uids[3]: frozenset({"\\Flagged"})}
    assert session.flags_in(range(0)) == {}


def test_without_condstore_it_offers_the_uid_diff_path(plain_mailserver: MailServer):
    # A Dovecot that advertises neither CONDSTORE nor QRESYNC: sync must compare UID lists
    # and flags by window instead.
    server = plain_mailserver
    options = ConnectOptions(policy=LOOPBACK, ca_file=str(server.ca_file), timeout=10)
    endpoint = Endpoint(server.host, server.imap_port, "starttls", "alice", server.users["alice"])
    name = f"t-{uuid.uuid4().hex[:10]}"
    server.create_folder("alice", name)
    uids = [server.append("alice", name, _message(f"m{i}")) for i in range(3)]
    server.flag("alice", name, uids[1], "\\Seen")
    with ImapSession.connect(endpoint, options) as imap:
        assert not imap.has_condstore and not imap.has_qresync
        state = imap.select(name)
        assert state.highestmodseq is None
        assert imap.status(name).highestmodseq is None
        assert imap.uid_list() == uids
        assert imap.flags_in(range(1, state.uidnext)) == {
            uids[0]: frozenset(),
            uids[1]: frozenset({"\\Seen"}),
            uids[2]: frozenset(),
        }
        assert [e.modseq for e in imap.fetch_envelopes(uids)] == [None, None, None]
        with pytest.raises(PermanentError, match="CONDSTORE"):
            imap.changes_since(1, vanished=False)


# --------------------------------------------------------------------------------------------
# Writes


def test_store_flags_returns_what_the_server_says(
    session: ImapSession, mailserver: MailServer, folder: str
):
    a = mailserver.append("alice", folder, _message("a"), flags=["\\Seen"])
    b = mailserver.append("alice", folder, _message("b"))
    session.select(folder, readonly=False)

    # a already has \Seen: Dovecot sends no FETCH for it, the adapter asks.
    assert session.store_flags([a, b], ["\\Seen", "$Todo"], add=True) == {
        a: {"\\Seen", "$Todo"},
        b: {"\\Seen", "$Todo"},
    }
    assert session.store_flags([b], ["\\Seen"], add=False) == {b: {"$Todo"}}
    assert mailserver.flags("alice", folder, a) == {"\\Seen", "$Todo"}
    assert mailserver.flags("alice", folder, b) == {"$Todo"}
    with pytest.raises(ValueError, match="Recent"):
        session.store_flags([a], ["\\Recent"], add=True)
    with pytest.raises(ValueError, match="keyword"):
        session.store_flags([a], ["bad flag"], add=True)


def test_writes_need_a_writable_selection(
    session: ImapSession, mailserver: MailServer, folder: str
):
    uid = mailserver.append("alice", folder, _message())
    session.select(folder)  # read-only by default
    with pytest.raises(PermanentError, match="read-only"):
        session.store_flags([uid], ["\\Seen"], add=True)


@pytest.mark.parametrize("with_move", [True, False])
def test_it_moves_messages_and_maps_their_uids(
    session: ImapSession, mailserver: MailServer, folder: str, with_move: bool
):
    if not with_move:
        session._capabilities -= {"MOVE"}  # noqa: SLF001 - COPY + EXPUNGE path, same server
    destination = f"{folder}-dest"
    mailserver.create_folder("alice", destination)
    try:
        uids = [mailserver.append("alice", folder, _message(f"m{i}")) for i in range(3)]
        session.select(folder, readonly=False)
        mapping = session.move([uids[0], uids[2]], destination)
        assert set(mapping) == {uids[0], uids[2]}
        assert sorted(mapping.values()) == mailserver.uids("alice", destination)
        assert mailserver.uids("alice", folder) == [uids[1]]
        with pytest.raises(FolderGone):
            session.move([uids[1]], "No such folder")
    finally:
        with mailserver.imap("alice") as client:
            client.delete_folder(destination)


def test_expunge_removes_only_the_given_messages(
    session: ImapSession, mailserver: MailServer, folder: str
):
    uids = [mailserver.append("alice", folder, _message(f"m{i}")) for i in range(3)]
    mailserver.flag("alice", folder, uids[2], "\\Deleted")  # another client's pending delete
    session.select(folder, readonly=False)
    session.expunge([uids[0]])
    assert mailserver.uids("alice", folder) == uids[1:]


def test_append_returns_the_new_uid(session: ImapSession, mailserver: MailServer, folder: str):
    when = dt.datetime(2023, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    message = _message("drafted").as_bytes()
    uid = session.append(folder, message, flags=["\\Draft", "\\Seen"], internaldate=when)
    assert uid is not None
    assert mailserver.uids("alice", folder) == [uid]
    assert mailserver.flags("alice", folder, uid) == {"\\Draft", "\\Seen"}
    session.select(folder)
    (envelope,) = session.fetch_envelopes([uid])
    assert envelope.subject == "drafted"
    assert envelope.internaldate == when
    with pytest.raises(FolderGone):
        session.append("No such folder", message)


# --------------------------------------------------------------------------------------------
# IDLE


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_idle_reports_a_delivered_message(
    imap_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer, security
):
    with ImapSession.connect(imap_endpoint(security, user="bob"), options) as imap:
        before = imap.select("INBOX")
        imap.idle_start()
        mailserver.deliver("carol@example.test", ["bob@example.test"], _message("ping"))
        events: list[IdleEvent] = []
        deadline = time.monotonic() + 10
        while not any(e.kind == "exists" for e in events) and time.monotonic() < deadline:
            events += imap.idle_wait(1.0)
        events += imap.idle_done()
        assert any(e.kind == "exists" and e.number == before.exists + 1 for e in events)
        imap.noop()  # still connected: draining the socket was not taken for EOF
        new = imap.fetch_envelopes(range(before.uidnext, before.uidnext + 1))
        assert [e.subject for e in new] == ["ping"]


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_idle_wait_raises_when_the_server_hangs_up(
    imap_endpoint: MakeEndpoint, options: ConnectOptions, mailserver: MailServer, security
):
    imap = ImapSession.connect(imap_endpoint(security, user="carol"), options)
    imap.select("INBOX")
    imap.idle_start()
    assert imap.idle_wait(0.2) == []  # nothing happened: a quiet timeout, not an error
    mailserver.doveadm("kick", "carol")
    with pytest.raises(TransientError):
        for _ in range(20):
            imap.idle_wait(0.5)
    with pytest.raises(TransientError, match="closed"):
        imap.noop()


# --------------------------------------------------------------------------------------------
# Pure decoding (no server)


@given(st.text())
def test_folder_names_round_trip_through_modified_utf7(name: str):
    assert decode_folder_name(encode_folder_name(name)) == name


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_decoding_a_folder_name_never_raises(raw: str):
    assert isinstance(decode_folder_name(raw), str)


@given(st.one_of(st.text(), st.binary()))
def test_decoding_a_header_never_raises(raw: str | bytes):
    text = decode_header_text(raw)
    assert "\x00" not in text and "\n" not in text


_WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)


@given(st.lists(_WORDS, min_size=1, max_size=8).map(" ".join))
def test_encoded_headers_decode_to_what_was_encoded(text: str):
    # The standard library's encoder is the oracle: whatever it writes, we read back.
    assert decode_header_text(Header(text, "utf-8").encode()) == text


def _imapclient_parse(line: bytes) -> object:
    try:
        return parse_response([line])
    except (ImapClientProtocolError, ValueError, RecursionError):
        return "error"


_PIECES = [b"(", b")", b" ", b"  ", b'"', b"\\", b"NIL", b"nil", b"0", b"12", b"007", b"abc",
           b"\\Seen", b"$Fwd", b"[", b"]", b"%", b"{5}", b"\t", b"\r\n", b"\xff", b"\x00",
           b"\x7f", b'"q\\"x"', b'"a\\\\b"', b'"\\n"', b"BODY[TEXT]"]  # fmt: skip


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map(b"".join))
def test_the_fast_parser_agrees_with_imapclient_on_any_line(line: bytes):
    fast = _fast_parse(line)
    if fast is not None:
        assert fast == _imapclient_parse(line)


_ATOMS = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=2**63),
    st.binary(max_size=20),  # quoted
    st.from_regex(rb"\A[A-Za-z0-9$\\.\-]{1,12}\Z"),  # atoms and flags
)
_VALUES = st.recursive(_ATOMS, lambda inner: st.lists(inner, max_size=6).map(tuple), max_leaves=40)


def _serialise(value: object, quote: bool) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, tuple):
        return b"(" + b" ".join(_serialise(v, quote) for v in value) + b")"
    assert isinstance(value, bytes)
    if quote or not value or any(c in value for c in b' ()"\\%[{'):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return value


@settings(max_examples=300)
@given(st.lists(_VALUES, min_size=1, max_size=5), st.booleans())
def test_the_fast_parser_reads_well_formed_responses_like_imapclient(values, quote: bool):
    line = b" ".join(_serialise(v, quote) for v in values)
    expected = _imapclient_parse(line)
    fast = _fast_parse(line)
    if fast is not None:
        assert fast == expected
    if not any(c < 32 for c in line):  # the everyday shape must take the fast path
        assert fast is not None


# hypothesis takes naive bounds; the zone is added in the test
_FIRST = dt.datetime(1900, 1, 2)  # noqa: DTZ001
_LAST = dt.datetime(9998, 12, 30)  # noqa: DTZ001


@given(
    st.datetimes(min_value=_FIRST, max_value=_LAST),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_internaldates_parse_to_the_instant_they_name(moment: dt.datetime, offset: int):
    aware = moment.replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
    wire = imaplib.Time2Internaldate(aware).strip('"').encode()
    assert _internaldate(wire) == aware
    assert _internaldate(b"garbage") is None


_HOSTILE_ATOMS = st.one_of(
    st.none(), st.integers(min_value=-(2**70), max_value=2**70), st.binary(max_size=30)
)
_HOSTILE_VALUES = st.recursive(
    _HOSTILE_ATOMS, lambda inner: st.lists(inner, max_size=12).map(tuple), max_leaves=60
)
_ITEMS = [b"UID", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODYSTRUCTURE",
          b"MODSEQ"]  # fmt: skip


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(_ITEMS), _HOSTILE_VALUES))
def test_envelope_conversion_never_raises_on_hostile_data(items):
    envelope = _envelope(7, items)
    assert envelope.uid == 7
    assert envelope.internaldate.tzinfo is dt.UTC
    assert "\x00" not in envelope.subject
    assert envelope.size >= 0


def test_an_unparseable_fetch_response_still_yields_its_uid():
    items = _fetch_items([b"12 (UID 5 FLAGS (\\Seen ENVELOPE (NIL"])
    assert items == {b"UID": 5}
    envelope = _envelope(5, items)
    assert (envelope.subject, envelope.from_, envelope.size) == ("", (), 0)
