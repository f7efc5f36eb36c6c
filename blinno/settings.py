"""Settings for the Blinno money service, read from the environment (django-environ).

Development defaults are safe on a laptop; production (DEBUG off) refuses to start
without a SECRET_KEY and, unless explicitly allowed, without a webhook checksum key.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A default key only exists for development; production must bring its own.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.admin_apps.StaffAdminConfig",  # django.contrib.admin, with two-factor sign-in (accounts.admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework_api_key",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "import_export",
    "core",
    "accounts",
    "clickpesa",
    "payments",
    "revenue",
    "notifications",
    "monitoring",
    "backoffice",
    "api",
    "devtools",
]

MIDDLEWARE = [
    # First: X-Forwarded-Proto from a peer that is not a trusted proxy is dropped before anything reads it.
    "core.http.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.http.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "blinno.urls"
WSGI_APPLICATION = "blinno.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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

# PostgreSQL only: the ledger relies on its triggers, constraints and row locks.
# `make run` / `make test` start an embedded server and export DATABASE_URL when unset.
DATABASES = {"default": env.db("DATABASE_URL", default="postgres:///blinno")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Checked before each request's first query, except on the webhook URLs (blinno.wsgi.WebhookHandler).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg 3: bind parameters server-side and prepare a statement after it has run this many
# times on a connection. Together (either alone gains nothing) they spare PostgreSQL the
# parsing and planning of the hot path's statements; "none" for DB_PREPARE_THRESHOLD turns
# preparing off (a transaction-pooling proxy in front of PostgreSQL needs that).
_prepare_threshold = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
DATABASES["default"]["OPTIONS"] = {
    **DATABASES["default"].get("OPTIONS", {}),
    "server_side_binding": env.bool("DB_SERVER_SIDE_BINDING", default=True),
    "prepare_threshold": None if _prepare_threshold in ("", "none") else int(_prepare_threshold),
}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Times are stored in UTC and shown in Tanzania's time zone.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sw", "Kiswahili")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Africa/Dar_es_Salaam"
# Dates and times on staff pages: local time with the zone named ("2026-12-06 21:25 EAT").
FORMAT_MODULE_PATH = ["blinno.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Proxies: how many trusted reverse proxies append to X-Forwarded-For, and their addresses or
# networks. X-Forwarded-For and X-Forwarded-Proto are believed only from those peers (core.http);
# with no addresses, from nobody. Never trust the left-most, client-supplied entry.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXY_ADDRESSES = env.list("TRUSTED_PROXY_ADDRESSES", default=[])

# django-axes: lock an admin login after repeated failures, per user and address, and per user
# across addresses at a wider limit (accounts.lockout).
AXES_HANDLER = "accounts.lockout.AxesHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_USERNAME_FAILURE_LIMIT = env.int("AXES_USERNAME_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]  # in the order accounts.lockout reads them
# The client address by the project's one trusted-proxy rule (django-ipware is not installed,
# so AXES_IPWARE_* settings would be ignored and every login behind a proxy would share its address).
AXES_CLIENT_IP_CALLABLE = "core.http.client_address"
AXES_RESET_ON_SUCCESS = True

# Staff sign in through django-two-factor-auth (password, then an authenticator app's code or a
# recovery code). ADMIN_REQUIRE_2FA: the admin only for sessions verified by a second factor, and
# enrolment for staff without a device; on whenever DEBUG is off (accounts.E001 says so if not),
# off for `make run` and the tests.
LOGIN_URL = "two_factor:login"
LOGIN_REDIRECT_URL = "admin:index"
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=not DEBUG)
TWO_FACTOR_PATCH_ADMIN = False
OTP_TOTP_ISSUER = "Blinno back-office"

# Admin exports (django-import-export): a cell must never run as a spreadsheet formula. The
# resources (revenue.admin.exports) quote every text cell that could start one; the library's
# own escaping is off because it turns every cell, numbers and dates too, into text.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

# Production hardening; `manage.py check --deploy` is clean with DEBUG off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    if TRUSTED_PROXY_COUNT > 0 and TRUSTED_PROXY_ADDRESSES:
        # core.http.ForwardedHeadersMiddleware removes the header from every other peer.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"

# Email
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / ".data" / "emails"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Blinno <no-reply@blinno.example>")
# With DEBUG off, a backend that delivers nothing (console, file, memory) is a deploy check
# error (notifications.E001) unless this says it is meant.
EMAIL_ALLOW_UNDELIVERED = env.bool("EMAIL_ALLOW_UNDELIVERED", default=False)
FINANCE_EMAILS = env.list("FINANCE_EMAILS", default=[])

# Cache: Redis when configured (shared by web and workers), else local memory.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery. Without a broker, tasks run in-process (eagerly) when enqueued after commit.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Several deployments (or test runs) sharing one Redis keep apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not hang a webhook: publishing gives up fast; sweepers catch up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Redis sockets get their own timeouts: without them a broker that drops packets holds a
# publish for minutes (the kernel's connect retries) and one that stops answering, forever.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A worker on several queues empties them in the order it lists them (blinno/celery.py: the
    # settle queue first), instead of taking one message from each in turn.
    "queue_order_strategy": "priority",
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = "UTC"
# Payout runs (revenue.runs): proposed weekly on this day at this time in Tanzania (EAT, UTC+3 all
# year), then trimmed and approved by staff.
PAYOUT_RUN_DAY_OF_WEEK = env.str("PAYOUT_RUN_DAY_OF_WEEK", default="thu")
PAYOUT_RUN_TIME = env.str("PAYOUT_RUN_TIME", default="09:00")
_run_hour, _, _run_minute = PAYOUT_RUN_TIME.partition(":")
if not (_run_hour.isdigit() and _run_minute.isdigit() and 3 <= int(_run_hour) <= 23 and int(_run_minute) < 60):
    raise ImproperlyConfigured("PAYOUT_RUN_TIME must be HH:MM between 03:00 and 23:59 (EAT), e.g. 09:00.")
PAYOUT_RUN_HOUR_UTC, PAYOUT_RUN_MINUTE = int(_run_hour) - 3, int(_run_minute)
CELERY_BEAT_SCHEDULE = {
    "notifications-sweep": {"task": "notifications.tasks.notifications_sweep", "schedule": 120.0},
    "webhooks-retry-sweep": {"task": "clickpesa.tasks.webhook_events_retry_sweep", "schedule": 120.0},
    # Settles what a lost nudge (broker hiccup, killed worker) left RECEIVED.
    "webhooks-settle-sweep": {"task": "clickpesa.tasks.webhook_settle", "schedule": 30.0},
    "earnings-release": {"task": "revenue.tasks.earnings_release_due", "schedule": crontab(minute=5)},
    "payouts-submit-sweep": {"task": "revenue.tasks.payouts_submit_sweep", "schedule": 60.0},
    "payments-poll": {"task": "payments.tasks.payments_poll", "schedule": 300.0},
    "payments-recheck": {"task": "payments.tasks.payments_recheck", "schedule": 60.0},
    "payouts-poll": {"task": "revenue.tasks.payouts_poll", "schedule": 300.0},
    # Hourly, so a missed run costs an hour: the balance reads sum entries since the last closed day.
    "ledger-close-days": {"task": "revenue.tasks.ledger_close_days", "schedule": crontab(minute=3)},
    "volumes-refresh": {"task": "backoffice.tasks.volumes_refresh", "schedule": crontab(minute=7)},
    "ledger-audit-nightly": {"task": "revenue.tasks.ledger_audit", "schedule": crontab(hour=23, minute=30)},
    "payout-run-propose": {
        "task": "revenue.run_tasks.payout_run_propose",
        "schedule": crontab(day_of_week=PAYOUT_RUN_DAY_OF_WEEK, hour=PAYOUT_RUN_HOUR_UTC, minute=PAYOUT_RUN_MINUTE),
    },
    "payout-runs-dispatch-sweep": {"task": "revenue.run_tasks.payout_runs_dispatch_sweep", "schedule": 30.0},
    # 03:00 UTC on the 1st is 06:00 in Tanzania: last month is complete.
    "statements-monthly": {
        "task": "revenue.tasks.statements_send_monthly",
        "schedule": crontab(day_of_month=1, hour=3, minute=0),
    },
    "monitoring-alerts": {"task": "monitoring.tasks.monitoring_alerts_check", "schedule": 300.0},
    "storefront-events-sweep": {"task": "notifications.tasks.storefront_events_sweep", "schedule": 60.0},
    "api-idempotency-prune": {"task": "api.tasks.idempotency_records_prune", "schedule": crontab(minute=17)},
    "webhook-bodies-prune": {"task": "clickpesa.tasks.webhook_bodies_prune", "schedule": crontab(hour=2, minute=15)},
}

# ClickPesa
CLICKPESA_BASE_URL = env.str("CLICKPESA_BASE_URL", default="https://api.clickpesa.com/third-parties")
CLICKPESA_CLIENT_ID = env.str("CLICKPESA_CLIENT_ID", default="")
CLICKPESA_API_KEY = env.str("CLICKPESA_API_KEY", default="")
CLICKPESA_CHECKSUM_KEY = env.str("CLICKPESA_CHECKSUM_KEY", default="")
CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = env.bool("CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS", default=False)
CLICKPESA_TIMEOUT_SECONDS = env.float("CLICKPESA_TIMEOUT_SECONDS", default=15.0)
CLICKPESA_WEBHOOK_MAX_BYTES = env.int("CLICKPESA_WEBHOOK_MAX_BYTES", default=64 * 1024)
CLICKPESA_WEBHOOK_MAX_ATTEMPTS = env.int("CLICKPESA_WEBHOOK_MAX_ATTEMPTS", default=6)
# A refused request keeps only this much of its body (and the whole body's SHA-256): anyone can
# POST junk, and the table must not grow at the sender's pace.
CLICKPESA_REJECTED_BODY_BYTES = env.int("CLICKPESA_REJECTED_BODY_BYTES", default=4096)
# Refusals a client address may cause before further refusals are answered 429 and not stored
# (django-ratelimit's "count/period" syntax). Valid deliveries are never limited.
CLICKPESA_WEBHOOK_REFUSALS_RATE = env.str("CLICKPESA_WEBHOOK_REFUSALS_RATE", default="60/m")
# Bodies of refused and ignored events are emptied after this many days (the rows, their reason
# and hash stay, so the counts do).
CLICKPESA_WEBHOOK_BODY_RETENTION_DAYS = env.int("CLICKPESA_WEBHOOK_BODY_RETENTION_DAYS", default=30)
# "queued": a webhook is answered 200 once stored and committed, and settled by the
# webhook_settle task in batches; "inline": settled in the request before the answer. A
# broker-less deployment has nobody to settle later, so it defaults to inline.
CLICKPESA_WEBHOOK_SETTLE = env.str("CLICKPESA_WEBHOOK_SETTLE", default="queued" if CELERY_BROKER_URL else "inline")
if CLICKPESA_WEBHOOK_SETTLE not in ("inline", "queued"):
    raise ImproperlyConfigured("CLICKPESA_WEBHOOK_SETTLE must be 'inline' or 'queued'.")
# Events one settler transaction claims and settles together.
CLICKPESA_SETTLE_BATCH_SIZE = env.int("CLICKPESA_SETTLE_BATCH_SIZE", default=50)
CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES = env.int("CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES", default=15)
CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES = env.int("CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES", default=30)
# Completed payments are asked about again (did ClickPesa reverse or refund them?) at these ages,
# in hours, a decaying schedule; the last one ends the window (14 days by default).
CLICKPESA_RECHECK_SCHEDULE_HOURS = env.list(
    "CLICKPESA_RECHECK_SCHEDULE_HOURS", cast=float, default=[1, 6, 24, 72, 168, 336]
)
# ClickPesa allows this many requests a minute per address, every endpoint together.
CLICKPESA_REQUESTS_PER_MINUTE = env.int("CLICKPESA_REQUESTS_PER_MINUTE", default=120)
# The shared limiter (clickpesa.ratelimit): CLICKPESA_RATE_LIMIT_REQUESTS requests per
# CLICKPESA_RATE_WINDOW_SECONDS from every process together, one create-payout per cool-down,
# waiting at most CLICKPESA_RATE_LIMIT_WAIT_SECONDS for a request slot.
CLICKPESA_RATE_LIMIT_REQUESTS = env.int("CLICKPESA_RATE_LIMIT_REQUESTS", default=CLICKPESA_REQUESTS_PER_MINUTE)
CLICKPESA_RATE_WINDOW_SECONDS = env.float("CLICKPESA_RATE_WINDOW_SECONDS", default=60.0)
CLICKPESA_PAYOUT_COOLDOWN_SECONDS = env.float("CLICKPESA_PAYOUT_COOLDOWN_SECONDS", default=60.0)
CLICKPESA_RATE_LIMIT_WAIT_SECONDS = env.float("CLICKPESA_RATE_LIMIT_WAIT_SECONDS", default=10.0)
CLICKPESA_RATE_LIMIT_REDIS_URL = env.str("CLICKPESA_RATE_LIMIT_REDIS_URL", default=REDIS_URL)
# Re-checks use only what is left of a minute's requests above this many (kept for payments and payouts).
CLICKPESA_RECHECK_RESERVE_PER_MINUTE = env.int("CLICKPESA_RECHECK_RESERVE_PER_MINUTE", default=60)
# ClickPesa's tokens live one hour; reuse one for a little less so none expires in flight.
CLICKPESA_TOKEN_CACHE_SECONDS = env.int("CLICKPESA_TOKEN_CACHE_SECONDS", default=3300)
# The local fake ClickPesa (`manage.py clickpesa_simulator`) refuses to start with DEBUG off unless this is on.
CLICKPESA_SIMULATOR_ENABLED = env.bool("CLICKPESA_SIMULATOR_ENABLED", default=False)

# Money rules (Blinno's current pricing). Rates are fractions of the line subtotal.
PLATFORM_FEE_RATES = {
    "MARKETPLACE": Decimal("0.08"),
    "DIGITAL_PRODUCT": Decimal("0.06"),
    "SERVICE_BOOKING": Decimal("0.10"),
    "COMMISSION": Decimal("0.12"),
    "SUBSCRIPTION": Decimal("0.05"),
    "TIP": Decimal("0.03"),
}
PLATFORM_FEE_MINIMUM = {"TZS": Decimal("500.00"), "USD": Decimal("0.20")}
PROCESSING_FEE_RATE = Decimal("0.025")
PROCESSING_FEE_FIXED = {"TZS": Decimal("750.00"), "USD": Decimal("0.30")}
PAYOUT_MINIMUM = {"TZS": Decimal("5000.00"), "USD": Decimal("5.00")}
EARNINGS_HOLD_DAYS = env.int("EARNINGS_HOLD_DAYS", default=0)
# Four eyes (revenue.approvals): above these amounts a payout or an adjustment waits for a second
# person; no adjustment may exceed ADJUSTMENT_MAXIMUM. Per currency; TZS and USD.
PAYOUT_APPROVAL_THRESHOLD = {
    "TZS": Decimal(env.str("PAYOUT_APPROVAL_THRESHOLD_TZS", default="5000000")),
    "USD": Decimal(env.str("PAYOUT_APPROVAL_THRESHOLD_USD", default="2000")),
}
ADJUSTMENT_APPROVAL_THRESHOLD = {
    "TZS": Decimal(env.str("ADJUSTMENT_APPROVAL_THRESHOLD_TZS", default="100000")),
    "USD": Decimal(env.str("ADJUSTMENT_APPROVAL_THRESHOLD_USD", default="40")),
}
# Refunds to buyers: whether Blinno gives its platform fee back ("refund") or keeps it ("keep"), per reason.
REFUND_PLATFORM_FEE_POLICY = {
    "CUSTOMER_REQUEST": env.str("REFUND_FEE_POLICY_CUSTOMER_REQUEST", default="keep"),
    "NOT_DELIVERED": env.str("REFUND_FEE_POLICY_NOT_DELIVERED", default="refund"),
    "DUPLICATE": env.str("REFUND_FEE_POLICY_DUPLICATE", default="refund"),
    "FRAUD": env.str("REFUND_FEE_POLICY_FRAUD", default="refund"),
    "OTHER": env.str("REFUND_FEE_POLICY_OTHER", default="keep"),
}
ADJUSTMENT_MAXIMUM = {
    "TZS": Decimal(env.str("ADJUSTMENT_MAXIMUM_TZS", default="10000000")),
    "USD": Decimal(env.str("ADJUSTMENT_MAXIMUM_USD", default="4000")),
}
# The staff home page lists a payout as waiting too long past this many minutes pending or in flight.
BACKOFFICE_PAYOUT_WAIT_MINUTES = env.int("BACKOFFICE_PAYOUT_WAIT_MINUTES", default=60)


def _dated_rates(name: str, default: str) -> list[tuple[date, Decimal]]:
    """A rate that changes by law on known dates: "2015-07-01:0.18,2027-01-01:0.16", oldest first."""
    rates = []
    for item in env.list(name, default=[default]):
        day, _, rate = item.partition(":")
        try:
            rates.append((date.fromisoformat(day.strip()), Decimal(rate.strip())))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not FROM_DATE:RATE ({exc}).") from None
    return sorted(rates)


# Tax, Mainland Tanzania (revenue.tax). Each rate applies from its date until the next one's.
# VAT on Blinno's platform and processing fees, booked at capture into VAT_PAYABLE; the fees as
# quoted include it (VAT_FEES_INCLUSIVE) or have it added on top.
VAT_RATES = _dated_rates("VAT_RATES", "2015-07-01:0.18")
VAT_FEES_INCLUSIVE = env.bool("VAT_FEES_INCLUSIVE", default=True)
# Withholding tax on payouts to resident digital content creators (Finance Act 2024), withheld
# from each payout into WHT_PAYABLE when enabled.
WHT_ENABLED = env.bool("WHT_ENABLED", default=False)
WHT_RATES = _dated_rates("WHT_RATES", "2024-07-01:0.05")
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)

# Monitoring (monitoring.alerts): when staff are alerted, and who may scrape /metrics (empty: anyone,
# which is a deploy check error with DEBUG off: monitoring.E001).
MONITORING_METRICS_TOKEN = env.str("MONITORING_METRICS_TOKEN", default="")
MONITORING_WEBHOOK_FAILURE_WINDOW_MINUTES = env.int("MONITORING_WEBHOOK_FAILURE_WINDOW_MINUTES", default=15)
MONITORING_WEBHOOK_FAILURE_RATE = env.float("MONITORING_WEBHOOK_FAILURE_RATE", default=0.2)
MONITORING_WEBHOOK_FAILURE_MIN_EVENTS = env.int("MONITORING_WEBHOOK_FAILURE_MIN_EVENTS", default=20)
MONITORING_PAYOUT_STUCK_AFTER_HOURS = env.int("MONITORING_PAYOUT_STUCK_AFTER_HOURS", default=24)
MONITORING_ALERT_REPEAT_HOURS = env.int("MONITORING_ALERT_REPEAT_HOURS", default=6)
# Support is alerted when an acknowledged webhook waits this long to be settled.
MONITORING_UNSETTLED_AFTER_MINUTES = env.int("MONITORING_UNSETTLED_AFTER_MINUTES", default=5)

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The storefront API (/api/v1/): requests per API key per period by its scope (DRF's rate
# syntax), on the shared cache; how long an Idempotency-Key is kept, and how long a second
# request with a key still in progress waits for the first's answer before a 409.
API_THROTTLE_RATES = {
    "storefront": env.str("API_THROTTLE_STOREFRONT", default="3000/min"),
    "read": env.str("API_THROTTLE_READ", default="600/min"),
}
API_IDEMPOTENCY_KEEP_HOURS = env.int("API_IDEMPOTENCY_KEEP_HOURS", default=48)
API_IDEMPOTENCY_WAIT_SECONDS = env.float("API_IDEMPOTENCY_WAIT_SECONDS", default=10.0)
# A claim older than this belongs to a request that died; another request may take the key over.
API_IDEMPOTENCY_LEASE_SECONDS = env.int("API_IDEMPOTENCY_LEASE_SECONDS", default=120)

# Events to the storefront (notifications.storefront): where they are POSTed (empty: none are
# written), the whsec_ secret that signs them (Standard Webhooks), attempts before one is DEAD.
STOREFRONT_WEBHOOK_URL = env.str("STOREFRONT_WEBHOOK_URL", default="")
STOREFRONT_WEBHOOK_SECRET = env.str("STOREFRONT_WEBHOOK_SECRET", default="")
STOREFRONT_WEBHOOK_MAX_ATTEMPTS = env.int("STOREFRONT_WEBHOOK_MAX_ATTEMPTS", default=10)

SPECTACULAR_SETTINGS = {
    "TITLE": "Blinno money service",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's scripts served from here (drf-spectacular-sidecar), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
