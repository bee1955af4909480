"""Upkeep settings: one file, driven by the environment (see the README's configuration table)."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("UPKEEP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)
# HTTPS on means: redirect to https, secure cookies, HSTS. Off for a laptop on http://127.0.0.1.
HTTPS = envbool("UPKEEP_HTTPS", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; otherwise a random key kept in var/secret_key.

    The file keeps sessions valid across restarts of a single-machine install. A deployment with
    several hosts must set SECRET_KEY so that every process signs with the same key.
    """
    key = envstr("SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long")
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_q",
    "console",
    "accounts",
    "audit",
    "notifications",
    "releases",
    "monitoring",
    "backups",
    "maintenance",
    "security",
    "performance",
    "dbhealth",
    "fleet",
    "flags",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "console.context_processors.console",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        envstr("DATABASE_URL", "sqlite:///var/upkeep.sqlite3"), base_dir=BASE_DIR
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that tests with threads and processes share one real database.
    # The suffix keeps two test runs in one checkout from sharing a file.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-{envstr('UPKEEP_TEST_DB_SUFFIX', 'default')}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = envstr("CACHE_URL", "locmem://")
if CACHE_URL.startswith("redis://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
        }
    }
elif CACHE_URL.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use locmem:// or redis://host:port/db")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
# Failed logins allowed per username and per client address within the window.
LOGIN_FAILURE_LIMIT = envint("UPKEEP_LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = envint("UPKEEP_LOGIN_FAILURE_WINDOW", 900, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = envbool("UPKEEP_STATIC_FINDERS", True)
WHITENOISE_MANIFEST_STRICT = False
MEDIA_ROOT = VAR_DIR / "media"
# Where bundles and backup repositories live; each app makes its own folder inside.
DATA_DIR = Path(envstr("UPKEEP_DATA_DIR", str(VAR_DIR / "data")))

# Bundle uploads: limits checked before anything is stored (zip bombs, oversized bundles).
RELEASES_MAX_UPLOAD_BYTES = envint("UPKEEP_MAX_UPLOAD_MB", 100, minimum=1) * 1024 * 1024
RELEASES_MAX_FILES = envint("UPKEEP_BUNDLE_MAX_FILES", 5000, minimum=1)
RELEASES_MAX_UNCOMPRESSED_BYTES = (
    envint("UPKEEP_BUNDLE_MAX_UNCOMPRESSED_MB", 200, minimum=1) * 1024 * 1024
)
RELEASES_MAX_COMPRESSION_RATIO = envint("UPKEEP_BUNDLE_MAX_RATIO", 200, minimum=2)
# Backups: a structural verification after every backup unless turned off. The repository key
# itself (UPKEEP_BACKUP_KEY, base64 of 32 bytes) is read by backups.crypto straight from the
# environment so that it never sits in a settings object.
BACKUP_VERIFY_AFTER = envbool("UPKEEP_BACKUP_VERIFY_AFTER", True)
# Maintenance runs: heartbeat interval and the lease a heartbeat renews.
MAINTENANCE_HEARTBEAT_SECONDS = envint("UPKEEP_RUN_HEARTBEAT", 2, minimum=1)
MAINTENANCE_LEASE_SECONDS = envint("UPKEEP_RUN_LEASE", 10, minimum=2)

# Email: SMTP when EMAIL_HOST is set, otherwise messages are written to files in var/mail so a
# laptop install shows what would have been sent without pretending it reached anyone.
EMAIL_HOST = envstr("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "upkeep@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"

# Webhook deliveries: attempts and the first back-off step (doubling each time).
WEBHOOK_TIMEOUT_SECONDS = envint("UPKEEP_WEBHOOK_TIMEOUT", 10, minimum=1)
NOTIFY_MAX_ATTEMPTS = envint("UPKEEP_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
NOTIFY_BACKOFF_SECONDS = envint("UPKEEP_NOTIFY_BACKOFF", 30, minimum=1)

# django-q2 is only the executor (see MAINTENANCE.md in the briefs): the console keeps its own
# run records, retries and leases. Hence one attempt, failures acknowledged, no catch-up, and a
# broker lease (`retry`) longer than any task may run so a slow task is never handed out twice.
TASK_TIMEOUT_SECONDS = envint("UPKEEP_TASK_TIMEOUT", 3600, minimum=10)
Q_CLUSTER = {
    "name": "upkeep",
    "workers": envint("UPKEEP_WORKERS", 2, minimum=1),
    "timeout": TASK_TIMEOUT_SECONDS,
    "retry": TASK_TIMEOUT_SECONDS + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "queue_limit": 4,
    "bulk": 1,
    "orm": "default",
    "poll": 0.5,
    "save_limit": 1000,
    "label": "Tasks",
}
# Seconds without a heartbeat after which the worker or controller counts as not running.
LIVENESS_STALE_SECONDS = envint("UPKEEP_LIVENESS_STALE", 60, minimum=5)
CONTROLLER_TICK_SECONDS = 1.0

# Security. `manage.py check --deploy` with DEBUG=0 and UPKEEP_HTTPS=1 must report nothing.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("UPKEEP_SESSION_SECONDS", 12 * 3600, minimum=60)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if envbool("UPKEEP_BEHIND_PROXY", False):
    # Only behind a proxy that strips and sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
