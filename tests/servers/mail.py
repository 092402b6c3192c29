"""A real, private Dovecot + Postfix pair for tests and benchmarks.

``MailServer.start(root)`` writes every config file into ``root`` and runs:

* Dovecot (``dovecot -F``): IMAP (+STARTTLS), IMAPS, POP3 (+STLS), POP3S, LMTP on TCP and a
  TCP auth listener that Postfix uses for SASL;
* Postfix (its ``master`` in the foreground, with ``-c`` pointing at our config dir): an MX-style
  SMTP listener without auth, submission (AUTH via Dovecot, STARTTLS offered, AUTH also allowed in
  clear because tests talk over loopback) and implicit-TLS submissions.  Mail for example.test
  goes to Dovecot over LMTP; mail for any other domain is accepted and discarded (there is no
  network, and an accepted-then-silently-dropped message is what the sender would observe).

Everything listens on 127.0.0.1 on ports picked at start-up, so several instances (one per
pytest-xdist worker) and a system Postfix/Dovecot can coexist.

Why the mail store may live outside ``root``: Dovecot refuses to access mail as uid 0, so mail is
owned by the unprivileged ``dovecot`` user, and LMTP delivery (a temporary seteuid, no chroot)
needs that uid to traverse every parent directory.  pytest's temp dirs are 0700 root-only chains
(pytest re-tightens them every session), so in that case the Maildirs (and Postfix's
data_directory, which has the same problem) go to a short-lived ``/tmp/webmail-rig-*`` directory
(symlinked as ``root/spool``) that ``stop()`` removes.  Config, TLS material, logs, Dovecot's
base_dir and the Postfix queue stay in ``root``.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import email.policy
import email.utils
import grp
import math
import os
import pty
import pwd
import random
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from functools import cache, lru_cache
from pathlib import Path
from types import TracebackType
from typing import ClassVar, NoReturn

import imapclient
import pytest
from imapclient import imap_utf7

from tests.servers import tls

HOST = "127.0.0.1"
DOMAIN = "example.test"
HOSTNAME = "mail.example.test"
SEPARATOR = "/"
MAIL_USER = "dovecot"  # owns the Maildirs; an existing system user, so nothing is created
USERS: dict[str, str] = {
    "alice": "alice-Secret-1",
    "bob": "bob-Secret-2",
    "carol": "carol-Secret-3",
}
SPECIAL_USE: dict[str, str] = {
    "Drafts": "\\Drafts",
    "Sent": "\\Sent",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}
START_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 10.0
# Unix socket paths are limited to 108 bytes; Dovecot's longest socket name under base_dir is
# about 30 characters, so keep base_dir comfortably short.
MAX_BASE_DIR = 70
SPOOL_PREFIX = "webmail-rig-"

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


class RigError(RuntimeError):
    """The mail servers failed to start or a helper could not do its job."""


class _PortClash(RigError):
    """A port we picked was taken before the server bound it; start again with new ports."""


# --------------------------------------------------------------------------------------------
# Environment checks (used by the fixture to skip or fail with a useful message)


def _sbin_which(name: str) -> str | None:
    # /usr/sbin is not on every PATH (e.g. some sudo/CI setups) but that is where Debian puts them.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
    return shutil.which(name, path=path)


@lru_cache(maxsize=1)
def _postfix_daemon_dir() -> Path | None:
    postconf = _sbin_which("postconf")
    if postconf is None:
        return None
    out = subprocess.run(
        [postconf, "-h", "daemon_directory"], capture_output=True, text=True, check=False
    )
    path = Path(out.stdout.strip() or "/usr/lib/postfix/sbin")
    return path if (path / "master").exists() else None


def missing_requirements() -> str | None:
    """Why the rig cannot run here, or None if it can."""
    missing = [b for b in ("dovecot", "doveadm", "postconf") if _sbin_which(b) is None]
    if missing:
        return f"missing binaries: {', '.join(missing)} (Debian: dovecot-imapd dovecot-pop3d "
        "dovecot-lmtpd postfix)"
    if _postfix_daemon_dir() is None:
        return "Postfix master daemon not found (postconf -h daemon_directory)"
    for user in (MAIL_USER, "dovenull", "postfix"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"system user {user!r} missing (installed by the dovecot/postfix packages)"
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        return "group 'postdrop' missing (installed by the postfix package)"
    if os.geteuid() != 0:
        return "the mail server rig must run as root (Dovecot and Postfix drop privileges)"
    return None


# --------------------------------------------------------------------------------------------
# Small process/port helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(_free_port())
    return sorted(ports)


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the forked child before exec: if the test process dies without tearing down
    # (SIGKILL, crash), the kernel sends the server master SIGTERM so it stops its children
    # instead of leaving orphans holding ports.
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _group_members(pgid: int) -> dict[int, int]:
    """{pid: ppid} of the processes in process group ``pgid``, from /proc.

    Zombies count only if they are ours to reap: one already handed to init is dead and
    holds nothing, and waiting for init to collect it could take long.
    """
    me = os.getpid()
    members = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process exited while we were looking
        state, ppid, pgrp = fields[0], int(fields[1]), int(fields[2])
        if pgrp == pgid and (state != "Z" or ppid == me):
            members[int(stat_file.parent.name)] = ppid
    return members


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """Adopt orphaned descendants while a master shuts down, so we can reap them.

    A master that exits before its last children leaves them to init, and some container
    inits reap late or never: they would linger as zombies in ``ps``.
    """
    libc = _libc()
    previous = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(previous))
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, previous.value)


def _stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """Stop a server master and everything in its process group, leaving no zombies.

    The whole group gets SIGTERM at once (a master alone would take its time: Dovecot's
    waits about a second for its children, Postfix's exits at once and orphans them), and
    orphans are adopted and reaped here.
    """
    if proc is None:
        return
    pgid = proc.pid  # started with start_new_session=True, so pid == pgid
    me = os.getpid()
    with _subreaper():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        # Whatever is left was re-parented to us: reap it, killing it if it lingers.
        deadline = time.monotonic() + 3
        killed = False
        while members := _group_members(pgid):
            for pid, ppid in members.items():
                if ppid == me:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
            if time.monotonic() > deadline:
                if killed:
                    break  # not ours to reap (e.g. an init zombie); nothing is running
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + 2
            time.sleep(0.01)


def _traversable_by(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether a process with this uid/groups can reach ``path`` (search bit on each parent)."""
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _clean_stale_spools() -> None:
    """Remove spools left by test processes that were killed before they could tear down."""
    for d in Path(tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}*"):
        try:
            pid = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


# --------------------------------------------------------------------------------------------
# The server pair


class MailServer:
    """A running private Dovecot + Postfix.  Create with ``MailServer.start(root)``."""

    host: ClassVar[str] = HOST
    domain: ClassVar[str] = DOMAIN
    hostname: ClassVar[str] = HOSTNAME
    separator: ClassVar[str] = SEPARATOR
    users: ClassVar[dict[str, str]] = dict(USERS)
    special_use: ClassVar[dict[str, str]] = dict(SPECIAL_USE)

    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    lmtp_port: int
    auth_port: int
    smtp_port: int
    submission_port: int
    submissions_port: int

    def __init__(self, root: Path, *, imap_capability: str | None = None) -> None:
        # imap_capability replaces what Dovecot advertises (its `imap_capability` setting),
        # e.g. to play a server without CONDSTORE/QRESYNC.
        self.imap_capability = imap_capability
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam(MAIL_USER)
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid
        self._spool_is_private = False
        self.spool = self._choose_spool()
        self.mail_dir = self.spool / "mail"
        self.log_dir = self.root / "log"
        self.dovecot_conf = self.root / "dovecot.conf"
        self.postfix_dir = self.root / "postfix"
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._postfix: subprocess.Popen[bytes] | None = None
        self._seed_calls = 0
        self.ca_file = self.root / "tls" / "ca.crt"

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls, root: Path, *, timeout: float = START_TIMEOUT, imap_capability: str | None = None
    ) -> MailServer:
        """Start both servers in ``root``; returns once every port answers.

        Usable as ``with MailServer.start(path) as server:`` (stops on exit) or with an explicit
        ``server.stop()``.
        """
        _clean_stale_spools()
        server = cls(root, imap_capability=imap_capability)
        try:
            server._setup_static()
            for attempt in range(3):
                try:
                    server._start_once(timeout)
                    return server
                except _PortClash:
                    # Another process grabbed one of our ports between the free-port probe and
                    # the server's bind: retry with fresh ports rather than fail a whole worker.
                    server._stop_processes()
                    if attempt == 2:
                        raise
        except BaseException:
            server.stop()
            raise
        raise AssertionError("unreachable")

    def __enter__(self) -> MailServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop both servers (no processes are left behind) and remove a private spool."""
        self._stop_processes()
        if self._spool_is_private:
            shutil.rmtree(self.spool, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / "spool").unlink()
            self._spool_is_private = False

    def _stop_processes(self) -> None:
        # Postfix first: it may be mid-delivery to Dovecot's LMTP.
        _stop_group(self._postfix)
        self._postfix = None
        _stop_group(self._dovecot)
        self._dovecot = None

    @property
    def pids(self) -> list[int]:
        """Process-group ids of the two masters (each server's processes share its group)."""
        return [p.pid for p in (self._dovecot, self._postfix) if p is not None]

    def _choose_spool(self) -> Path:
        # Both unprivileged users that open files by absolute path must reach the spool.
        reachable = all(
            _traversable_by(self.root, pw.pw_uid, set(os.getgrouplist(pw.pw_name, pw.pw_gid)))
            for pw in (pwd.getpwnam(MAIL_USER), pwd.getpwnam("postfix"))
        )
        if reachable and len(str(self.root)) <= MAX_BASE_DIR - 4:
            return self.root
        spool = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX))
        spool.chmod(0o711)  # others may only traverse: the mail uid needs to reach spool/mail
        (spool / "owner.pid").write_text(str(os.getpid()))
        link = self.root / "spool"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(spool)
        self._spool_is_private = True
        return spool

    def _setup_static(self) -> None:
        """Files that do not depend on the ports: TLS, users, directories."""
        files = tls.generate(self.root / "tls")
        self.ca_file = files.ca_file
        self._tls = files
        self.log_dir.mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        run_dir = self.root / "run"
        if len(str(run_dir)) > MAX_BASE_DIR:
            run_dir = self.spool / "run"
        run_dir.mkdir(exist_ok=True)
        self.base_dir = run_dir

        self.mail_dir.mkdir(exist_ok=True)
        self.mail_dir.chmod(0o711)
        for user in self.users:
            home = self.mail_dir / user
            home.mkdir(exist_ok=True)
            os.chown(home, self.mail_uid, self.mail_gid)
            home.chmod(0o700)

        passwd = "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items())
        passwd_file = self.root / "dovecot.passwd"
        passwd_file.write_text(passwd)
        passwd_file.chmod(0o600)

        pf = self.postfix_dir
        pf.mkdir(exist_ok=True)
        postfix_uid = pwd.getpwnam("postfix").pw_uid
        postfix_gid = grp.getgrnam("postfix").gr_gid
        postdrop_gid = grp.getgrnam("postdrop").gr_gid
        queue = pf / "queue"
        queue.mkdir(exist_ok=True)
        # The layout `postfix check`/post-install would create, done by hand because it is much
        # faster and does not need a postfix-files for a non-default instance.
        owned = {
            "active": 0o700,
            "bounce": 0o700,
            "corrupt": 0o700,
            "defer": 0o700,
            "deferred": 0o700,
            "flush": 0o700,
            "hold": 0o700,
            "incoming": 0o700,
            "private": 0o700,
            "saved": 0o700,
            "trace": 0o700,
        }
        for name, mode in owned.items():
            d = queue / name
            d.mkdir(exist_ok=True)
            os.chown(d, postfix_uid, postfix_gid)
            d.chmod(mode)
        for name, mode in {"public": 0o710, "maildrop": 0o730}.items():
            d = queue / name
            d.mkdir(exist_ok=True)
            os.chown(d, postfix_uid, postdrop_gid)
            d.chmod(mode)
        (queue / "pid").mkdir(exist_ok=True)
        # master opens its lock file here as the postfix user (absolute path), so it must be
        # reachable by that uid: spool, not root.
        self.postfix_data_dir = self.spool / "postfix-data"
        self.postfix_data_dir.mkdir(exist_ok=True)
        os.chown(self.postfix_data_dir, postfix_uid, postfix_gid)
        self.postfix_data_dir.chmod(0o700)

    def _start_once(self, timeout: float) -> None:
        (
            self.imap_port,
            self.imaps_port,
            self.pop3_port,
            self.pop3s_port,
            self.lmtp_port,
            self.auth_port,
            self.smtp_port,
            self.submission_port,
            self.submissions_port,
        ) = _free_ports(9)
        self._write_dovecot_conf()
        self._write_postfix_conf()
        for name in ("dovecot.log", "dovecot.stderr", "postfix.log", "postfix.stderr"):
            (self.log_dir / name).write_bytes(b"")
        # Stale pid files from an earlier attempt would make the masters refuse to start.
        with contextlib.suppress(FileNotFoundError):
            (self.base_dir / "master.pid").unlink()

        daemon_dir = _postfix_daemon_dir()
        if daemon_dir is None:
            raise RigError("Postfix master daemon not found (postconf -h daemon_directory)")
        with (self.log_dir / "dovecot.stderr").open("wb") as err:
            self._dovecot = subprocess.Popen(
                [_sbin_which("dovecot") or "dovecot", "-F", "-c", str(self.dovecot_conf)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        with (self.log_dir / "postfix.stderr").open("wb") as err:
            self._postfix = subprocess.Popen(
                [str(daemon_dir / "master"), "-c", str(self.postfix_dir), "-s"],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env={**os.environ, "MAIL_CONFIG": str(self.postfix_dir)},
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        # Plain-text ports must send their greeting (proves the login/smtpd process runs);
        # TLS and LMTP/auth ports only need to accept.
        checks: dict[str, tuple[int, bytes | None]] = {
            "imap": (self.imap_port, b"* OK"),
            "imaps": (self.imaps_port, None),
            "pop3": (self.pop3_port, b"+OK"),
            "pop3s": (self.pop3s_port, None),
            "lmtp": (self.lmtp_port, b"220"),
            "auth": (self.auth_port, None),
            "smtp": (self.smtp_port, b"220"),
            "submission": (self.submission_port, b"220"),
            "submissions": (self.submissions_port, None),
        }
        pending = dict(checks)
        deadline = time.monotonic() + timeout
        while pending:
            for name, (port, greeting) in list(pending.items()):
                if self._probe(port, greeting):
                    del pending[name]
            if not pending:
                return
            for label, proc in (("dovecot", self._dovecot), ("postfix", self._postfix)):
                if proc is not None and proc.poll() is not None:
                    self._fail(f"{label} exited with status {proc.returncode} during start-up")
            if time.monotonic() > deadline:
                self._fail(f"not listening after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.05)

    @staticmethod
    def _probe(port: int, greeting: bytes | None) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                if greeting is None:
                    return True
                s.settimeout(2)
                data = s.recv(512)
                if data.startswith(b"220"):
                    # Be polite to smtpd/lmtp so their logs do not fill with "lost connection".
                    with contextlib.suppress(OSError):
                        s.sendall(b"QUIT\r\n")
                return data.startswith(greeting)
        except OSError:
            return False

    def _fail(self, reason: str) -> NoReturn:
        message = f"mail server rig failed to start: {reason}\n{self.logs()}"
        if self._postfix is not None and self._postfix.poll() is not None:
            # Postfix's master logs early fatal errors only to syslog, which containers often
            # lack; `postfix check` repeats most configuration problems on stderr.
            message += "\n----- postfix check -----\n" + self._postfix_check()
        if self._ports_taken():
            raise _PortClash(message)
        raise RigError(message)

    def _ports_taken(self) -> list[int]:
        """Our ports that some other process holds (a race with our free-port probe)."""
        own = {
            p
            for proc, ports in self._ports_by_server()
            if proc is not None and proc.poll() is None
            for p in ports
        }
        taken = []
        for _proc, ports in self._ports_by_server():
            for port in ports:
                if port in own:
                    continue
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    try:
                        s.bind((HOST, port))
                    except OSError:
                        taken.append(port)
        return taken

    def _ports_by_server(self) -> list[tuple[subprocess.Popen[bytes] | None, list[int]]]:
        dovecot = [self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port]
        dovecot += [self.lmtp_port, self.auth_port]
        postfix = [self.smtp_port, self.submission_port, self.submissions_port]
        return [(self._dovecot, dovecot), (self._postfix, postfix)]

    def _postfix_check(self) -> str:
        postfix = _sbin_which("postfix")
        if postfix is None:
            return "(postfix command not found)"
        # Postfix commands write to stderr only when it is a terminal, hence the pty.
        reader, writer = pty.openpty()
        try:
            proc = subprocess.run(
                [postfix, "-c", str(self.postfix_dir), "check"],
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=writer,
                timeout=60,
                check=False,
            )
        finally:
            os.close(writer)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the pty is drained
            while chunk := os.read(reader, 65536):
                chunks.append(chunk)
        os.close(reader)
        text = b"".join(chunks).decode(errors="replace").strip()
        return text or f"(no output, status {proc.returncode})"

    def logs(self) -> str:
        """The tail of every server log, for error messages."""
        parts = []
        for name in ("dovecot.stderr", "dovecot.log", "postfix.stderr", "postfix.log"):
            parts.append(f"----- {self.log_dir / name} -----\n{_tail(self.log_dir / name)}")
        return "\n".join(parts)

    # -- configuration --------------------------------------------------------------------

    def _capability_line(self) -> str:
        if self.imap_capability is None:
            return ""
        return f"\n  imap_capability = {self.imap_capability}"

    def _write_dovecot_conf(self) -> None:
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}"
            for name, flag in self.special_use.items()
        )
        conf = f"""\
# Generated by tests/servers/mail.py: a private Dovecot for tests. Do not edit.
instance_name = rig-{self.imap_port}
base_dir = {self.base_dir}
state_dir = {self.root / "state"}
log_path = {self.log_dir / "dovecot.log"}
protocols = imap pop3 lmtp
listen = {HOST}
verbose_proctitle = yes
shutdown_clients = yes
default_internal_user = dovecot
default_login_user = dovenull
# Mail belongs to the unprivileged {MAIL_USER} user (Dovecot never accesses mail as root).
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}

ssl = yes
ssl_cert = <{self._tls.chain_file}
ssl_key = <{self._tls.key_file}
ssl_min_protocol = TLSv1.2
# Tests connect over loopback, in clear as well as with TLS.
disable_plaintext_auth = no
auth_mechanisms = plain login
# Logins "alice" and "alice@example.test" are the same user; LMTP delivers to the address.
auth_username_format = %Ln
# Wrong-password tests should not slow the suite down.
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.root / "dovecot.passwd"}
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_dir}/%n
}}

mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota
mail_fsync = never
# Only this Dovecot writes these Maildirs (`seed` tells it with force-resync), so it need not
# stat and rescan cur/ each time a folder is opened: without this, opening a 100k folder
# after another client's flag change rereads 100,000 directory entries (~0.4 s).
maildir_very_dirty_syncs = yes
# Mail reaches INBOX through this Dovecot (LMTP, IMAP APPEND, the seeder's force-resync), so its
# mailbox list index can answer STATUS for INBOX too (by default only the other folders'),
# without opening the folder: then STATUS costs the same for 100k messages as for 10.
mailbox_list_index_include_inbox = yes
namespace inbox {{
  inbox = yes
  separator = {self.separator}
{mailboxes}
}}
plugin {{
  quota = count:User quota
  quota_rule = *:storage=1G
  quota_vsizes = yes
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota{self._capability_line()}
  # A webmail under test opens several connections per user from the same IP.
  mail_max_userip_connections = 1000
}}
protocol pop3 {{
  mail_max_userip_connections = 100
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {HOST}
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    address = {HOST}
    port = {self.pop3s_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
service auth {{
  # The passwd-file sits in a root-only temp dir; the auth process must be able to read it.
  user = root
  # Postfix SASL over TCP: no socket file permissions to get right across instances.
  inet_listener auth-postfix {{
    address = {HOST}
    port = {self.auth_port}
  }}
}}
service anvil {{
  # No auth penalty: after a wrong-password test every login from 127.0.0.1 would be delayed
  # by up to 15 s.  Without this socket the auth process disables the penalty.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        self.dovecot_conf.write_text(conf)

    def _write_postfix_conf(self) -> None:
        pf = self.postfix_dir
        users = ", ".join(f"{u}@{DOMAIN}={u}" for u in self.users)
        main = f"""\
# Generated by tests/servers/mail.py: a private Postfix for tests. Do not edit.
compatibility_level = 3.6
queue_directory = {pf / "queue"}
data_directory = {self.postfix_data_dir}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.log_dir / "postfix.log"}
maillog_file_prefixes = {self.log_dir}
syslog_name = postfix-rig

myhostname = {HOSTNAME}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
enable_long_queue_ids = yes
biff = no
append_dot_mydomain = no

# No network: never look anything up in DNS.
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no

alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = inline:{{ {users} }}
virtual_transport = lmtp:inet:{HOST}:{self.lmtp_port}
# Any other domain: accept and drop, like a relay that would deliver it somewhere else.
default_transport = discard:not delivered by the test rig
relay_transport = discard:not delivered by the test rig

smtpd_tls_chain_files = {self._tls.key_file}, {self._tls.chain_file}
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:{HOST}:{self.auth_port}
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
message_size_limit = 52428800
"""
        sub_opts = """\
  -o syslog_name=postfix-rig/{name}
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
"""
        master = f"""\
# Generated by tests/servers/mail.py.  chroot is off everywhere: the queue is not a jail.
# service type  private unpriv  chroot  wakeup  maxproc command
{HOST}:{self.smtp_port} inet n - n - - smtpd
{HOST}:{self.submission_port} inet n - n - - smtpd
{sub_opts.format(name="submission")}\
{HOST}:{self.submissions_port} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
{sub_opts.format(name="submissions")}\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
        past = time.time() - 60
        for name, text in (("main.cf", main), ("master.cf", master)):
            (pf / name).write_text(text)
            # Postfix re-reads a config file until its mtime is in the past (it guards against
            # reading a half-written file), which costs ~2 s on a freshly written main.cf.
            os.utime(pf / name, (past, past))

    # -- helpers acting as another client -------------------------------------------------

    def address(self, user: str) -> str:
        return f"{user}@{self.domain}"

    @contextlib.contextmanager
    def imap(self, user: str, *, timeout: float = 30.0) -> Iterator[imapclient.IMAPClient]:
        """An IMAPClient logged in as ``user`` over the plain IMAP port."""
        client = imapclient.IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        try:
            client.login(user, self.users[user])
            yield client
        finally:
            with contextlib.suppress(imapclient.exceptions.IMAPClientError, OSError):
                client.logout()

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this instance; returns stdout."""
        cmd = [_sbin_which("doveadm") or "doveadm", "-c", str(self.dovecot_conf), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if out.returncode != 0:
            raise RigError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
        return out.stdout

    def deliver(
        self,
        sender: str,
        recipients: Sequence[str],
        message: bytes | EmailMessage,
        *,
        timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        """Send through the MX-style SMTP port and wait until every local recipient has it."""
        if isinstance(message, EmailMessage):
            data = message.as_bytes(policy=email.policy.SMTP)
        else:
            # smtplib sends bytes as they are; SMTP wants CRLF line ends.
            data = re.sub(rb"\r?\n", b"\r\n", message)
        local = list(dict.fromkeys(u for u in map(self._local_user, recipients) if u))
        with contextlib.ExitStack() as stack:
            watch: dict[str, tuple[imapclient.IMAPClient, int]] = {}
            for user in local:
                client = stack.enter_context(self.imap(user))
                info = client.select_folder("INBOX", readonly=True)
                watch[user] = (client, int(info[b"UIDNEXT"]))
            queue_id = self._smtp_send(sender, recipients, data)
            deadline = time.monotonic() + timeout
            while watch:
                for user, (client, uidnext) in list(watch.items()):
                    client.noop()
                    # "UID n:*" also matches the last message when n is past the end, hence
                    # the Received check: Postfix writes its queue id into that header.
                    if client.search(["UID", f"{uidnext}:*", "HEADER", "Received", queue_id]):
                        del watch[user]
                if not watch:
                    break
                if time.monotonic() > deadline:
                    raise RigError(
                        f"queue id {queue_id} not delivered to {sorted(watch)} "
                        f"within {timeout}s\n{self.logs()}"
                    )
                time.sleep(0.02)

    def _local_user(self, address: str) -> str | None:
        local, _, domain = email.utils.parseaddr(address)[1].rpartition("@")
        if domain.lower() == self.domain and local.lower() in self.users:
            return local.lower()
        return None

    def _smtp_send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        with smtplib.SMTP(self.host, self.smtp_port, local_hostname="client.test", timeout=30) as s:
            s.ehlo()
            code, resp = s.mail(sender)
            if code != 250:
                raise RigError(f"MAIL FROM {sender} refused: {code} {resp!r}")
            refused = {}
            for rcpt in recipients:
                code, resp = s.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, resp)
            if refused:
                raise RigError(f"recipients refused: {refused}")
            code, resp = s.data(data)
            if code != 250:
                raise RigError(f"DATA refused: {code} {resp!r}")
        match = re.search(rb"queued as (\S+)", resp)
        if match is None:
            raise RigError(f"no queue id in {resp!r}")
        return match.group(1).decode()

    def wait_for(
        self,
        user: str,
        criteria: Sequence[str | bytes],
        *,
        folder: str = "INBOX",
        timeout: float = DELIVERY_TIMEOUT,
    ) -> list[int]:
        """Poll ``folder`` until an IMAP SEARCH matches (e.g. after sending via submission)."""
        deadline = time.monotonic() + timeout
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            while True:
                found = client.search(list(criteria))
                if found:
                    return sorted(found)
                if time.monotonic() > deadline:
                    raise RigError(f"nothing matched {criteria} in {user}/{folder}\n{self.logs()}")
                time.sleep(0.05)
                client.noop()

    def append(
        self,
        user: str,
        folder: str,
        message: bytes | EmailMessage,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND as ``user``; returns the new UID (from APPENDUID)."""
        if isinstance(message, EmailMessage):
            message = message.as_bytes(policy=email.policy.SMTP)
        with self.imap(user) as client:
            resp = client.append(folder, message, flags=tuple(flags), msg_time=internaldate)
        match = re.search(rb"APPENDUID \d+ (\d+)", resp)
        if match is None:
            raise RigError(f"no APPENDUID in {resp!r}")
        return int(match.group(1))

    def flag(
        self, user: str, folder: str, uid: int, flags: str | Iterable[str], *, add: bool = True
    ) -> None:
        """Add (or with ``add=False`` remove) system flags or keywords, as another client."""
        flag_list = [flags] if isinstance(flags, str) else list(flags)
        with self.imap(user) as client:
            client.select_folder(folder)
            if add:
                client.add_flags([uid], flag_list, silent=True)
            else:
                client.remove_flags([uid], flag_list, silent=True)

    def flags(self, user: str, folder: str, uid: int) -> set[str]:
        """Stored flags and keywords of one message (without the per-session \\Recent)."""
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            got = client.get_flags([uid])
        if uid not in got:
            raise RigError(f"{user}/{folder} has no UID {uid}")
        flags = {f.decode() if isinstance(f, bytes) else f for f in got[uid]}
        return flags - {"\\Recent"}

    def uids(self, user: str, folder: str) -> list[int]:
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def expunge_externally(self, user: str, folder: str, uids: Iterable[int]) -> None:
        """Delete messages as another client would (\\Deleted + UID EXPUNGE)."""
        uid_list = list(uids)
        if not uid_list:
            return
        with self.imap(user) as client:
            client.select_folder(folder)
            client.add_flags(uid_list, [imapclient.DELETED], silent=True)
            client.uid_expunge(uid_list)

    def create_folder(self, user: str, folder: str) -> None:
        """Create ``folder`` if missing (and make its Maildir exist on disk)."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.select_folder(folder, readonly=True)

    def clear(self, user: str) -> None:
        """Empty every folder of ``user`` and delete non-special folders."""
        self.doveadm("expunge", "-u", user, "mailbox", "*", "all")
        with self.imap(user) as client:
            for _flags, _sep, name in sorted(client.list_folders(), reverse=True):
                if name.upper() == "INBOX" or name in self.special_use:
                    continue
                try:
                    client.delete_folder(name)
                except imapclient.exceptions.IMAPClientError as exc:
                    # A parent that exists only through its children (Maildir++ with "Projekte/x"
                    # but no "Projekte") is gone once the children are.
                    if "NONEXISTENT" not in str(exc):
                        raise

    # -- bulk seeding ---------------------------------------------------------------------

    def maildir(self, user: str, folder: str) -> Path:
        """On-disk Maildir++ directory of ``folder`` (mUTF-7 names, '.' as hierarchy)."""
        base = self.mail_dir / user / "Maildir"
        if folder.upper() == "INBOX":
            return base
        encoded = imap_utf7.encode(folder).decode("ascii")
        return base / ("." + encoded.replace(self.separator, "."))

    def seed(self, user: str, folder: str, n: int, *, start: int = 0) -> None:
        """Add ``n`` realistic messages (indices start..start+n-1) to ``folder`` quickly.

        Files are written straight into the Maildir's cur/ (through tmp/, as a delivery agent
        would, so a concurrent IMAP session never sees half a file) and then Dovecot is told to
        rescan.  Message i is always the same bytes for the same user/folder; dates grow with i,
        so UIDs come out ascending by date and ``start`` continues an earlier seed.
        """
        if n <= 0:
            return
        self.create_folder(user, folder)
        target = self.maildir(user, folder)
        tmp_dir, cur_dir = target / "tmp", target / "cur"
        factory = MessageFactory(self.address(user), folder)
        self._seed_calls += 1
        tag = f"P{os.getpid()}R{self._seed_calls}"
        uid, gid = self.mail_uid, self.mail_gid
        for i in range(start, start + n):
            when, data, flags = factory.message(i)
            secs = int(when)
            vsize = len(data) + data.count(b"\n")  # Dovecot's virtual size counts CRLF
            # Dovecot gives new files UIDs in filename order (seconds, then M<usecs>), so the
            # date drives the order; the index as usecs breaks ties within one second.
            base = f"{secs}.M{i % 1_000_000:06d}{tag}Q{i}.{HOSTNAME},S={len(data)},W={vsize}"
            name = f"{base}:2,{flags}"
            tmp_path = tmp_dir / base
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fchown(fd, uid, gid)
                os.utime(fd, (when, when))  # INTERNALDATE of a Maildir message is its mtime
            finally:
                os.close(fd)
            os.rename(tmp_path, cur_dir / name)
        self.doveadm("force-resync", "-u", user, folder)


# --------------------------------------------------------------------------------------------
# Realistic message generation (deterministic, fast: plain string templates, no email package
# on the hot path)

_FIRST_DATE = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
_LAST_DATE = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
_DATE_TAU = 20_000.0  # messages: 10k span ~2.4 years, 100k nearly the full six

_PEOPLE: list[tuple[str, str]] = [
    ("Bob Builder", "bob.builder@example.org"),
    ("Jürgen Müller", "juergen.mueller@example.de"),
    ("Zoë Dupont", "zoe.dupont@example.fr"),
    ("Søren Kierkegaard", "soren@example.dk"),
    ("Łukasz Nowak", "lukasz.nowak@example.pl"),
    ("Renée O'Connor", "renee@example.ie"),
    ("张伟", "zhang.wei@example.cn"),
    ("Αλέξανδρος Παππάς", "alex.pappas@example.gr"),
    ("Иван Петров", "ivan.petrov@example.ru"),
    ("Priya Sharma", "priya@example.in"),
    ("Mary-Jane Watson", "mj@example.com"),
    ("Tom Smith", "tom.smith@example.com"),
    ("Hiroshi Tanaka", "tanaka@example.jp"),
    ("Fatima Zahra", "fatima@example.ma"),
    ("GitHub", "noreply@github.example"),
    ("Newsletter Team", "news@shop.example"),
    ("IT Support", "helpdesk@example.net"),
    ("", "billing@invoices.example"),
    ("María José García", "mj.garcia@example.es"),
    ("Olusegun Adeyemi", "segun@example.ng"),
    ("Anna Lindqvist", "anna.l@example.se"),
    ("Dr. Émile Zola", "emile@example.fr"),
    ("The Example Bank", "alerts@bank.example"),
    ("Kim Nguyễn", "kim.nguyen@example.vn"),
]
_SUBJECTS = [
    "Quarterly report",
    "Lunch on Friday?",
    "Your invoice is ready",
    "Meeting notes",
    "Project kickoff",
    "Weekend plans",
    "Security alert: new sign-in",
    "Pull request review requested",
    "Re-scheduling our call",
    "Holiday photos",
    "Contract draft v3",
    "Server maintenance window",
    "Happy birthday!",
    "Question about the budget",
    "Travel itinerary",
    "Your order has shipped",
    "Minutes from the board meeting",
    "Feedback on the proposal",
    "Team offsite agenda",
    "Password reset",
    "Café meeting – Thursday",
    "Grüße aus München",
    "Rechnung Nr. 2024-117",
    "Réunion de l'équipe",
    "会议记录",
    "Привет! Как дела?",
    "🎉 Party this weekend",
    "Ελληνικά νέα",
    "Cuộc họp tuần tới",
    "Smörgåsbord recipes",
]
_WORD_TEXT = (
    "the of and to in is that it for on with as was at by this be from or have an are not "
    "but can we you all your will one about more which when there their time if out so up "
    "what some would make like into than them these other could see two then now look only "
    "come its over think also back after use how our work first well way even new want "
    "because any give day most us project meeting report budget review draft server invoice "
    "schedule deadline update release team customer feedback proposal contract travel "
    "photos quarter numbers figures attached please thanks regards tomorrow yesterday next "
    "week month office coffee lunch call agenda notes plan launch issue ticket support "
    "café naïve façade über straße déjà señor smörgåsbord"
)
_WORDS = _WORD_TEXT.split()
_ZONES = [
    timezone(timedelta(hours=h, minutes=m))
    for h, m in ((0, 0), (1, 0), (2, 0), (-5, 0), (-8, 0), (9, 0), (5, 30))
]
_ATTACHMENTS = [
    ("application/pdf", "report.pdf"),
    ("image/png", "photo.png"),
    ("text/csv", "figures.csv"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Vertrag.docx"),
    ("application/pdf", "Präsentation.pdf"),
]
_ATTACHMENT_SIZES = [1_500, 6_000, 20_000, 45_000]


def _build_sentences() -> list[str]:
    rng = random.Random(20240601)
    sentences = []
    for _ in range(500):
        words = rng.choices(_WORDS, k=rng.randint(6, 16))
        sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"]))
    return sentences


_SENTENCES = _build_sentences()


@cache
def _encode_header(text: str) -> str:
    if text.isascii():
        return text
    return Header(text, "utf-8").encode()


@cache
def _encode_addr(name: str, addr: str) -> str:
    return email.utils.formataddr((name, addr), charset="utf-8")


@cache
def _attachment_payload(size: int) -> str:
    blob = random.Random(size).randbytes(size)
    return base64.encodebytes(blob).decode("ascii")  # 76-character lines, trailing newline


def message_date(i: int) -> float:
    """Seconds since the epoch of seeded message ``i``: increasing, never past 2025-01-01."""
    span = _LAST_DATE - _FIRST_DATE
    # Jitter within the message's own slot keeps the sequence strictly increasing.
    u = (i * 2654435761 % 4294967296) / 4294967296 * 0.9  # cheap deterministic hash
    return _LAST_DATE - span * math.exp(-(i + u) / _DATE_TAU)


class MessageFactory:
    """Deterministic realistic messages for one mailbox."""

    def __init__(self, owner: str, folder: str) -> None:
        self.owner = owner
        self.folder = folder
        self.outgoing = folder in ("Sent", "Drafts")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", imap_utf7.encode(folder).decode()).strip("-")
        self._id_suffix = f"{owner.split('@')[0]}.{slug.lower() or 'x'}@seed.{DOMAIN}"
        self._meta: dict[int, tuple[str, list[str]]] = {}

    def message_id(self, i: int) -> str:
        return f"<{i}.{self._id_suffix}>"

    def _rng(self, i: int) -> random.Random:
        return random.Random(i * 1_000_003 + 17)

    def _thread(self, i: int) -> tuple[str, list[str]]:
        """(root subject, references) of message i; replies point to a recent earlier message."""
        chain = []
        j = i
        while j not in self._meta:
            rng = self._rng(j)
            if j > 0 and rng.random() < 0.25:
                chain.append(j)
                j = max(0, j - rng.randint(1, 30))
            else:
                self._meta[j] = (rng.choice(_SUBJECTS), [])
                break
        for k in reversed(chain):
            rng = self._rng(k)
            rng.random()
            parent = max(0, k - rng.randint(1, 30))
            subject, refs = self._meta[parent]
            self._meta[k] = (subject, ([*refs, self.message_id(parent)])[-10:])
        return self._meta[i]

    def message(self, i: int) -> tuple[float, bytes, str]:
        """(date as epoch seconds, RFC 5322 bytes with LF line ends, Maildir flag letters)."""
        subject, refs = self._thread(i)
        rng = random.Random(i * 7_919 + 3)
        when = message_date(i)
        zone = rng.choice(_ZONES)
        date = email.utils.format_datetime(datetime.fromtimestamp(int(when), zone))
        person = rng.choice(_PEOPLE)
        other = _encode_addr(*person)
        me = self.owner
        if self.outgoing:
            from_, to = me, other
        else:
            from_, to = other, me
        if not refs and rng.random() < 0.15:
            subject = f"{subject} #{rng.randint(100, 9999)}"
        encoded_subject = _encode_header(subject)
        if refs:  # MUAs keep the prefix outside the encoded word
            encoded_subject = "Re: " + encoded_subject
        headers = [
            f"Date: {date}",
            f"From: {from_}",
            f"To: {to}",
        ]
        if rng.random() < 0.2:
            cc = rng.sample(_PEOPLE, 2)
            headers.append("Cc: " + ", ".join(_encode_addr(n, a) for n, a in cc))
        headers.append(f"Subject: {encoded_subject}")
        headers.append(f"Message-ID: {self.message_id(i)}")
        if refs:
            headers.append(f"In-Reply-To: {refs[-1]}")
            headers.append("References: " + "\n ".join(refs))
        if rng.random() < 0.3:
            headers.append(f"X-Mailer: {rng.choice(['Thunderbird 115.3', 'Apple Mail', 'K-9'])}")
        headers.append("MIME-Version: 1.0")

        paragraphs = []
        for _ in range(rng.randint(1, 6)):
            paragraphs.append("\n".join(rng.choices(_SENTENCES, k=rng.randint(1, 5))))
        if rng.random() < 0.02:  # the occasional long newsletter
            paragraphs *= 8
        name = person[0].split(" ")[0] or "there"
        text = f"Hi {name},\n\n" + "\n\n".join(paragraphs) + "\n\n-- \nSent from the seed\n"

        kind = rng.random()
        b1, b2 = f"=_rig_{i}_alt", f"=_rig_{i}_mix"
        if kind < 0.2:
            headers.append('Content-Type: text/plain; charset="utf-8"')
            headers.append("Content-Transfer-Encoding: 8bit")
            body = text
        else:
            html = "<html><body>\n" + "".join(f"<p>{p}</p>\n" for p in paragraphs)
            html += "</body></html>\n"
            alternative = (
                f"--{b1}\n"
                'Content-Type: text/plain; charset="utf-8"\n'
                "Content-Transfer-Encoding: 8bit\n\n"
                f"{text}\n"
                f"--{b1}\n"
                'Content-Type: text/html; charset="utf-8"\n'
                "Content-Transfer-Encoding: 8bit\n\n"
                f"{html}\n"
                f"--{b1}--\n"
            )
            if kind < 0.93:
                headers.append(f'Content-Type: multipart/alternative; boundary="{b1}"')
                body = "This is a multi-part message in MIME format.\n\n" + alternative
            else:
                ctype, filename = rng.choice(_ATTACHMENTS)
                size = rng.choice(_ATTACHMENT_SIZES)
                if rng.random() < 0.03:
                    size = 350_000
                if filename.isascii():
                    disposition = f'attachment; filename="{filename}"'
                else:
                    quoted = "".join(
                        c
                        if c.isascii() and c.isalnum() or c in ".-_"
                        else "".join(f"%{b:02X}" for b in c.encode())
                        for c in filename
                    )
                    disposition = f"attachment; filename*=utf-8''{quoted}"
                headers.append(f'Content-Type: multipart/mixed; boundary="{b2}"')
                body = (
                    "This is a multi-part message in MIME format.\n\n"
                    f"--{b2}\n"
                    f'Content-Type: multipart/alternative; boundary="{b1}"\n\n'
                    f"{alternative}\n"
                    f"--{b2}\n"
                    f"Content-Type: {ctype}\n"
                    f"Content-Disposition: {disposition}\n"
                    "Content-Transfer-Encoding: base64\n\n"
                    f"{_attachment_payload(size)}"
                    f"--{b2}--\n"
                )
        raw = "\n".join(headers) + "\n\n" + body

        flags = set()
        if self.outgoing or rng.random() < 0.8:
            flags.add("S")
        if rng.random() < 0.05:
            flags.add("F")
        if not self.outgoing and rng.random() < 0.1:
            flags.add("R")
        if self.folder == "Drafts":
            flags.add("D")
        return when, raw.encode("utf-8"), "".join(sorted(flags))


# --------------------------------------------------------------------------------------------
# pytest fixture


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_rig() -> None:
    """Skip (or in CI fail) the current test/fixture if the rig cannot run here."""
    problem = missing_requirements()
    if problem is None:
        return
    if _in_ci():
        pytest.fail(f"mail server rig unavailable in CI: {problem}", pytrace=False)
    pytest.skip(f"mail server rig unavailable: {problem}. Run `make test` as root to install it.")


@pytest.fixture(scope="session")
def mailserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    """A private Dovecot + Postfix for this test session (one per xdist worker)."""
    require_rig()
    with MailServer.start(tmp_path_factory.mktemp("mail")) as server:
        yield server


# What Dovecot 2.3 offers after login, less CONDSTORE, QRESYNC and ENABLE: a plain server.
PLAIN_CAPABILITY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE "
    "LITERAL+ NOTIFY SPECIAL-USE QUOTA"
)


@pytest.fixture(scope="session")
def plain_mailserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    """A second Dovecot that advertises neither CONDSTORE nor QRESYNC."""
    require_rig()
    with MailServer.start(
        tmp_path_factory.mktemp("plainmail"), imap_capability=PLAIN_CAPABILITY
    ) as server:
        yield server


__all__ = [
    "DOMAIN",
    "HOST",
    "MailServer",
    "MessageFactory",
    "RigError",
    "USERS",
    "mailserver",
    "message_date",
    "plain_mailserver",
    "missing_requirements",
    "require_rig",
]
