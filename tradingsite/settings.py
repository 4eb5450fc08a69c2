"""One settings module; every difference between environments comes from env vars.

Two profiles of the same code:
- embedded (no DATABASE_URL / REDIS_URL): SQLite in VAR_DIR, an in-process Celery broker,
  the in-memory channel layer; `manage.py runplatform` runs web, worker and beat in one process.
- served (DATABASE_URL + REDIS_URL): PostgreSQL, Redis for Celery, Channels and the cache;
  daphne, `celery worker` and `celery beat` run as separate processes.
Every variable read here is documented in `.env.example` and the README.
"""

import os
import warnings
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

from tradingsite.localkeys import local_fernet_key, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=None) or local_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[]) or [
    local_fernet_key(VAR_DIR / "field_encryption_key")
]

REDIS_URL = env("REDIS_URL", default="")
PLATFORM_PROFILE = "served" if REDIS_URL else "embedded"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "tradingsite",
    "portfolios",
    "bots",
    "orders",
    "marketdata",
    "risk",
    "backtests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tradingsite.logs.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "tradingsite.mfa.StaffTwoFactorMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "tradingsite.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "tradingsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tradingsite.context_processors.platform",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded profile writes from web, worker and beat threads at once: WAL lets readers
    # proceed during a write, IMMEDIATE takes the write lock up front instead of failing late
    # with "database is locked", and the timeout waits for a busy writer.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so test servers in other threads and processes see the test data;
    # one per test run, so two runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Under daphne every request runs in a fresh thread, so CONN_MAX_AGE never reuses a
    # connection: DATABASE_POOL=true lends them from psycopg's pool instead (per process).
    if env.bool("DATABASE_POOL", default=False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses a pool with persistent ones
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2, "max_size": env.int("DATABASE_POOL_MAX", default=20), "timeout": 10}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Channels, Celery ----------------------------------------------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "ts",
                          "OPTIONS": {"pool_class": "tradingsite.redis_pool.SharedConnectionPool"}}}
    # The layer waits for messages with a blocking BZPOPMIN of 5 s; redis-py 8 times any socket
    # read out after 5 s by default, which tore down every idle WebSocket. Reads may take the
    # 5 s wait plus a margin, and a Redis that stops answering still surfaces.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL,
                                                        "socket_timeout": 15}],
                                             "prefix": "ts:asgi"}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "tradingsite.channel_layers.ThreadSafeInMemoryChannelLayer"}
    }

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only once it finished, and a worker that dies mid-task hands it back:
# tasks are written to be safe to run twice (status guards, unique keys), never to be lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
# Redis re-delivers an unacknowledged task after this; it must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
PLATFORM_HEARTBEAT_SECONDS = env.float("PLATFORM_HEARTBEAT_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE = {
    "platform-heartbeat": {
        "task": "tradingsite.tasks.heartbeat",
        "schedule": PLATFORM_HEARTBEAT_SECONDS,
    },
}

# --- Binance ----------------------------------------------------------------------------------
# Where public market data and exchangeInfo come from (paper trading fills on it too):
# "live", "testnet", or the base URL of a local Binance (http://127.0.0.1:9100).
BINANCE_MARKET_DATA_VENUE = env("BINANCE_MARKET_DATA_VENUE", default="live")
# The market-stream supervisor (manage.py run_streams, or a thread of runplatform).
MARKET_STREAMS_ENABLED = env.bool("MARKET_STREAMS_ENABLED", default=True)
STREAM_SILENCE_SECONDS = env.float("STREAM_SILENCE_SECONDS", default=30.0)
# Unset: a symbol is stale after two of its shortest candle intervals without data.
STREAM_STALE_SECONDS = env.float("STREAM_STALE_SECONDS", default=None)
STREAM_RESUBSCRIBE_SECONDS = env.float("STREAM_RESUBSCRIBE_SECONDS", default=10.0)
STREAM_PUSH_INTERVAL = env.float("STREAM_PUSH_INTERVAL", default=0.2)
CELERY_BEAT_SCHEDULE["symbols-sync-spot"] = {
    "task": "marketdata.tasks.symbols_sync_task", "schedule": 3600.0, "args": ["spot"]}
CELERY_BEAT_SCHEDULE["klines-sync-watched"] = {
    "task": "marketdata.tasks.klines_sync_watched_task", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["orders-reconcile"] = {
    "task": "orders.tasks.orders_reconcile_task", "schedule": 30.0}
# Python files defining user strategies (see user_strategies/README.md), loaded at start-up.
USER_STRATEGIES_DIR = env("USER_STRATEGIES_DIR", default=str(BASE_DIR / "user_strategies"))
CELERY_BEAT_SCHEDULE["equity-snapshots"] = {
    "task": "portfolios.tasks.equity_snapshots_task", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["risk-monitor"] = {
    "task": "risk.tasks.risk_monitor_task", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["bots-tick-due"] = {
    "task": "bots.tasks.bots_tick_due_task", "schedule": 15.0}
CELERY_BEAT_SCHEDULE["symbols-sync-futures"] = {
    "task": "marketdata.tasks.symbols_sync_task", "schedule": 3600.0, "args": ["futures"]}

# --- AI-assisted analysis (bots.ai) ----------------------------------------------------------
# The local LLM advisor (Ollama). Without a host it is off: decisions use technical analysis and
# sentiment only, and every analysis records the advisor as "disabled".
OLLAMA_HOST = env("OLLAMA_HOST", default="")
OLLAMA_MODEL = env("OLLAMA_MODEL", default="llama3.2:3b")
OLLAMA_TIMEOUT = env.float("OLLAMA_TIMEOUT", default=30.0)
AI_ADVISOR_ENABLED = env.bool("AI_ADVISOR_ENABLED", default=bool(OLLAMA_HOST))
AI_ANALYSIS_INTERVAL = env("AI_ANALYSIS_INTERVAL", default="1h")  # the candles analysed
NEWS_FETCH_TIMEOUT = env.float("NEWS_FETCH_TIMEOUT", default=10.0)
CELERY_BEAT_SCHEDULE["ai-analyse-watched"] = {
    "task": "bots.tasks.ai_analyse_watched_task",
    "schedule": env.float("AI_ANALYSIS_MINUTES", default=10.0) * 60}
CELERY_BEAT_SCHEDULE["news-poll"] = {
    "task": "bots.tasks.news_poll_task",
    "schedule": env.float("NEWS_POLL_MINUTES", default=15.0) * 60}
# Entries waiting for approval expire within a minute of their time.
CELERY_BEAT_SCHEDULE["approvals-expire"] = {
    "task": "bots.tasks.approvals_expire_task", "schedule": 60.0}

# --- Accounts -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_ADAPTER = "tradingsite.accounts.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_SIGNUP_OPEN = env.bool("ACCOUNT_SIGNUP_OPEN", default=True)
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Lockout: after LOGIN_ATTEMPTS_LIMIT failed logins for one login name within
# LOGIN_ATTEMPTS_TIMEOUT seconds that name is refused (and 10 failures a minute per IP),
# whether or not the account exists, with the same words. Counted in the cache (Redis when
# served, so every process agrees). Behind a proxy, TRUSTED_PROXY_COUNT says how many
# X-Forwarded-For hops to trust for the client's IP; otherwise everyone shares the proxy's.
LOGIN_ATTEMPTS_LIMIT = env.int("LOGIN_ATTEMPTS_LIMIT", default=5)
LOGIN_ATTEMPTS_TIMEOUT = env.int("LOGIN_ATTEMPTS_TIMEOUT", default=300)
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"10/m/ip,{LOGIN_ATTEMPTS_LIMIT}/{LOGIN_ATTEMPTS_TIMEOUT}s/key"}
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ACCOUNT_PREVENT_ENUMERATION = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="Trading platform")
# Staff reach the admin, make tokens and use the API by session only with two-factor on;
# exchange keys need the code given within ACCOUNT_REAUTHENTICATION_TIMEOUT seconds
# (tradingsite/mfa.py).
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=True)
MFA_REQUIRED_FOR_EXCHANGE_KEYS = env.bool("MFA_REQUIRED_FOR_EXCHANGE_KEYS", default=True)
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("REAUTHENTICATION_TIMEOUT", default=300)

# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587; the console by default.
_email = env.email("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="trading@localhost")

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portfolios.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    # ?ordering= on the fields each view lists in `ordering_fields`, and on no other.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend",
                                "tradingsite.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tradingsite.api_errors.exception_handler",
    # Per user (per IP when signed out), counted in the cache: Redis when served, so every
    # process shares the count; per process in the embedded profile.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle",
                                 "rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env("API_THROTTLE_USER", default="1200/min"),
                               "anon": env("API_THROTTLE_ANON", default="60/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "DESCRIPTION": "Portfolios, bots, orders, market data, risk, backtests and AI analyses. "
                   "Authenticate with a personal token (Authorization: Bearer tp_...) made "
                   "on the API tokens page, or with the session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema says what the API is, not what anyone holds: readable without signing in.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name across models get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "backtests.models.BacktestRun.Status",
        "OptimisationKindEnum": "backtests.models.OptimisationRun.Kind",
        "MarketEnum": "marketdata.models.Symbol.Market",
        "AdvisorOutcomeEnum": "bots.models.AdvisorCall.Outcome",
        "SizingEnum": "bots.models.Bot.Sizing",
        "BreachActionEnum": "risk.models.BreachAction",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "tradingsite.api_errors.document_error_responses"],
}

# --- Static files, i18n ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app and project folders too, so the embedded profile needs no
# collectstatic step to show the admin and the pages.
WHITENOISE_USE_FINDERS = True
# WhiteNoise streams files through sync iterators, which Django's ASGI handler consumes in a
# thread and warns about; for small static files that is fine and the warning is only noise.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous")
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------
# HTTPS=true switches on everything a deployment behind TLS needs (check --deploy is clean).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy, in every profile so the browser tests run under it: scripts only
# from our own static files (no inline scripts or handlers, no eval), sockets and fetches
# only to this origin, no framing. Inline styles stay allowed: htmx inserts its indicator
# style and the admin and some pages set style attributes; they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"upgrade-insecure-requests": True} if HTTPS else {}),
    },
}

# LOG_FORMAT: plain text for a terminal (default) or json, one object a line, for a log
# pipeline. Either way each record carries the request, user, bot and order ids it is about.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "tradingsite.logs.ContextFilter"}},
    "formatters": {
        "plain": {"()": "tradingsite.logs.PlainFormatter",
                  "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "tradingsite.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["ids"],
                             "formatter": "json" if LOG_FORMAT == "json" else "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
# LOG_FILE: also append every log record to this file (CI scans the test run's for secrets).
if env("LOG_FILE", default=""):
    LOGGING["handlers"]["file"] = {"class": "logging.FileHandler", "filters": ["ids"],
                                   "formatter": LOGGING["handlers"]["console"]["formatter"],
                                   "filename": env("LOG_FILE")}
    LOGGING["root"]["handlers"].append("file")

# --- Metrics (Prometheus) -------------------------------------------------------------------
# /metrics (tradingsite.metrics): django-prometheus counts requests and responses per process;
# the platform's own metrics are derived at scrape time from the database, cache and broker.
INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
MIDDLEWARE = ["django_prometheus.middleware.PrometheusBeforeMiddleware", *MIDDLEWARE,
              "django_prometheus.middleware.PrometheusAfterMiddleware"]
# Who may read /metrics besides staff: requests straight from these networks (never one a proxy
# forwarded), or any request with `Authorization: Bearer <METRICS_TOKEN>` when it is set.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env("METRICS_TOKEN", default="")
