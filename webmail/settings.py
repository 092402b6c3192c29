"""Django settings: read from the environment, with an embedded default that needs no servers.

With nothing set, `make run` gets a SQLite file and a filesystem Celery broker in
WEBMAIL_DATA_DIR; DATABASE_URL and REDIS_URL switch to Postgres and Redis independently.
"""

from __future__ import annotations

from pathlib import Path

import environ

from webmail import config

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DATA_DIR = config.data_dir(env)
EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")
EMBEDDED_BROKER = not env.str("REDIS_URL", default="")

SECRET_KEY = config.secret(env, "WEBMAIL_SECRET_KEY", DATA_DIR, config.new_secret_key)
ENCRYPTION_KEYS = config.encryption_keys(env, DATA_DIR)

DEBUG = config.env_bool(env, "WEBMAIL_DEBUG", default=False)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *config.env_list(env, "WEBMAIL_ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = config.env_list(env, "WEBMAIL_CSRF_TRUSTED_ORIGINS")

# Operator's list of otherwise-refused upstream hosts (loopback/private names or CIDRs).
ALLOWED_MAIL_HOSTS = config.env_list(env, "WEBMAIL_ALLOWED_MAIL_HOSTS")
# The same, for the remote-image proxy (webmail/views/proxy.py); default: public addresses only.
PROXY_ALLOWED_HOSTS = config.env_list(env, "WEBMAIL_PROXY_ALLOWED_HOSTS")
CA_FILE = env.str("WEBMAIL_CA_FILE", default="") or None

INSTALLED_APPS = [
    "accounts",
    "webmail",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "webmail.middleware.UserTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webmail.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "webmail.urls"
ASGI_APPLICATION = "webmail.asgi.application"
WSGI_APPLICATION = "webmail.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": config.database(env, DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "mailbox"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttle (accounts/throttle.py; the policy is in its docstring and the README).
LOGIN_FREE_FAILURES_PER_PAIR = 5  # per (username, address) before the backoff starts
LOGIN_MAX_BACKOFF_MINUTES = 60
LOGIN_PAIR_MEMORY = 24 * 3600  # seconds a (username, address) failure counts
LOGIN_FAILURES_PER_IP = 20
LOGIN_FAILURES_PER_USERNAME = 10  # from all addresses: slow mode, never a lock
LOGIN_MAX_DELAY_SECONDS = 8.0
LOGIN_THROTTLE_WINDOW_SECONDS = 15 * 60
# Take the client address from X-Forwarded-For only behind proxies that set it; the client is
# the entry the outermost of WEBMAIL_TRUSTED_PROXY_HOPS proxies appended.
WEBMAIL_TRUST_X_FORWARDED_FOR = config.env_bool(env, "WEBMAIL_TRUST_X_FORWARDED_FOR", default=False)
WEBMAIL_TRUSTED_PROXY_HOPS = config.env_int("WEBMAIL_TRUSTED_PROXY_HOPS", default=1, minimum=1)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fa", "فارسی")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("WEBMAIL_STATIC_ROOT", default="") or DATA_DIR / "static")
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # `make run` serves static files without collectstatic

# Cookies and transport security. Secure cookies/HSTS turn on behind HTTPS (WEBMAIL_HTTPS).
HTTPS = config.env_bool(env, "WEBMAIL_HTTPS", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = 14 * 24 * 3600
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Celery: JSON only, no result backend (nobody reads results; they would pile up).
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = config.broker_transport_options(
    DATA_DIR, embedded=EMBEDDED_BROKER
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "prune-events": {"task": "webmail.tasks.prune_events", "schedule": 3600.0},
    "prune-login-failures": {"task": "accounts.tasks.prune_login_failures", "schedule": 3600.0},
}

# Event bus (webmail/events.py): Redis pub/sub wakes listeners when REDIS_URL is set,
# otherwise listeners poll the events table this often.
EVENTS_POLL_INTERVAL = 0.25
EVENTS_RETENTION_SECONDS = 24 * 3600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("WEBMAIL_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
CELERY_BEAT_SCHEDULE["sync-all-accounts"] = {
    "task": "webmail.tasks.sync_all_accounts",
    "schedule": float(env.int("WEBMAIL_SYNC_INTERVAL", default=900)),
}
CELERY_BEAT_SCHEDULE["evict-bodies"] = {"task": "webmail.tasks.evict_bodies", "schedule": 3600.0}
# Raw message bodies cached in the database (IMAP only: the server keeps the original).
BODY_CACHE_BYTES = env.int("WEBMAIL_BODY_CACHE_MB", default=1024) * 1024 * 1024

# What one user can cost everyone (accounts/limits.py; an organisation may lower the first three).
MAX_ACCOUNTS_PER_USER = config.env_int("WEBMAIL_MAX_ACCOUNTS_PER_USER", default=10, minimum=1)
MAX_EVENT_STREAMS_PER_USER = config.env_int(
    "WEBMAIL_MAX_EVENT_STREAMS_PER_USER", default=5, minimum=1
)
MAX_SERVER_SEARCHES_PER_USER = config.env_int(
    "WEBMAIL_MAX_SERVER_SEARCHES_PER_USER", default=2, minimum=1
)
# Worker slots one user's syncs and body fetches may hold at once; the rest wait their turn.
MAX_WORKER_SLOTS_PER_USER = config.env_int(
    "WEBMAIL_MAX_WORKER_SLOTS_PER_USER", default=2, minimum=1
)
# PDF preview renderers one user may run at once (webmail/previews.py).
MAX_RENDERS_PER_USER = config.env_int("WEBMAIL_MAX_RENDERS_PER_USER", default=1, minimum=1)
# Largest message fetched and cached whole; bigger ones list normally and download in chunks.
MAX_MESSAGE_BYTES = (
    config.env_int("WEBMAIL_MAX_MESSAGE_MB", default=50, minimum=1, maximum=2048) * 1024 * 1024
)
