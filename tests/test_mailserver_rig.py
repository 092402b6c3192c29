"""Self-tests of the Dovecot + Postfix rig: prove the servers really speak the protocols the app
relies on before any app test trusts them."""

from __future__ import annotations

import email
import email.header
import email.policy
import imaplib
import poplib
import smtplib
import socket
import ssl
import subprocess
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest
from imapclient.exceptions import LoginError

from tests.servers import mail as rig
from tests.servers.mail import MailServer, MessageFactory, RigError

pytestmark = pytest.mark.mailserver


def _message(subject: str, sender: str, to: str, body: str = "Hello there.\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@rig.test>"
    msg.set_content(body)
    return msg


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:12]}"


def _subject_of(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["Subject"])


def _ctx(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def test_attributes(mailserver: MailServer) -> None:
    ports = [
        mailserver.imap_port,
        mailserver.imaps_port,
        mailserver.pop3_port,
        mailserver.pop3s_port,
        mailserver.smtp_port,
        mailserver.submission_port,
        mailserver.submissions_port,
        mailserver.lmtp_port,
        mailserver.auth_port,
    ]
    assert len(set(ports)) == len(ports)
    assert mailserver.host == "127.0.0.1"
    assert mailserver.domain == "example.test"
    assert set(mailserver.users) == {"alice", "bob", "carol"}
    assert mailserver.ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (mailserver.root / "dovecot.conf").exists()
    listening = _listeners()
    for port in ports:  # bound to loopback only, never the wildcard address, no IPv6
        assert listening.get(port) == {"127.0.0.1"}, (port, listening.get(port))


def _listeners() -> dict[int, set[str]]:
    """{port: {local address}} of listening TCP sockets, from /proc/net/tcp and tcp6."""
    found: dict[int, set[str]] = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            if width == 8:
                addr = socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1])
            else:
                addr = "ipv6:" + addr_hex
            found.setdefault(int(port_hex, 16), set()).add(addr)
    return found


def test_smtp_delivery_visible_over_imap_and_pop3(mailserver: MailServer) -> None:
    subject = _unique("Delivered über SMTP")
    mailserver.deliver(
        "sender@example.org",
        ["bob@example.test"],
        _message(subject, "Sender <sender@example.org>", "bob@example.test"),
    )

    with mailserver.imap("bob") as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["SUBJECT", subject.split()[-1]])
        assert len(uids) == 1
        raw = client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    assert _subject_of(raw) == subject
    assert b"by mail.example.test (Postfix)" in raw  # really went through Postfix and LMTP

    pop = poplib.POP3(mailserver.host, mailserver.pop3_port, timeout=10)
    try:
        pop.user("bob")
        pop.pass_(mailserver.users["bob"])
        count, _size = pop.stat()
        subjects = []
        for n in range(1, count + 1):
            _resp, lines, _octets = pop.retr(n)
            subjects.append(_subject_of(b"\r\n".join(lines)))
    finally:
        pop.quit()
    assert subject in subjects


def test_deliver_bytes_to_several_recipients(mailserver: MailServer) -> None:
    subject = _unique("Bytes to two")
    raw = (
        f"From: x@example.org\r\nTo: alice@example.test, bob@example.test\r\n"
        f"Subject: {subject}\r\n\r\nbody\r\n"
    ).encode()
    mailserver.deliver("x@example.org", ["alice@example.test", "bob@example.test"], raw)
    for user in ("alice", "bob"):
        with mailserver.imap(user) as client:
            client.select_folder("INBOX", readonly=True)
            assert client.search(["SUBJECT", subject.split()[-1]])


def test_deliver_refuses_unknown_local_user(mailserver: MailServer) -> None:
    with pytest.raises(RigError, match="refused"):
        mailserver.deliver("x@example.org", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")


def test_submission_with_auth_arrives(mailserver: MailServer) -> None:
    subject = _unique("Submitted")
    msg = _message(subject, "alice@example.test", "bob@example.test")
    with smtplib.SMTP(mailserver.host, mailserver.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert "PLAIN" in smtp.esmtp_features.get("auth", "")  # AUTH offered before TLS
        smtp.login("alice", mailserver.users["alice"])
        smtp.send_message(msg)
    uids = mailserver.wait_for("bob", ["SUBJECT", subject.split()[-1]])
    assert len(uids) == 1


def test_submission_starttls_and_submissions(mailserver: MailServer) -> None:
    ctx = _ctx(mailserver.ca_file)
    subject = _unique("Over TLS")
    with smtplib.SMTP(mailserver.host, mailserver.submission_port, timeout=10) as smtp:
        smtp.starttls(context=ctx)
        smtp.login("bob", mailserver.users["bob"])
        smtp.send_message(_message(subject, "bob@example.test", "carol@example.test"))
    with smtplib.SMTP_SSL(
        mailserver.host, mailserver.submissions_port, context=ctx, timeout=10
    ) as smtp:
        smtp.login("bob@example.test", mailserver.users["bob"])  # full address works too
        smtp.send_message(_message(subject + " again", "bob@example.test", "carol@example.test"))
    assert len(mailserver.wait_for("carol", ["SUBJECT", subject.split()[-1]])) >= 1
    mailserver.wait_for("carol", ["SUBJECT", "again", "SUBJECT", subject.split()[-1]])


def test_submission_rejects_wrong_password_and_anonymous(mailserver: MailServer) -> None:
    port = mailserver.submission_port
    with (
        smtplib.SMTP(mailserver.host, port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login("alice", "wrong password")
    with (
        smtplib.SMTP(mailserver.host, port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        smtp.sendmail("alice@example.test", ["bob@example.test"], b"Subject: x\r\n\r\nx\r\n")
    # A failed login must not slow down the next one (no auth penalty on the rig).
    with mailserver.imap("alice") as client:
        assert client.noop()


def test_submission_to_external_domain_is_accepted(mailserver: MailServer) -> None:
    with smtplib.SMTP(mailserver.host, mailserver.submission_port, timeout=10) as smtp:
        smtp.login("alice", mailserver.users["alice"])
        refused = smtp.sendmail(
            "alice@example.test", ["someone@elsewhere.example"], b"Subject: out\r\n\r\nx\r\n"
        )
    assert refused == {}


def test_imap_wrong_password(mailserver: MailServer) -> None:
    client = imapclient.IMAPClient(mailserver.host, mailserver.imap_port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login("alice", "nope")
    client.shutdown()


def test_idle_reports_new_message(mailserver: MailServer) -> None:
    with mailserver.imap("carol") as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            mailserver.deliver(
                "x@example.org",
                ["carol@example.test"],
                _message(_unique("Idle"), "x@example.org", "carol@example.test"),
            )
            responses = client.idle_check(timeout=10)
        finally:
            client.idle_done()
    assert any(r[1] == b"EXISTS" for r in responses if len(r) > 1), responses


def test_capabilities_and_special_use(mailserver: MailServer) -> None:
    with mailserver.imap("alice") as client:
        caps = set(client.capabilities())
        for cap in (b"IDLE", b"CONDSTORE", b"QRESYNC", b"MOVE", b"SPECIAL-USE", b"QUOTA"):
            assert cap in caps
        assert b"ENABLE" in caps
        assert client.enable("QRESYNC") == [b"QRESYNC"]
        folders = {name: set(flags) for flags, _sep, name in client.list_folders()}
        for name, flag in mailserver.special_use.items():
            assert flag.encode() in folders[name], (name, folders.get(name))
        subscribed = {name for _flags, _sep, name in client.list_sub_folders()}
        assert set(mailserver.special_use) <= subscribed
        assert client.find_special_folder(b"\\Sent") == "Sent"
        _roots, quotas = client.get_quota_root("INBOX")
        assert quotas and quotas[0].resource == "STORAGE"
        assert quotas[0].limit == 1024 * 1024  # KiB: the 1G rule
        assert client.namespace().personal[0][1] == "/"


def test_imap_starttls_and_imaps_verify_with_ca(mailserver: MailServer) -> None:
    ctx = _ctx(mailserver.ca_file)
    client = imapclient.IMAPClient(mailserver.host, mailserver.imap_port, ssl=False, timeout=10)
    client.starttls(ctx)
    client.login("alice", mailserver.users["alice"])
    client.logout()

    client = imapclient.IMAPClient(
        mailserver.host, mailserver.imaps_port, ssl=True, ssl_context=ctx, timeout=10
    )
    client.login("alice", mailserver.users["alice"])
    client.logout()

    # The certificate also names the host names, not just 127.0.0.1.
    for name in ("mail.example.test", "localhost"):
        with (
            socket.create_connection((mailserver.host, mailserver.imaps_port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=name) as tls_sock,
        ):
            assert tls_sock.recv(4).startswith(b"* OK")

    pops = poplib.POP3_SSL(mailserver.host, mailserver.pop3s_port, context=ctx, timeout=10)
    pops.user("alice")
    pops.pass_(mailserver.users["alice"])
    pops.quit()
    pop = poplib.POP3(mailserver.host, mailserver.pop3_port, timeout=10)
    pop.stls(context=ctx)
    pop.quit()


def test_tls_fails_verification_without_ca(mailserver: MailServer) -> None:
    client = imapclient.IMAPClient(mailserver.host, mailserver.imap_port, ssl=False, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(_ctx(None))
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            mailserver.host, mailserver.imaps_port, ssl=True, ssl_context=_ctx(None), timeout=10
        )
    with (
        smtplib.SMTP(mailserver.host, mailserver.submission_port, timeout=10) as smtp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        smtp.starttls(context=_ctx(None))
    # Right CA, wrong name: hostname checking is on.
    with (
        socket.create_connection((mailserver.host, mailserver.imaps_port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        _ctx(mailserver.ca_file).wrap_socket(raw, server_hostname="evil.example")


def test_append_flag_expunge_helpers(mailserver: MailServer) -> None:
    mailserver.create_folder("bob", "Helpers")
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    first = mailserver.append(
        "bob", "Helpers", _message("one", "a@example.org", "bob@example.test"), internaldate=when
    )
    second = mailserver.append(
        "bob", "Helpers", b"Subject: two\r\n\r\nx\r\n", flags=["\\Seen", "$Important"]
    )
    assert second > first
    assert mailserver.uids("bob", "Helpers")[-2:] == [first, second]
    assert mailserver.flags("bob", "Helpers", first) == set()
    assert mailserver.flags("bob", "Helpers", second) == {"\\Seen", "$Important"}

    mailserver.flag("bob", "Helpers", first, ["\\Flagged", "Work"])
    assert mailserver.flags("bob", "Helpers", first) == {"\\Flagged", "Work"}
    mailserver.flag("bob", "Helpers", first, "\\Flagged", add=False)
    assert mailserver.flags("bob", "Helpers", first) == {"Work"}

    with mailserver.imap("bob") as client:
        client.normalise_times = False  # keep the server's offset: compare aware datetimes
        client.select_folder("Helpers", readonly=True)
        internal = client.fetch([first], ["INTERNALDATE"])[first][b"INTERNALDATE"]
    assert internal == when

    mailserver.expunge_externally("bob", "Helpers", [first])
    assert first not in mailserver.uids("bob", "Helpers")
    assert second in mailserver.uids("bob", "Helpers")
    with pytest.raises(RigError):
        mailserver.flags("bob", "Helpers", first)


def test_expunge_seen_by_open_session(mailserver: MailServer) -> None:
    """An external expunge is what the app's QRESYNC/IDLE code must notice."""
    mailserver.create_folder("alice", "Vanishing")
    uid = mailserver.append("alice", "Vanishing", b"Subject: bye\r\n\r\nx\r\n")
    with mailserver.imap("alice") as client:
        client.enable("QRESYNC")
        client.select_folder("Vanishing")
        mailserver.expunge_externally("alice", "Vanishing", [uid])
        untagged = client.noop()[1]
    assert (b"VANISHED", uid) in untagged, untagged


def test_seed_200_visible_over_imap(mailserver: MailServer) -> None:
    mailserver.seed("alice", "Seeded", 200)
    uids = mailserver.uids("alice", "Seeded")
    assert len(uids) == 200
    with mailserver.imap("alice") as client:
        client.select_folder("Seeded", readonly=True)
        data = client.fetch(
            uids, ["INTERNALDATE", "ENVELOPE", "RFC822.SIZE", "BODYSTRUCTURE", "FLAGS"]
        )
        raw = client.fetch([uids[0]], ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    envelopes = [data[u][b"ENVELOPE"] for u in uids]
    assert all(e.subject and e.from_ and e.message_id and e.date for e in envelopes)
    # UIDs ascend with the date.
    dates = [data[u][b"INTERNALDATE"] for u in uids]
    assert dates == sorted(dates)
    env_dates = [e.date for e in envelopes]
    assert env_dates[0] < env_dates[-1]
    # RFC 2047 subjects decode; some are non-ASCII.
    subjects = [
        str(email.header.make_header(email.header.decode_header(e.subject.decode())))
        for e in envelopes
    ]
    assert any(not s.isascii() for s in subjects)
    assert any(s.startswith("Re: ") for s in subjects)
    assert sum(1 for e in envelopes if e.in_reply_to) > 10
    flags = [set(data[u][b"FLAGS"]) for u in uids]
    assert any(b"\\Seen" in f for f in flags) and any(b"\\Seen" not in f for f in flags)
    assert any(b"\\Flagged" in f for f in flags)
    structures = [data[u][b"BODYSTRUCTURE"] for u in uids]
    assert any(s.is_multipart and s[1] == b"alternative" for s in structures)
    assert any(s.is_multipart and s[1] == b"mixed" for s in structures)
    sizes = [data[u][b"RFC822.SIZE"] for u in uids]
    assert max(sizes) > 5 * min(sizes)
    # The size Dovecot reports (from the W= in the file name) matches the real message.
    assert len(raw) == sizes[0]
    assert email.message_from_bytes(raw)["Message-ID"] == envelopes[0].message_id.decode()


def test_seed_is_deterministic_and_continues(mailserver: MailServer) -> None:
    factory = MessageFactory("bob@example.test", "Continued")
    assert factory.message(5) == MessageFactory("bob@example.test", "Continued").message(5)
    mailserver.seed("bob", "Continued", 30)
    mailserver.seed("bob", "Continued", 20, start=30)
    uids = mailserver.uids("bob", "Continued")
    assert len(uids) == 50
    with mailserver.imap("bob") as client:
        client.select_folder("Continued", readonly=True)
        data = client.fetch(uids, ["ENVELOPE", "INTERNALDATE"])
    ids = [data[u][b"ENVELOPE"].message_id for u in uids]
    assert len(set(ids)) == 50
    dates = [data[u][b"INTERNALDATE"] for u in uids]
    assert dates == sorted(dates)


def test_users_are_isolated(mailserver: MailServer) -> None:
    token = uuid.uuid4().hex[:12]
    mailserver.deliver(
        "x@example.org",
        ["alice@example.test"],
        _message(f"Private {token}", "x@example.org", "alice@example.test"),
    )
    with mailserver.imap("alice") as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["SUBJECT", token])
    for other in ("carol", "bob"):
        with mailserver.imap(other) as client:
            client.select_folder("INBOX", readonly=True)
            assert client.search(["SUBJECT", token]) == []
            with pytest.raises(imapclient.exceptions.IMAPClientError):
                client.select_folder("Seeded")  # alice's folder, not theirs
    # A user cannot log in with someone else's password.
    client = imapclient.IMAPClient(mailserver.host, mailserver.imap_port, ssl=False, timeout=10)
    with pytest.raises(LoginError):
        client.login("carol", mailserver.users["alice"])
    client.shutdown()


def test_clear_empties_a_user(mailserver: MailServer) -> None:
    mailserver.create_folder("carol", "Scratch")
    mailserver.append("carol", "Scratch", b"Subject: s\r\n\r\nx\r\n")
    mailserver.append("carol", "Trash", b"Subject: t\r\n\r\nx\r\n")
    mailserver.clear("carol")
    with mailserver.imap("carol") as client:
        names = {name for _f, _s, name in client.list_folders()}
    assert "Scratch" not in names
    assert set(mailserver.special_use) <= names
    assert mailserver.uids("carol", "Trash") == []


def test_raw_imaplib_login(mailserver: MailServer) -> None:
    """The bench uses plain imaplib; make sure it gets along with the server."""
    conn = imaplib.IMAP4(mailserver.host, mailserver.imap_port)
    try:
        conn.login("bob", mailserver.users["bob"])
        typ, data = conn.select("INBOX", readonly=True)
        assert typ == "OK" and data[0] is not None and int(data[0]) >= 0
    finally:
        conn.logout()


def test_processes_stop_cleanly(tmp_path: Path) -> None:
    """A second instance starts beside the session one and leaves no process behind."""
    server = MailServer.start(tmp_path / "second")
    pgids = server.pids
    with server:
        assert server.imap_port != 0
        with server.imap("alice") as client:
            client.select_folder("INBOX")
    ps = subprocess.run(["ps", "-eo", "pid=,pgid="], capture_output=True, text=True, check=True)
    alive = {int(line.split()[1]) for line in ps.stdout.splitlines() if line.strip()}
    assert not alive & set(pgids)
    assert not server.spool.exists() or server.spool == server.root


def test_missing_rig_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rig, "missing_requirements", lambda: "no dovecot here")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make test"):
        rig.require_rig()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no dovecot here"):
        rig.require_rig()
