"""Settings for the test process: the production settings, pointed at test services.

Leg 1 (default): Postgres + Redis (tests/servers/services.py finds or starts them).
Leg 2 (WEBMAIL_TEST_EMBEDDED=1): the embedded default, SQLite and the filesystem broker.
Everything is set in os.environ too, so live_app's subprocesses see the same services.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from tests.servers import services

EMBEDDED_LEG = os.environ.get("WEBMAIL_TEST_EMBEDDED") == "1"
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_worker_index = int(_worker[2:]) if _worker[2:].isdigit() else 0

_data = Path(tempfile.mkdtemp(prefix=f"webmail-test-{_worker}-"))
atexit.register(shutil.rmtree, _data, ignore_errors=True)
os.environ["WEBMAIL_DATA_DIR"] = str(_data)
os.environ["WEBMAIL_SECRET_KEY"] = "test-secret-key-not-for-production-0123456789abcdef"
os.environ["WEBMAIL_ENCRYPTION_KEY"] = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyEhISE="
os.environ.pop("WEBMAIL_ALLOWED_MAIL_HOSTS", None)
if EMBEDDED_LEG:
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
else:
    os.environ["DATABASE_URL"] = services.postgres_url()
    # One Redis database per xdist worker, so workers never take each other's tasks.
    # WEBMAIL_TEST_REDIS_DB_BASE separates whole runs that share one Redis server.
    _redis_base = int(os.environ.get("WEBMAIL_TEST_REDIS_DB_BASE", "1"))
    os.environ["REDIS_URL"] = services.with_redis_db(
        services.redis_url(), _redis_base + _worker_index
    )

from webmail.settings import *  # noqa: E402, F403
from webmail.settings import DATABASES  # noqa: E402

if EMBEDDED_LEG:
    # A file, not :memory:, so live_app's processes open the same database as the test.
    DATABASES["default"]["TEST"] = {"NAME": str(_data / "webmail.sqlite3")}
