"""Django settings, built from the one resolved configuration (kubenode.config)."""

import importlib.util
import os
import secrets
import sys
from pathlib import Path

from accounts.conf import login_settings
from kubenode import config as kconfig

try:
    CONFIG = kconfig.load()
except kconfig.ConfigError as exc:
    sys.stderr.write(f"kubenode: configuration error: {exc}\n")
    raise SystemExit(2) from None

BASE_DIR = kconfig.BASE_DIR
DATA_DIR = Path(CONFIG["server.data_dir"])

DEBUG = CONFIG["server.debug"]


def _debug_secret_key() -> str:
    """Without SECRET_KEY only DEBUG runs (config.load refuses otherwise). The generated key is kept in the data
    directory so every process of the machine (daphne, manage.py commands) derives the same kubeconfig
    encryption key; a per-process key would make stored kubeconfigs unreadable to the other processes."""
    path = DATA_DIR / "debug-secret-key"
    try:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key
    except FileExistsError:
        return path.read_text().strip()
    except OSError:
        return secrets.token_urlsafe(50)


SECRET_KEY = CONFIG["server.secret_key"] or _debug_secret_key()
SECRET_KEY_FALLBACKS = CONFIG["server.secret_key_fallbacks"]
_weak_key = kconfig.weak_secret_key(SECRET_KEY)
if _weak_key and not DEBUG:
    sys.stderr.write(f"kubenode: configuration error: server.secret_key (env SECRET_KEY) {_weak_key}\n")
    raise SystemExit(2)
ALLOWED_HOSTS = CONFIG["server.allowed_hosts"]
CSRF_TRUSTED_ORIGINS = CONFIG["server.csrf_trusted_origins"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "kubenode",
    "nodes",
    "progress",
    "ninja",  # the API's OpenAPI page, served from its own static files
    "api",
    "accounts",
]
# The simulated API server (`manage.py kube_sim`) is a development and test tool: its app is installed when the
# package is present, which it is in a checkout and never in the production image.
if importlib.util.find_spec("kubesim") is not None:
    INSTALLED_APPS.append("kubesim")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "kubenode.locale.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kubenode.middleware.ControlCharacterMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "kubenode.urls"
ASGI_APPLICATION = "kubenode.asgi.application"

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
                "django.template.context_processors.i18n",
                "kubenode.locale.context",
                "kubenode.context_processors.permissions",
            ],
        },
    },
]


def _database(cfg: kconfig.Config) -> dict:
    if cfg.database_type == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": cfg["database.database"],
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    conninfo = cfg.postgres_conninfo(application_name=f"kubenode:{cfg.replica_id}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": conninfo.pop("dbname"),
        "HOST": conninfo.pop("host"),
        "PORT": str(conninfo.pop("port")),
        "USER": conninfo.pop("user"),
        "PASSWORD": conninfo.pop("password", ""),
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            **conninfo,  # sslmode, application_name
            "connect_timeout": 10,
            # a connection behind a dead route fails within ~25 s instead of hanging a worker
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "pool": {
                "min_size": cfg["database.max_idle_conns"],
                "max_size": cfg["database.max_open_conns"],
                "max_lifetime": cfg["database.max_lifetime"],
                "timeout": 10,
            },
        },
    }


DATABASES = {"default": _database(CONFIG)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# progress.listener=embedded (the default): consumers sit on this process's in-memory layer; doorbells from other
# processes reach it through this process's own listener (PostgreSQL LISTEN, Redis through channels-redis, or
# polling), so a broken Redis or database connection never takes the WebSockets down with it.
# progress.listener=standalone: consumers sit on a channels-redis layer (progress.redis.*) that the
# `progress_listen` processes feed; this process opens no LISTEN connection.
if CONFIG["progress.listener"] == "standalone":
    CHANNEL_LAYERS = {"default": {"BACKEND": "progress.notify.layer.SharedLayer"}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "kubenode.channel_layer.InMemoryLayer", "CONFIG": {"capacity": 1000}}}

# Logins: local passwords, and OIDC / LDAP when enabled (auth.*), their groups mapped to roles (accounts.roles).
try:
    _LOGINS = login_settings(CONFIG)
except ValueError as exc:
    sys.stderr.write(f"kubenode: configuration error: {exc}\n")
    raise SystemExit(2) from None
globals().update({k: v for k, v in _LOGINS.items() if k != "LOGIN_BACKENDS"})

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(CONFIG["session.max_age"])
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# HTTPS (server.https), directly or behind a TLS-terminating proxy (server.proxy_ssl_header)
if CONFIG["server.proxy_ssl_header"]:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + CONFIG["server.proxy_ssl_header"].upper().replace("-", "_"), "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = CONFIG["server.https"]
SECURE_SSL_REDIRECT = CONFIG["server.https"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapes speak plain HTTP
SECURE_HSTS_SECONDS = CONFIG["server.hsts_seconds"] if CONFIG["server.https"] else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = CONFIG["server.hsts_subdomains"]
if not CONFIG["server.hsts_subdomains"]:  # the operator chose HSTS for this host only
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy: the pages load only their own scripts, styles, images and fonts; the progress bars set
# their width in a style attribute.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if CONFIG["auth.oidc.enabled"] and CONFIG["auth.oidc.end_session_endpoint"]:
    # the logout form's answer redirects to the provider's end_session_endpoint, and form-action covers redirects
    from urllib.parse import urlsplit as _urlsplit

    _end = _urlsplit(CONFIG["auth.oidc.end_session_endpoint"])
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_end.scheme}://{_end.netloc}")

# Sign-in lockout (django-axes): per user and per address, configurable; admins unlock in the admin
AXES_FAILURE_LIMIT = CONFIG["auth.lockout_failures"]
AXES_COOLOFF_TIME = CONFIG["auth.lockout_duration"] / 3600  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "kubenode.lockout.locked_out"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password"]
AUTHENTICATION_BACKENDS = [
    "kubenode.lockout.LockoutBackend",
    *_LOGINS["LOGIN_BACKENDS"],  # local passwords, then OIDC and LDAP when enabled (accounts.conf)
]

# Languages (docs/i18n.md): the user's remembered choice, else the browser's Accept-Language, else
# server.language_code (kubenode.locale); only server.languages are offered. Django's own LANGUAGE_CODE stays English:
# it is the language of everything outside a page (management commands, logs, background threads).
# Translations: locale/<lang>/LC_MESSAGES/*.po, compiled to .mo by the set-up (scripts/compile-messages.sh).
LANGUAGE_CODE = "en"
PAGE_LANGUAGE_CODE = CONFIG["server.language_code"]
OFFERED_LANGUAGES = CONFIG["server.languages"]
LANGUAGES = [(code, kconfig.SUPPORTED_LANGUAGES[code])
             for code in dict.fromkeys([*CONFIG["server.languages"], "en"])]  # English: the language outside pages
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = CONFIG["server.time_zone"]
USE_I18N = True
USE_TZ = True
# Numbers on pages grouped as the page's language writes them (en 12,345; zh-hans 12345, Django's zh_Hans formats);
# numbers in attributes, addresses and form values are written with |unlocalize (docs/i18n.md)
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(replica)s] %(message)s"},
        "json": {"()": "kubenode.logs.JsonFormatter"},
    },
    "filters": {"replica": {"()": "kubenode.logs.ReplicaFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": CONFIG["log.format"],
                    "filters": ["replica"]},
    },
    "root": {"handlers": ["console"], "level": CONFIG["log.level"]},
    "loggers": {
        "django": {"level": "INFO" if CONFIG["log.level"] == "DEBUG" else CONFIG["log.level"],
                   "propagate": True},
        "kubernetes": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# A batch posts one field per selected node: allow the largest selection we support (5,000 nodes) and then some.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000
