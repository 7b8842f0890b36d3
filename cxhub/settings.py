"""The one settings file: everything that differs between machines comes from the environment.

With no variables set this is the embedded default: SQLite, the in-memory channel layer,
Celery tasks run eagerly in-process, email printed to the console. `DATABASE_URL` switches
to PostgreSQL, `REDIS_URL` to the channels-redis layer and a real Celery broker.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """A boolean from the environment; anything but a clear yes/no is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number from the environment, at least `minimum`."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = "django-insecure-embedded-default-only-for-local-use-" + "x" * 16
# Earlier keys, comma-separated, still accepted for what they signed (visitor tokens, file links)
# while a rotation settles: docs/widget-identity.md.
SECRET_KEY_FALLBACKS = [key for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()]
# Where the outside world reaches this server: signed webhooks (Twilio) and links in
# emails are built from it (`make run` sets it from HOST and PORT).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
PUBLIC_URL = os.environ.get("PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/")
if urlsplit(PUBLIC_URL).scheme not in ("http", "https") or not urlsplit(PUBLIC_URL).hostname:
    raise ImproperlyConfigured(f"PUBLIC_URL must be an http(s) URL, not {PUBLIC_URL!r}")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=list(dict.fromkeys(["127.0.0.1", "localhost", "testserver", urlsplit(PUBLIC_URL).hostname])),
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "chat",
    "feedback",
    "axes",  # login throttling (cxhub/accounts.py)
    "csp",  # Content-Security-Policy header
    "integrations",  # outbound webhooks
    "django_otp",  # two-factor sign-in (accounts/)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # recovery codes
    "accounts",  # two-factor, sessions, API tokens, audit export, workspace settings
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cxhub.middleware.reject_nul_characters",  # PostgreSQL text holds no NUL: 400 at the edge
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # while the database does not answer: 503 + Retry-After, at once (docs/operations.md)
    "cxhub.middleware.DatabaseOutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # login sessions listed; a password-only session that needs a one-time code reaches only its pages (accounts/)
    "accounts.middleware.AccountGate",
    # the agent's language (their profile) in the console, else the browser's (chat/languages.py)
    "cxhub.middleware.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # last: turns a login lockout into its answer (cxhub/accounts.py)
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cxhub.urls"
ASGI_APPLICATION = "cxhub.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cxhub" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
if os.environ.get("DATABASE_URL"):
    try:
        DATABASES = {"default": env.db_url("DATABASE_URL")}
    except (ImproperlyConfigured, KeyError, ValueError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    if env_bool("DB_POOL", False):
        # Under ASGI every HTTP request runs in a thread of its own, so a connection kept per
        # thread (CONN_MAX_AGE) is never reused: each request opened a new PostgreSQL session
        # (~6 ms, docs/benchmarks.md). The ASGI server turns on Django's psycopg pool
        # (cxhub/asgi.py); Celery's forked workers and management commands keep per-thread
        # connections (a pool must not cross a fork).
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "pool": {
                "min_size": 2,
                "max_size": env_int("DB_POOL_MAX_SIZE", 20, minimum=1),
                # How long a thread waits for a connection. The server's threads are fewer than
                # the pool's connections, so only an outage makes them wait: then they answer
                # "unavailable, retry" soon (docs/operations.md) rather than hang.
                "timeout": env_int("DB_POOL_TIMEOUT", 5, minimum=1),
                # A reconnection that keeps failing gives up after this and the next request
                # starts a fresh one: after an outage the pool reconnects within a second or two
                # instead of on psycopg_pool's doubling back-off (1, 2, 4, 8… s).
                "reconnect_timeout": env_int("DB_POOL_RECONNECT_TIMEOUT", 5, minimum=1),
            },
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                # Writers take the lock when their transaction begins, so two writers
                # queue instead of failing half-way ("database is locked").
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
    # Covering indexes (INCLUDE) are a PostgreSQL speed-up; SQLite builds them without the extra columns.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Tests may run in parallel: every run gets its own database name.
DATABASES["default"]["TEST"] = {
    "NAME": os.environ.get("TEST_DATABASE_NAME") or f"test_cxhub_{os.getpid()}",
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and not os.environ.get("TEST_DATABASE_NAME"):
    # A file, not shared-cache memory: threads and other processes of a test see one
    # database, and SQLite's busy timeout applies.
    DATABASES["default"]["TEST"]["NAME"] = str(Path(tempfile.gettempdir()) / f"cxhub-test-{os.getpid()}.sqlite3")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker --------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must be a redis:// URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Chosen by measurement: docs/adr/0002-channel-layer.md
            # channels-redis' core layer, made to ride out a Redis restart (chat/resilient_layer.py)
            "BACKEND": "chat.resilient_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                # redis-py's asyncio pool refuses (MaxConnectionsError) past 100 connections at
                # once, which a burst of widget reconnects reaches; and its 5 s default read
                # timeout equals channels-redis' 5 s BZPOPMIN, so a busy loop killed idle
                # sockets with TimeoutError. Both measured in docs/benchmarks.md.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 1000, minimum=10),
                        "socket_timeout": env_int("CHANNEL_LAYER_SOCKET_TIMEOUT", 30, minimum=10),
                    }
                ],
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1500, minimum=1),
                "expiry": env_int("CHANNEL_LAYER_EXPIRY", 30, minimum=1),
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "cxhub"),
            },
        }
    }
    # CHANNEL_LAYER_FLAVOUR=pubsub: RedisPubSubChannelLayer (no per-channel queue, so no
    # capacity or expiry). Figures and the trade-off: docs/adr/0002-channel-layer.md.
    CHANNEL_LAYER_FLAVOUR = os.environ.get("CHANNEL_LAYER_FLAVOUR", "core")
    if CHANNEL_LAYER_FLAVOUR not in ("core", "pubsub"):
        raise ImproperlyConfigured("CHANNEL_LAYER_FLAVOUR must be core or pubsub")
    if CHANNEL_LAYER_FLAVOUR == "pubsub":
        CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.pubsub.RedisPubSubChannelLayer"
        for key in ("capacity", "expiry"):
            CHANNEL_LAYERS["default"]["CONFIG"].pop(key)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1500}}}

# Rolling deploys: on SIGTERM each socket finishes its frame in flight and closes with 1012 within
# this many seconds, then uvicorn gets as long again (make serve: --timeout-graceful-shutdown).
SHUTDOWN_TIMEOUT = env_int("SHUTDOWN_TIMEOUT", 10, minimum=1)
# A socket whose client takes no frame for this many seconds is closed (4008, resume): its events
# stop piling up in the process (docs/operations.md, "Slow consumers").
SOCKET_SEND_TIMEOUT = env_int("SOCKET_SEND_TIMEOUT", 10, minimum=1)
# Each websocket's kernel send buffer, fixed (Linux doubles it; autotuning would grow it to 4 MB):
# a client that stops reading fills it within seconds, so the send timeout above can notice it
# (cxhub/websocket_protocol.py, uvicorn --ws cxhub.websocket_protocol:BoundedSendProtocol).
SOCKET_SEND_BUFFER = env_int("SOCKET_SEND_BUFFER", 65536, minimum=4096)
# Group commit (ADR 0015): the customers' chat messages arriving on one server process within
# CHAT_GROUP_COMMIT_WINDOW_MS milliseconds (at most CHAT_GROUP_COMMIT_MAX of them) are stored in one
# transaction; CHAT_GROUP_COMMIT_MAX=1 stores each message in its own (the per-message path).
CHAT_GROUP_COMMIT_WINDOW_MS = env_int("CHAT_GROUP_COMMIT_WINDOW_MS", 2)
CHAT_GROUP_COMMIT_MAX = env_int("CHAT_GROUP_COMMIT_MAX", 64, minimum=1)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "cxhub")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis: a task taken by a worker that died unacknowledged is delivered again after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)}
CELERY_TIMEZONE = "UTC"
# Keep a worker's database connection between tasks, as a web process keeps it between
# requests: cxhub/celery.py applies Django's CONN_MAX_AGE and health checks before each task.
# Celery's default closes it around every task (a new PostgreSQL backend per task, most of a
# small task's time); here it closes only after this many tasks.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=1)
# Tasks kept only for what an earlier release queued (remove in 2027.03).
CELERY_IMPORTS = ["cxhub.legacy_tasks"]
CELERY_BEAT_SCHEDULE: dict = {}
# The metrics pipeline (feedback/pipeline_tasks.py, docs/adr/0003-metrics-pipeline.md).
CELERY_BEAT_SCHEDULE["events.drain"] = {  # events whose wake-up was lost (chat/wakeup.py)
    "task": "chat.tasks.events_drain",
    "schedule": 60.0,
}
# Everything due at a time of its own (snooze wake-ups, survey delays and expiry, webhook
# retries, the end of 7-day windows): the database holds the times, this finds what is due.
TIMERS_INTERVAL_SECONDS = env_int("TIMERS_INTERVAL_SECONDS", 1, minimum=1)
CELERY_BEAT_SCHEDULE["timers"] = {"task": "chat.tasks.timers_run", "schedule": float(TIMERS_INTERVAL_SECONDS)}
CELERY_BEAT_SCHEDULE["metrics.reconcile"] = {
    "task": "feedback.pipeline_tasks.metrics_reconcile",
    "schedule": crontab(hour=3, minute=17),
}
# The predicted satisfaction (feedback/predictions.py, docs/adr/0007-satisfaction-model.md): trained
# every night on the workspace's own answers; below this many answered conversations it declines.
CELERY_BEAT_SCHEDULE["satisfaction.train"] = {
    "task": "feedback.pipeline_tasks.satisfaction_train",
    "schedule": crontab(hour=3, minute=41),
}
SATISFACTION_MIN_ANSWERS = env_int("SATISFACTION_MIN_ANSWERS", 200, minimum=50)
# The raw conversation export covers at most this many days (a longer period is a 400).
METRICS_EXPORT_MAX_DAYS = env_int("METRICS_EXPORT_MAX_DAYS", 92, minimum=1)
# Who runs the beat schedule: `celery beat` (make worker) when there is a broker; in the
# embedded default (eager Celery, no worker) the ASGI server runs it itself (cxhub/scheduler.py).
SCHEDULER_IN_PROCESS = env_bool("SCHEDULER_IN_PROCESS", CELERY_TASK_ALWAYS_EAGER)

# --- Email and SMS ---------------------------------------------------------------------
if os.environ.get("EMAIL_URL"):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "support@cxhub.localhost")
EMAIL_DOMAIN = os.environ.get("EMAIL_DOMAIN", "cxhub.localhost")
EMAIL_MAX_BYTES = env_int("EMAIL_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# Twilio's REST API; the embedded default keeps outgoing SMS in an in-process outbox.
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "")
# Outgoing SMS kept in the in-process outbox (and logged) instead of sent: the default while
# developing without a Twilio URL; set SMS_OUTBOX=false to send with the inboxes' credentials.
SMS_OUTBOX = env_bool("SMS_OUTBOX", DEBUG and not TWILIO_API_BASE)

# --- Auth, sessions, security ----------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)

# Two-factor sign-in (accounts/, docs/security.md): the name authenticator apps show.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "cxhub")

# Login throttling (django-axes, cxhub/accounts.py): failures per (username, address).
AUTHENTICATION_BACKENDS = [
    "cxhub.accounts.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cxhub.accounts.lockout_response"
AXES_VERBOSE = False
# The address is REMOTE_ADDR: behind a proxy, run uvicorn with --proxy-headers --forwarded-allow-ips.

# Content-Security-Policy (django-csp 4): no inline script or style anywhere; websockets to
# this server only; nobody may frame a page (the widget's own iframe, if any, relaxes
# frame-ancestors for its view with csp.decorators.csp_update).
_public = urlsplit(PUBLIC_URL)
_socket_sources = [f"wss://{_public.netloc}"]
if _public.scheme == "http" or DEBUG:
    _socket_sources.append(f"ws://{_public.netloc}")
for _host in ALLOWED_HOSTS:
    if _host and _host != "*":
        _host = "*" + _host if _host.startswith(".") else _host
        _socket_sources += [f"wss://{_host}:*", *([f"ws://{_host}:*"] if DEBUG else [])]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, *dict.fromkeys(_socket_sources)],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Internationalisation, static files ------------------------------------------------
# The languages cxhub ships, each complete for the customer-facing parts (tests/test_translations.py):
# catalogues in locale/<language>/LC_MESSAGES/ (django.po: Python and templates; djangojs.po: the
# widget's and the console's scripts), compiled by `make run` and `make test` (docs/i18n.md).
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "Simplified Chinese"),
    ("ru", "Russian"),
    ("es", "Spanish"),
    ("ar", "Arabic"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The workspace's time zone: metrics are computed in it; people see times in their own.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "cxhub" / "static"] if (BASE_DIR / "cxhub" / "static").exists() else []
# Browser libraries from npm (package.json, `make install` runs `npm ci`), served locally.
if (BASE_DIR / "node_modules" / "chart.js" / "dist").exists():
    STATICFILES_DIRS.append(("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"))
# Attachments are kept through the default storage: the file system under MEDIA_ROOT unless
# FILE_STORAGE_BACKEND names another (a django-storages backend, e.g. "storages.backends.s3.S3Storage",
# installed beside cxhub) with FILE_STORAGE_OPTIONS as JSON (docs/attachments.md).
try:
    FILE_STORAGE_OPTIONS = env.json("FILE_STORAGE_OPTIONS", default={})
except ValueError:
    raise ImproperlyConfigured("FILE_STORAGE_OPTIONS must be a JSON object") from None
if not isinstance(FILE_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("FILE_STORAGE_OPTIONS must be a JSON object")
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("FILE_STORAGE_BACKEND") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": FILE_STORAGE_OPTIONS,
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

# --- REST API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Bearer cxh_…`: scoped, expiring API tokens (accounts/authentication.py); first, so a refused
        # token is a 401 with WWW-Authenticate (without one, the anonymous still get 403)
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # DRF's unscoped, never-expiring `Token` keys are gone (accounts 0005_token_scopes_cleanup)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "cxhub.api.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cxhub.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cxhub API",
    "DESCRIPTION": "Omnichannel customer support: conversations, contacts, surveys and metrics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "chat.models.Channel.choices",
        "InboxChannelEnum": "chat.models.INBOX_CHANNEL_CHOICES",
        # Conversation and ConversationDetail share it (a name by field alone would collide).
        "ConversationStatusEnum": "chat.models.Conversation.Status",
        # the shipped languages: an inbox's default, a contact's, the widget session's answer
        "LanguageEnum": LANGUAGES,
    },
    # every operation documents the JSON error answers (cxhub/schema.py)
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cxhub.schema.document_error_responses",
    ],
}

# Bearer token for /metrics (Prometheus); staff sessions may read it too.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Outbound webhooks (integrations/) -------------------------------------------------
# Private, loopback and link-local destinations are refused unless this is true (tests, dev).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=0)

# --- Product limits --------------------------------------------------------------------
MESSAGE_BODY_MAX_CHARS = 10_000
# Attachments (docs/attachments.md): each inbox sets its types and size limit under this ceiling;
# download links are signed and expire after ATTACHMENT_URL_MAX_AGE seconds.
ATTACHMENT_MAX_BYTES_CEILING = env_int("ATTACHMENT_MAX_BYTES_CEILING", 25 * 1024 * 1024, minimum=1024)
ATTACHMENTS_PER_MESSAGE = 10
ATTACHMENT_URL_MAX_AGE = env_int("ATTACHMENT_URL_MAX_AGE", 3600, minimum=10)
# SMS media (Twilio MediaUrl) is fetched by the worker through the SSRF guard (chat/safe_http.py):
# private and loopback addresses are refused unless this is true (tests, dev).
SMS_MEDIA_ALLOW_PRIVATE = env_bool("SMS_MEDIA_ALLOW_PRIVATE", False)
SMS_MEDIA_TIMEOUT_SECONDS = env_int("SMS_MEDIA_TIMEOUT_SECONDS", 15, minimum=1)
# POST /api/v1/widget/{inbox}/session per client address (DRF rate: "60/min", "1000/hour").
WIDGET_SESSION_RATE = os.environ.get("WIDGET_SESSION_RATE", "60/min")
WIDGET_UPLOAD_RATE = os.environ.get("WIDGET_UPLOAD_RATE", "30/min")  # widget file uploads per client address

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
CSRF_FAILURE_VIEW = "cxhub.views.csrf_failure"
LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
