"""Postgres and Redis for the test suite: the configured one, the local one, or a throwaway.

Order: TEST_DATABASE_URL / REDIS_URL; else the server on 127.0.0.1 at the standard port;
else a throwaway server in a temp folder, stopped when the process exits.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_port(port: int, what: str, log: Path | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers("127.0.0.1", port):
            return
        time.sleep(0.1)
    detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start on 127.0.0.1:{port}\n{detail}")


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        return url
    if _answers("127.0.0.1", 5432):
        return "postgres://postgres@127.0.0.1:5432/webmail"
    return _throwaway_postgres()


def _throwaway_postgres() -> str:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = shutil.which("initdb") or (binaries[-1] if binaries else None)
    if not initdb:
        raise RuntimeError("no Postgres: set TEST_DATABASE_URL or install postgresql")
    bindir = Path(initdb).parent
    folder = Path(tempfile.mkdtemp(prefix="webmail-pg-"))
    port = free_port()
    # initdb refuses to run as root: run the server as the postgres user.
    run_as: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "log"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return f"postgres://postgres@127.0.0.1:{port}/webmail"


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    return _throwaway_redis()


def _throwaway_redis() -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("no Redis: set REDIS_URL or install redis-server")
    folder = Path(tempfile.mkdtemp(prefix="webmail-redis-"))
    port = free_port()
    log = folder / "log"
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    _wait_port(port, "redis-server", log)
    return f"redis://127.0.0.1:{port}/0"


def with_redis_db(url: str, offset: int) -> str:
    """The same server, the URL's database number plus `offset` (one per xdist worker, so
    workers never take each other's tasks; another base number separates whole runs)."""
    parts = urlsplit(url)
    base = parts.path.strip("/")
    db = (int(base) if base.isdigit() else 0) + offset
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))
