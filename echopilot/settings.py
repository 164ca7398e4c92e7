"""Settings for the EchoPilot Ops Console.

Every value comes from the environment (or a `.env` file beside manage.py) through django-environ,
with the names and defaults of the product documents. Code reads `settings.X`, never `os.environ`.
"""

import socket
from pathlib import Path

import environ

from echopilot import envconfig
from echopilot.envconfig import DAY_S, HOUR_S, MINUTE_S

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Django core ----------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "echopilot.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "echopilot",
    "incidents",
    "slo",
    "costs",
    "scaling",
    "portal",
    "ops",
]

MIDDLEWARE = [
    "echopilot.metrics.RequestMetricsMiddleware",
    "slo.middleware.ConsoleSamplesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "echopilot.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out user and address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "echopilot.urls"
WSGI_APPLICATION = "echopilot.wsgi.application"

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
            ],
        },
    },
]

# --- Database: SQLite (WAL) by default, PostgreSQL through DATABASE_URL ---------------------------

SQLITE_PATH = env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))
DATABASES = {"default": envconfig.database("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web workers read while the qcluster writes; IMMEDIATE transactions take the
    # write lock up front, so two writers queue on busy_timeout instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that skips the SELECT 1 when the socket is quiet.
    DATABASES["default"]["ENGINE"] = "echopilot.db.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", envconfig.integer("CONN_MAX_AGE", 60, 0, DAY_S))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # A database that is down or frozen must not hold a request (and its thread) for long: connecting
    # gives up after DB_CONNECT_TIMEOUT_S, the server cancels a statement after DB_STATEMENT_TIMEOUT_S,
    # and a server that answers nothing at all (frozen) is given up DB_CLIENT_GRACE_S after that.
    # The request then answers 503 with Retry-After (echopilot.errors). A long one-off command
    # (a migration on a big table) can raise the statement timeout in its own environment.
    DB_CONNECT_TIMEOUT_S = envconfig.integer("DB_CONNECT_TIMEOUT_S", 5, 1, HOUR_S)
    DB_STATEMENT_TIMEOUT_S = envconfig.number("DB_STATEMENT_TIMEOUT_S", 15, 0, DAY_S)
    DB_CLIENT_GRACE_S = envconfig.number("DB_CLIENT_GRACE_S", 5, 0, HOUR_S, low_allowed=False)
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT_S)
    if DB_STATEMENT_TIMEOUT_S:  # 0: no limit
        _db_options.setdefault("options", f"-c statement_timeout={int(DB_STATEMENT_TIMEOUT_S * 1000)}")
        _db_options.setdefault("client_timeout", DB_STATEMENT_TIMEOUT_S + DB_CLIENT_GRACE_S)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

# --- Secrets: Django's key and the portal's link-signing key --------------------------------------

# The embedded default (SQLite) makes each once and keeps it beside its database; a server on
# PostgreSQL must set both, and refuses to start without them: a known key forges every receipt link.
_KEEP_SECRETS_BESIDE = None if USING_POSTGRES else Path(SQLITE_PATH)
SECRET_KEY = envconfig.secret("SECRET_KEY", generated_beside=_KEEP_SECRETS_BESIDE)
PORTAL_SIGNING_SECRET = envconfig.secret("PORTAL_SIGNING_SECRET", generated_beside=_KEEP_SECRETS_BESIDE)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Task queue: django-q2, ORM broker by default, Redis through REDIS_URL ------------------------

REDIS_URL = envconfig.redis_url("REDIS_URL")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="echopilot"),
    "workers": envconfig.integer("Q_WORKERS", 2, 1, 256),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
    "label": "Task queue",
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "echopilot_cache",
    }
}

# --- Static files, served by whitenoise; nothing comes from a CDN ---------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# Dates and times in the admin say their zone (echopilot/formats/en/formats.py).
FORMAT_MODULE_PATH = ["echopilot.formats"]

# --- The API --------------------------------------------------------------------------------------

# Django's 2.5 MB would refuse the batches the API promises: an Alertmanager notification of 10,000
# alerts (labels, annotations, URLs) is 6-8 MB. 16 MB still bounds what one request makes a worker hold.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "echopilot.auth.DashKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["echopilot.auth.HasDashRole"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["echopilot.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "echopilot.negotiation.JSONFirstNegotiation",
    "EXCEPTION_HANDLER": "echopilot.errors.json_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "VIEW_NAME_FUNCTION": "echopilot.openapi.view_name",
    "VIEW_DESCRIPTION_FUNCTION": "echopilot.openapi.view_description",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EchoPilot Ops Console API",
    "DESCRIPTION": "SLOs, incidents, the customer portal, cost guardrails and scaling.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page describe the API and hold no data: public, so a script writer
    # with a key but no admin account reads them and, with the key in Authorize, tries each call.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "tryItOutEnabled": False},
    # Every operation's error answers in the one error shape (echopilot/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "echopilot.schema.add_error_responses",
    ],
}

# Access: DASHBOARD_KEY is an admin key, ROLES_JSON maps further keys to roles ({"key": "role"}).
DASHBOARD_KEY = env.str("DASHBOARD_KEY", default="")
ROLES_JSON = envconfig.json_object("ROLES_JSON", {}, values=("admin", "analyst"))
# How long a worker remembers a resolved stored key; a revoked key stops working within this.
DASH_KEY_CACHE_S = envconfig.number("DASH_KEY_CACHE_S", 5.0, 0, HOUR_S)

# --- Client addresses behind a load balancer ------------------------------------------------------

# X-Forwarded-For is read only through proxies we run: the nearest TRUSTED_PROXY_COUNT hops, and
# any hop in TRUSTED_PROXY_NETWORKS (CIDRs). Neither set: REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = envconfig.integer("TRUSTED_PROXY_COUNT", 0, 0, 10)
TRUSTED_PROXY_NETWORKS = envconfig.networks("TRUSTED_PROXY_NETWORKS")

# --- A real server: HTTPS behind the load balancer, HSTS, cookies sent over HTTPS only ------------

# All off by default (the embedded default is plain HTTP on localhost); the README's server recipe
# turns them on, and `manage.py check --deploy` is then silent.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The balancer's plain-HTTP health checks reach the probes without being redirected.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^readyz$", r"^healthz/strict$", r"^metrics$"]
# "HTTP_X_FORWARDED_PROTO=https": the header a proxy we run sets, and the value that means HTTPS.
SECURE_PROXY_SSL_HEADER = envconfig.header_and_value("SECURE_PROXY_SSL_HEADER")
SECURE_HSTS_SECONDS = envconfig.integer("SECURE_HSTS_SECONDS", 0, 0, 2 * 365 * DAY_S)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

# --- Admin sign-in throttling (django-axes) -------------------------------------------------------

# After AXES_FAILURE_LIMIT failed sign-ins of one username from one address, that pair is locked out
# for AXES_COOLOFF_HOURS (the lockouts are under "Axes" in the admin, where one can be lifted).
AXES_FAILURE_LIMIT = envconfig.integer("AXES_FAILURE_LIMIT", 5, 1, 1000)
AXES_COOLOFF_TIME = envconfig.number("AXES_COOLOFF_HOURS", 1, 0, 24 * 365, low_allowed=False)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command
# The address through the proxies we run, as the portal reads it.
AXES_CLIENT_IP_CALLABLE = "echopilot.clientip.client_ip"

# --- Files the console writes ---------------------------------------------------------------------

LOG_DIR = envconfig.writable_directory("LOG_DIR", BASE_DIR / "logs")

# --- Several hosts --------------------------------------------------------------------------------

# Whose LOG_DIR this is: the incident log reader keeps its positions per (this name, file path), so
# hosts that each keep their own LOG_DIR at the same path never take each other's files for rotated
# ones. Hosts that share one LOG_DIR (a network mount) set the same name on every host.
LOG_READER_HOST = env.str("LOG_READER_HOST", default=socket.gethostname())[:200]
# Each web worker and task runner notes how far its host's clock is from the database's at most this
# often (seconds; 0: never); the ops check's host_clocks judges them. A row a host has not renewed
# for HOST_CLOCK_RETENTION_DAYS (a host renamed or gone) is pruned.
HOST_CLOCK_EVERY_S = envconfig.number("HOST_CLOCK_EVERY_S", 60, 0, HOUR_S)
HOST_CLOCK_RETENTION_DAYS = envconfig.integer("HOST_CLOCK_RETENTION_DAYS", 7, 1, 100 * 366)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envconfig.log_level("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- SLOs and error budgets -----------------------------------------------------------------------

SLO_LAT_P95_MS = envconfig.number("SLO_LAT_P95_MS", 800, 0, HOUR_S * 1000, low_allowed=False)
SLO_LAT_P99_MS = envconfig.number("SLO_LAT_P99_MS", 1200, 0, HOUR_S * 1000, low_allowed=False)
SLO_ERR_BUDGET_DAILY_PCT = envconfig.number("SLO_ERR_BUDGET_DAILY_PCT", 1.0, 0, 100, low_allowed=False)
SLO_WINDOW_DAYS = envconfig.integer("SLO_WINDOW_DAYS", 30, 1, 365)
# The first SLO (made on first use) judges this service; the console's own requests are "console".
SLO_SERVICE = env.str("SLO_SERVICE", default="console")
SLO_MIN_EVENTS = envconfig.integer("SLO_MIN_EVENTS", 100, 0, 10**9)
# The console records its own requests in process and writes them every N samples or seconds.
SLO_RECORD_CONSOLE = env.bool("SLO_RECORD_CONSOLE", default=True)
SLO_BUFFER_MAX_SAMPLES = envconfig.integer("SLO_BUFFER_MAX_SAMPLES", 1000, 1, 1_000_000)
SLO_BUFFER_MAX_SECONDS = envconfig.number("SLO_BUFFER_MAX_SECONDS", 5, 0, HOUR_S, low_allowed=False)
SLO_MINUTE_RETENTION_DAYS = envconfig.integer("SLO_MINUTE_RETENTION_DAYS", 3, 1, 36_500)
SLO_HOUR_RETENTION_DAYS = envconfig.integer("SLO_HOUR_RETENTION_DAYS", 40, 1, 36_500)
SLO_DAY_RETENTION_DAYS = envconfig.integer("SLO_DAY_RETENTION_DAYS", 400, 1, 36_500)
SLO_RECOVERY_HOOK = env.str("SLO_RECOVERY_HOOK", default="slo.watchdog.record_only")
# Route names are free text: a client that sends /orders/123 instead of /orders/{id} makes a row per id.
# A service's routes past this many are counted under the route "other" (slo/routes.py).
SLO_MAX_ROUTES_PER_SERVICE = envconfig.integer("SLO_MAX_ROUTES_PER_SERVICE", 50, 1, 10_000)

# --- Strict health (/healthz/strict, for uptime monitors) ----------------------------------------

# The SLOs whose CRITICAL burn fails /healthz/strict, by name. Empty: the console's own (service
# "console"), so a watched service burning its budget does not mark the console unhealthy; "*": all.
HEALTHZ_STRICT_SLOS = env.list("HEALTHZ_STRICT_SLOS", default=[])


# --- Incidents and the pager ----------------------------------------------------------------------

TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_CHAT_ID = env.str("TELEGRAM_CHAT_ID", default="")
TELEGRAM_API_BASE = envconfig.url("TELEGRAM_API_BASE", "https://api.telegram.org")
SMTP_HOST = env.str("SMTP_HOST", default="")
SMTP_PORT = envconfig.integer("SMTP_PORT", 587, 1, 65_535)
SMTP_USER = env.str("SMTP_USER", default="")
SMTP_PASS = env.str("SMTP_PASS", default="")
SMTP_FROM = env.str("SMTP_FROM", default="echopilot@localhost")
SMTP_USE_TLS = env.bool("SMTP_USE_TLS", default=False)
PAGER_EMAIL_TO = envconfig.emails("PAGER_EMAIL_TO")
PAGER_WEBHOOK_URL = envconfig.url("PAGER_WEBHOOK_URL", "")
PAGER_WEBHOOK_SECRET = env.str("PAGER_WEBHOOK_SECRET", default="")

# Without SMTP_HOST no email can go out: the portal says so instead of promising one. `dev.py start`
# sets EMAIL_BACKEND to Django's console backend then, so a first run shows its emails in the log.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = SMTP_HOST
EMAIL_PORT = SMTP_PORT
EMAIL_HOST_USER = SMTP_USER
EMAIL_HOST_PASSWORD = SMTP_PASS
EMAIL_USE_TLS = SMTP_USE_TLS
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = SMTP_FROM

# The pager: retries, storm cap, digest and the NDJSON consumer.
PAGER_MAX_ATTEMPTS = envconfig.integer("PAGER_MAX_ATTEMPTS", 5, 1, 100)
PAGER_BACKOFF_BASE_S = envconfig.number("PAGER_BACKOFF_BASE_S", 2.0, 0, DAY_S)
PAGER_BACKOFF_MAX_S = envconfig.number("PAGER_BACKOFF_MAX_S", 300.0, 0, 7 * DAY_S)
envconfig.require(
    PAGER_BACKOFF_MAX_S >= PAGER_BACKOFF_BASE_S, "PAGER_BACKOFF_MAX_S must be at least PAGER_BACKOFF_BASE_S"
)
PAGER_INLINE_WAIT_MAX_S = envconfig.number("PAGER_INLINE_WAIT_MAX_S", 30.0, 0, HOUR_S)
PAGER_LEASE_S = envconfig.integer("PAGER_LEASE_S", 180, 1, DAY_S)
PAGER_STORM_MAX_PER_MIN = envconfig.integer("PAGER_STORM_MAX_PER_MIN", 10, 1, 1_000_000)
PAGER_DIGEST_TIMEZONE = env.str("PAGER_DIGEST_TIMEZONE", default="Europe/London")
PAGER_DIGEST_HOUR = envconfig.integer("PAGER_DIGEST_HOUR", 9, 0, 23)
PAGER_HTTP_TIMEOUT_S = envconfig.number("PAGER_HTTP_TIMEOUT_S", 10.0, 0, 600, low_allowed=False)
TELEGRAM_MIN_INTERVAL_S = envconfig.number("TELEGRAM_MIN_INTERVAL_S", 1.0, 0, HOUR_S)

# One open incident per alert: a repeat of an unacknowledged incident pages a reminder this often.
PAGER_REPEAT_MIN = envconfig.integer("PAGER_REPEAT_MIN", 60, 1, 7 * 24 * 60)

# --- The customer portal --------------------------------------------------------------------------

PORTAL_SIGNING_SECRET_FALLBACKS = env.list("PORTAL_SIGNING_SECRET_FALLBACKS", default=[])
PORTAL_LINK_TTL_HRS = envconfig.number("PORTAL_LINK_TTL_HRS", 24, 0, 366 * 24, low_allowed=False)
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Links in customer emails are built from this, never from the request's Host header.
PORTAL_BASE_URL = envconfig.url("PORTAL_BASE_URL", "http://localhost:8000")
PORTAL_SELF_SERVICE_TTL_MIN = envconfig.integer("PORTAL_SELF_SERVICE_TTL_MIN", 30, 1, 7 * DAY_S // MINUTE_S)
PORTAL_RECEIPTS_LIMIT = envconfig.integer("PORTAL_RECEIPTS_LIMIT", 50, 1, 10_000)
PORTAL_DOWNLOAD_RATE_PER_MIN = envconfig.integer("PORTAL_DOWNLOAD_RATE_PER_MIN", 30, 1, 1_000_000)
PORTAL_PAGE_RATE_PER_MIN = envconfig.integer("PORTAL_PAGE_RATE_PER_MIN", 30, 1, 1_000_000)
PORTAL_LINK_REQUEST_RATE_PER_HOUR = envconfig.integer("PORTAL_LINK_REQUEST_RATE_PER_HOUR", 10, 1, 1_000_000)
PORTAL_EMAIL_RATE_PER_HOUR = envconfig.integer("PORTAL_EMAIL_RATE_PER_HOUR", 3, 1, 1_000_000)
PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT = envconfig.integer("PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT", 5, 1, 1_000_000)

# --- Pages that link back to the console -----------------------------------------------------------

# Pages carry the incident's console URL built on this (never on a request's Host header).
CONSOLE_BASE_URL = envconfig.url("CONSOLE_BASE_URL", PORTAL_BASE_URL)
# How long the one-click acknowledge link in an email or webhook page works (once).
PAGER_ACK_LINK_TTL_HRS = envconfig.number("PAGER_ACK_LINK_TTL_HRS", 24, 0, 7 * 24, low_allowed=False)

# --- Stripe payment reconciliation ------------------------------------------------------------------

# A restricted, read-only key (Events: read). Without it the nightly reconciliation is off.
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
# Where the Stripe API answers; only tests and proxies change it.
STRIPE_API_BASE = envconfig.url("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_API_TIMEOUT_S = envconfig.number("STRIPE_API_TIMEOUT_S", 30.0, 0, 600, low_allowed=False)

# --- Data kept as long as it is useful (the daily console_prune job, `manage.py prune`) ------------

# Ledger rows (one per AI call) go after this many days; the daily totals (DailyCounter) stay for good.
COST_LEDGER_RETENTION_DAYS = envconfig.integer("COST_LEDGER_RETENTION_DAYS", 90, 1, 100 * 366)
# The portal's access audit: 13 months, a year of audit plus a month to take it.
PORTAL_ACCESS_LOG_RETENTION_DAYS = envconfig.integer("PORTAL_ACCESS_LOG_RETENTION_DAYS", 400, 30, 100 * 366)
# Stripe keeps events 30 days and retries for 3, so a replay older than this cannot arrive.
STRIPE_EVENT_RETENTION_DAYS = envconfig.integer("STRIPE_EVENT_RETENTION_DAYS", 400, 31, 100 * 366)
SLO_TICK_RETENTION_DAYS = envconfig.integer("SLO_TICK_RETENTION_DAYS", 90, 1, 100 * 366)
# Resolved incidents (with their deliveries and attempts) and deliveries of no incident (digests, notices).
INCIDENT_RETENTION_DAYS = envconfig.integer("INCIDENT_RETENTION_DAYS", 180, 1, 100 * 366)
# django-q2's task results, failures included.
QUEUE_TASK_RETENTION_DAYS = envconfig.integer("QUEUE_TASK_RETENTION_DAYS", 30, 1, 100 * 366)

# --- Cost guardrails ------------------------------------------------------------------------------

COST_CAP_DAILY_USD = envconfig.number("COST_CAP_DAILY_USD", 25, 0, 99_999_999)
MODEL_CAPS_JSON = envconfig.json_object("MODEL_CAPS_JSON", {"gpt-4o-mini": 15, "embeddings": 2})
COST_TIMEZONE = env.str("COST_TIMEZONE", default="UTC")
# How stale a web worker's copy of the day's spend may get before a decision re-reads it (seconds).
COST_STATE_TTL_S = envconfig.number("COST_STATE_TTL_S", 1.0, 0, HOUR_S)
# Each web worker adds spend to one of this many counter rows per scope, so workers never queue on one row.
COST_COUNTER_SHARDS = envconfig.integer("COST_COUNTER_SHARDS", 8, 1, 1_000)

# --- Cost caps under concurrency: reservations near a cap -------------------------------------------
# A cap is "near" when the cached spend plus a margin reaches it; the margin is the larger of
# COST_RESERVE_HEADROOM_PCT of the cap and COST_RESERVE_CALLS typical calls (the calls the whole fleet
# may make before a worker's cached spend catches up). Near a cap, authorize holds the call's estimate
# against the shared counters in a transaction; the usage report settles it, an unsettled hold expires.
COST_RESERVE_HEADROOM_PCT = envconfig.number("COST_RESERVE_HEADROOM_PCT", 10, 0, 100)
COST_RESERVE_CALLS = envconfig.integer("COST_RESERVE_CALLS", 200, 0, 1_000_000)
# What a call of a model with no spend today is assumed to cost, until its first report.
COST_RESERVE_DEFAULT_USD = envconfig.number("COST_RESERVE_DEFAULT_USD", 0.05, 0, 1_000_000)
COST_RESERVATION_TTL_S = envconfig.number("COST_RESERVATION_TTL_S", 300, 1, DAY_S)
# authorize while the database cannot be reached: "open" allows (the guard only degrades AI calls,
# never the product; the answer says it was not checked), "closed" throttles.
COST_FAIL_MODE = envconfig.choice("COST_FAIL_MODE", "open", ("open", "closed"))

# --- Worker scaling -------------------------------------------------------------------------------

SCALE_MIN = envconfig.integer("SCALE_MIN", 1, 0, 10_000)
SCALE_MAX = envconfig.integer("SCALE_MAX", 6, 1, 10_000)
SCALE_COOLDOWN_MIN = envconfig.integer("SCALE_COOLDOWN_MIN", 10, 0, 7 * DAY_S // MINUTE_S)
envconfig.require(SCALE_MAX >= SCALE_MIN, "SCALE_MAX must be at least SCALE_MIN")
SCALE_DRY_RUN = env.bool("SCALE_DRY_RUN", default=True)
# The oldest waiting job should start within this many seconds; the pool is sized to keep it so.
SCALE_QUEUE_TIME_TARGET_S = envconfig.number("SCALE_QUEUE_TIME_TARGET_S", 60, 0, DAY_S, low_allowed=False)
SCALE_UP_P95_MS = envconfig.number("SCALE_UP_P95_MS", 150, 0, HOUR_S * 1000, low_allowed=False)
SCALE_DOWN_P95_MS = envconfig.number("SCALE_DOWN_P95_MS", 40, 0, HOUR_S * 1000, low_allowed=False)
SCALE_UP_DEPTH = envconfig.integer("SCALE_UP_DEPTH", 10, 0, 10**9)
SCALE_IDLE_BEFORE_DOWN_MIN = envconfig.integer("SCALE_IDLE_BEFORE_DOWN_MIN", 10, 0, DAY_S // MINUTE_S)
SCALE_DOWN_WINDOW_MIN = envconfig.integer("SCALE_DOWN_WINDOW_MIN", 5, 0, DAY_S // MINUTE_S)
SCALE_TOLERANCE = envconfig.number("SCALE_TOLERANCE", 0.10, 0, 1)
SCALE_SPEND_FREEZE_PCT = envconfig.number("SCALE_SPEND_FREEZE_PCT", 90, 0, 1000)
SCALE_FORECAST_MIN = envconfig.integer("SCALE_FORECAST_MIN", 30, 1, DAY_S // MINUTE_S)
# How long a started worker takes to take jobs: the forecast is read that far past the next change.
SCALE_STARTUP_MIN = envconfig.number("SCALE_STARTUP_MIN", 2, 0, DAY_S // MINUTE_S)
SCALE_TICK_MIN = envconfig.integer("SCALE_TICK_MIN", 10, 1, DAY_S // MINUTE_S)
SCALE_SIGNAL_MAX_AGE_MIN = envconfig.number("SCALE_SIGNAL_MAX_AGE_MIN", 15, 0, 7 * DAY_S // MINUTE_S, low_allowed=False)
SCALE_HISTORY_DAYS = envconfig.integer("SCALE_HISTORY_DAYS", 8, 1, 366)
# Jobs a minute one worker finishes when django-q2's finished tasks cannot say (another platform's workers).
SCALE_WORKER_JOBS_PER_MIN = envconfig.number("SCALE_WORKER_JOBS_PER_MIN", 0, 0, 10**9)
SCALE_ACTUATOR = env.str("SCALE_ACTUATOR", default="record").strip().lower() or "record"
envconfig.require(
    SCALE_ACTUATOR in ("record", "qcluster", "command", "kubernetes"),
    "SCALE_ACTUATOR must be one of record, qcluster, command, kubernetes",
)
SCALE_COMMAND = env.str("SCALE_COMMAND", default="")
SCALE_ACTUAL_COMMAND = env.str("SCALE_ACTUAL_COMMAND", default="")
SCALE_COMMAND_TIMEOUT_S = envconfig.number("SCALE_COMMAND_TIMEOUT_S", 120, 0, HOUR_S, low_allowed=False)
envconfig.require(
    SCALE_ACTUATOR != "command" or "{desired}" in SCALE_COMMAND,
    "SCALE_COMMAND must be set and contain {desired} when SCALE_ACTUATOR=command",
)
SCALE_FAILURES_BEFORE_INCIDENT = envconfig.integer("SCALE_FAILURES_BEFORE_INCIDENT", 3, 1, 1000)
SCALE_K8S_NAMESPACE = env.str("SCALE_K8S_NAMESPACE", default="default")
SCALE_K8S_DEPLOYMENT = env.str("SCALE_K8S_DEPLOYMENT", default="")
SCALE_K8S_KUBECONFIG = env.str("SCALE_K8S_KUBECONFIG", default="")
SCALE_K8S_CONTEXT = env.str("SCALE_K8S_CONTEXT", default="")
envconfig.require(
    SCALE_ACTUATOR != "kubernetes" or bool(SCALE_K8S_DEPLOYMENT),
    "SCALE_K8S_DEPLOYMENT must name the Deployment when SCALE_ACTUATOR=kubernetes",
)
# The qcluster_pool supervisor re-reads the desired size this often (seconds).
SCALE_POOL_POLL_S = envconfig.number("SCALE_POOL_POLL_S", 5, 0, HOUR_S, low_allowed=False)
# How `manage.py qcluster_pool` (what dev.py start runs) runs the task queue. "single": one process
# queues the due schedules and forks a short-lived child per task, up to Q_WORKERS at once
# (echopilot.taskrunner): the embedded default, ~100 MB where a django-q2 cluster holds six processes
# of ~80 MB. "cluster": django-q2's clusters, as many as the autoscaler applies; needed with Redis
# and with SCALE_ACTUATOR=qcluster, and the default there.
TASK_RUNNER = envconfig.choice(
    "TASK_RUNNER", "cluster" if REDIS_URL or SCALE_ACTUATOR == "qcluster" else "single", ("single", "cluster")
)
envconfig.require(
    TASK_RUNNER == "cluster" or not (REDIS_URL or SCALE_ACTUATOR == "qcluster"),
    "TASK_RUNNER=single runs the ORM broker's queue in one process: it needs no REDIS_URL and a "
    "SCALE_ACTUATOR other than qcluster (use TASK_RUNNER=cluster)",
)

# --- Security scan (weekly, ops app) -------------------------------------------------------------------

# An admin dash key older than DASH_KEY_MAX_AGE_DAYS (key rotation, below) is a finding: rotate it.
# What pip-audit checks (the pinned packages the console runs on) and where it asks: "pypi" or "osv".
SECURITY_SCAN_REQUIREMENTS = env.path("SECURITY_SCAN_REQUIREMENTS", default=BASE_DIR / "requirements.txt")
SECURITY_SCAN_VULN_SERVICE = env.str("SECURITY_SCAN_VULN_SERVICE", default="pypi")
envconfig.require(SECURITY_SCAN_VULN_SERVICE in ("pypi", "osv"), "SECURITY_SCAN_VULN_SERVICE must be pypi or osv")
SECURITY_SCAN_AUDIT_TIMEOUT_S = envconfig.number("SECURITY_SCAN_AUDIT_TIMEOUT_S", 300, 1, DAY_S)

# --- Ops: the ops check, auto-recovery and uptime probes -------------------------------------------

# The whole ops check answers within this many seconds, however many of its checks hang.
OPS_CHECK_DEADLINE_S = envconfig.number("OPS_CHECK_DEADLINE_S", 9.0, 1, 60)
# How long the heartbeat task may take to come back from a qcluster before the check fails.
OPS_HEARTBEAT_TIMEOUT_S = envconfig.number("OPS_HEARTBEAT_TIMEOUT_S", 6.0, 0.5, 60)
# The host clock and the database clock may disagree by this much before the check warns (x3: fails).
OPS_CLOCK_TOLERANCE_S = envconfig.number("OPS_CLOCK_TOLERANCE_S", 2.0, 0, HOUR_S, low_allowed=False)
# The check judges the clocks of hosts that noted theirs within this many minutes; hosts quiet for
# longer (stopped, renamed, idle) are named but not judged.
OPS_HOST_CLOCK_RECENT_MIN = envconfig.integer("OPS_HOST_CLOCK_RECENT_MIN", 10, 2, DAY_S // MINUTE_S)
# A schedule whose next run is this far in the past counts as overdue.
OPS_SCHEDULE_GRACE_MIN = envconfig.integer("OPS_SCHEDULE_GRACE_MIN", 5, 1, DAY_S // MINUTE_S)
# With INCIDENT_AUTORECOVER the SLO watchdog runs ops recovery (through SLO_RECOVERY_HOOK).
INCIDENT_AUTORECOVER = env.bool("INCIDENT_AUTORECOVER", default=False)
if INCIDENT_AUTORECOVER:
    envconfig.require(
        SLO_RECOVERY_HOOK in ("slo.watchdog.record_only", "ops.recovery.watchdog_hook"),
        "INCIDENT_AUTORECOVER=true sets SLO_RECOVERY_HOOK itself: leave SLO_RECOVERY_HOOK empty",
    )
    SLO_RECOVERY_HOOK = "ops.recovery.watchdog_hook"
# A dotted path to `restart(dry_run: bool) -> str` for the worker pool this console runs: by default the
# scaling app's qcluster pool (which says when none runs here); empty: not in this console's hands.
OPS_WORKER_POOL_HOOK = env.str("OPS_WORKER_POOL_HOOK", default="scaling.pool.restart")
# Uptime probes: default interval and strikes of a new check, probes run at once, results kept.
UPTIME_INTERVAL_SEC = envconfig.integer("UPTIME_INTERVAL_SEC", 60, 60, DAY_S)
UPTIME_STRIKES = envconfig.integer("UPTIME_STRIKES", 2, 1, 100)
UPTIME_CONCURRENCY = envconfig.integer("UPTIME_CONCURRENCY", 16, 1, 256)
UPTIME_RETENTION_DAYS = envconfig.integer("UPTIME_RETENTION_DAYS", 31, 1, 3650)

# --- Backups, DR drills and log rotation ----------------------------------------------------------

BACKUP_DIR = envconfig.writable_directory("BACKUP_DIR", BASE_DIR / "backups")
BACKUP_KEEP_DAYS = envconfig.integer("BACKUP_KEEP_DAYS", 30, 1, 36_500)
# An operator's copy-off-the-host line, e.g. "rclone copy {path} offsite:echopilot/"; {path} and
# {name} are filled in, and it runs without a shell. Its failure pages.
BACKUP_UPLOAD_COMMAND = env.str("BACKUP_UPLOAD_COMMAND", default="")
BACKUP_UPLOAD_TIMEOUT_S = envconfig.integer("BACKUP_UPLOAD_TIMEOUT_S", 1800, 1, DAY_S)
# Where pg_dump / pg_restore live; empty: /usr/bin, then the newest /usr/lib/postgresql/*/bin.
PG_BIN_DIR = env.str("PG_BIN_DIR", default="")
LOG_KEEP_DAYS = envconfig.integer("LOG_KEEP_DAYS", 90, 1, 36_500)

# --- The audit chain ---------------------------------------------------------------------------------

# The chain's hashes are HMACs under this key, so rewriting the table alone cannot re-forge them.
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default=SECRET_KEY)
AUDIT_CHAIN_PAGE_MAX = envconfig.integer("AUDIT_CHAIN_PAGE_MAX", 1000, 1, 100_000)

# --- Key rotation ------------------------------------------------------------------------------------

# Keys older than this, or expiring within DASH_KEY_EXPIRY_WARN_DAYS, raise an incident (and are a scan finding).
DASH_KEY_MAX_AGE_DAYS = envconfig.integer("DASH_KEY_MAX_AGE_DAYS", 90, 1, 36_500)
DASH_KEY_EXPIRY_WARN_DAYS = envconfig.integer("DASH_KEY_EXPIRY_WARN_DAYS", 7, 0, 365)

# --- Retention analytics ------------------------------------------------------------------------------

ANALYTICS_BATCH_MAX = envconfig.integer("ANALYTICS_BATCH_MAX", 10_000, 1, 1_000_000)
