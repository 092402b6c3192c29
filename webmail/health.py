"""Liveness of the parts a request depends on, for /healthz."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError

logger = logging.getLogger(__name__)


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("healthz: database check failed", exc_info=True)
        return False
    return True


def check_broker() -> bool:
    if settings.REDIS_URL:
        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
            )
            return bool(client.ping())
        except (redis.RedisError, OSError):
            logger.warning("healthz: broker check failed", exc_info=True)
            return False
    # Filesystem broker: the queue folder must exist and take new messages.
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
