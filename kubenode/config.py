"""One resolved configuration for the whole process.

Precedence: environment > YAML config file > defaults.  The file is the one named by
``KUBENODE_CONFIG``; when that is unset, the first of :data:`CONFIG_FILE_LOCATIONS` that
exists (``configs/config.yaml`` in the working directory, then ``/etc/kubenode/config.yaml``).
Every value remembers where it came from, so ``config_show`` and the start-up banner
can say so, and an invalid value stops start-up with one line naming the key, the
value and its source.  Keys the file has and variables the environment has that mean
nothing here (``DB_*``, ``DATABASE_*``, ``PROGRESS_*``) become warnings naming the
nearest known key (``Config.warnings``).

Django's ``DATABASES`` and every connection opened later (the LISTEN connection above all)
are built from the object returned by :func:`load`.

Adding a key is one line in :data:`KEYS` (each area keeps its keys in its own block); it is
then read from the file and the environment, shown by ``config_show`` and the banner, and
listed in docs/configuration.md (``config_show --reference``).
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import environ
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent

DATABASE_TYPES = {"sqlite": "sqlite", "sqlite3": "sqlite", "postgres": "postgres",
                  "postgresql": "postgres", "pgsql": "postgres"}
NOTIFY_TYPES = ("memory", "postgres", "redis", "polling")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LISTENER_MODES = ("embedded", "standalone")
# The languages kubenode has translations for (Django language codes; locale/<name>/ holds each translation).
SUPPORTED_LANGUAGES = {"en": "English", "zh-hans": "简体中文"}


# Read when KUBENODE_CONFIG is unset, the first that exists (a relative path is relative to the working directory).
CONFIG_FILE_LOCATIONS = ("configs/config.yaml", "/etc/kubenode/config.yaml")
# Environment variables with these prefixes are ours: an unknown one is a warning (a typo, or a key of another
# system that means nothing here).
OWN_ENV_PREFIXES = ("DB_", "DATABASE_", "PROGRESS_")
# Environment variables with our prefixes that are read elsewhere (not through KEYS).
OTHER_KNOWN_ENV = {"DATABASE_URL"}
# Keys the old system (kube-node-manager) had that mean nothing here: why, and what to use instead.
RETIRED = {
    "progress.redis.enabled": ("Redis is used exactly when progress.notify_type is redis", "progress.notify_type"),
    "PROGRESS_REDIS_ENABLED": ("Redis is used exactly when progress.notify_type is redis", "PROGRESS_NOTIFY_TYPE"),
}
# The keys that say "connect to a PostgreSQL server": set without a type, they mean database.type=postgres.
CONNECTION_KEYS = ("database.host", "database.port", "database.username", "database.password")


class ConfigError(Exception):
    """A configuration value that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Value:
    key: str
    value: Any
    source: str
    secret: bool = False

    def shown(self) -> Any:
        if self.secret:
            return "set" if self.value not in (None, "", []) else "not set"
        return self.value

    def __repr__(self) -> str:  # error pages and logs show reprs: a secret is never in one
        return f"Value(key={self.key!r}, value={self.shown()!r}, source={self.source!r})"


# --- parsers: each takes the raw value and returns the typed one, or raises ValueError


def _str(raw: Any) -> str:
    return "" if raw is None else str(raw)


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("is not a whole number")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError("is not a whole number")
    return int(text)


def _port(raw: Any) -> int:
    try:
        port = _int(raw)
    except ValueError:
        raise ValueError("is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError("is not a port number (1-65535)")
    return port


def _port_or_zero(raw: Any) -> int:
    if _int_or_none(raw) == 0:
        return 0
    return _port(raw)


def _int_or_none(raw: Any) -> int | None:
    try:
        return _int(raw)
    except ValueError:
        return None


def _positive_int(raw: Any) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _non_negative_int(raw: Any) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("is not a boolean (true/false)")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def _duration_seconds(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("is not a duration (e.g. 300, 30s, 5m, 1h)")
    if isinstance(raw, (int, float)):
        return float(raw)
    match = _DURATION.match(str(raw))
    if not match:
        raise ValueError("is not a duration (e.g. 300, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _list(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(item).strip() for item in raw if str(item).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _choice(choices, aliases: dict | None = None) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if aliases and text in aliases:
            return aliases[text]
        if text in choices:
            return text
        raise ValueError(f"is not one of: {', '.join(choices)}")

    return parse


def _upper_choice(choices) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().upper()
        if text not in choices:
            raise ValueError(f"is not one of: {', '.join(choices)}")
        return text

    return parse


def _language(raw: Any) -> str:
    text = str(raw).strip().lower().replace("_", "-")
    text = {"zh": "zh-hans", "zh-cn": "zh-hans", "en-us": "en"}.get(text, text)
    if text not in SUPPORTED_LANGUAGES:
        raise ValueError(f"is not one of: {', '.join(SUPPORTED_LANGUAGES)}")
    return text


def _languages(raw: Any) -> list[str]:
    codes = [_language(item) for item in _list(raw)]
    if not codes:
        raise ValueError("names no language")
    return list(dict.fromkeys(codes))


def _time_zone(raw: Any) -> str:
    import zoneinfo

    text = str(raw).strip()
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a time zone name (e.g. UTC, Asia/Shanghai)") from None
    return text


def _host_port(raw: Any) -> str:
    text = str(raw).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("is not host:port")
    _port(port)
    return text


def _host_port_list(raw: Any) -> list[str]:
    return [_host_port(item) for item in _list(raw)]


@dataclass(frozen=True)
class Key:
    """One configuration key: its YAML path, environment names, parser and default."""

    key: str
    parse: Callable[[Any], Any]
    default: Any = None
    env: tuple[str, ...] = ()
    secret: bool = False
    doc: str = ""


# Secret keys shipped as examples (deploy/): never accepted outside DEBUG.
EXAMPLE_SECRET_KEYS = frozenset({
    "example-only-replace-me-example-only-replace-me-example-only",
    "change-me-to-50-random-characters-change-me-to-50-random-characters",
})
MIN_SECRET_KEY_LENGTH = 50


def weak_secret_key(key: str) -> str:
    """Why `key` must not protect a production site (shorter than 50 characters, or an example), or ""."""
    if key in EXAMPLE_SECRET_KEYS or "change-me" in key or "replace-me" in key:
        return "is the example from deploy/: set SECRET_KEY to a long random value of your own"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return (f"is {len(key)} characters long: use at least {MIN_SECRET_KEY_LENGTH} random characters "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')")
    return ""


# --- security: secrets rotation, HTTPS behind a proxy, sessions, login lockout, kubeconfig exec plugins
SECURITY_KEYS: tuple[Key, ...] = (
    Key("server.secret_key_fallbacks", _list, [], ("SECRET_KEY_FALLBACKS",), secret=True,
        doc="comma-separated former SECRET_KEYs: sessions and stored kubeconfigs made with them still work "
            "(`manage.py cluster_reencrypt` re-encrypts the kubeconfigs with the current key)"),
    Key("server.https", _bool, False, ("KUBENODE_HTTPS",),
        doc="the site is served over HTTPS (directly or behind a proxy): secure cookies, HTTP redirected to HTTPS "
            "(except /healthz, /readyz, /metrics), HSTS"),
    Key("server.proxy_ssl_header", _str, "", ("SECURE_PROXY_SSL_HEADER",),
        doc="header a TLS-terminating proxy sets to `https` (e.g. X-Forwarded-Proto); only when the proxy "
            "always sets or strips it"),
    Key("server.hsts_seconds", _non_negative_int, 31536000, ("SECURE_HSTS_SECONDS",),
        doc="Strict-Transport-Security max-age when server.https is on (0: no header)"),
    Key("server.hsts_subdomains", _bool, True, ("SECURE_HSTS_SUBDOMAINS",),
        doc="HSTS covers the subdomains too and may be preloaded (false: this host only; the two deploy checks "
            "about it are then silenced as a choice)"),
    Key("session.max_age", _duration_seconds, 43200.0, ("SESSION_MAX_AGE",),
        doc="seconds (or 12h, 30m) a sign-in lasts"),
    Key("auth.lockout_failures", _positive_int, 5, ("AUTH_LOCKOUT_FAILURES",),
        doc="failed sign-ins, per user and per address, after which sign-in is locked"),
    Key("auth.lockout_duration", _duration_seconds, 900.0, ("AUTH_LOCKOUT_DURATION",),
        doc="seconds (or 15m, 1h) a lockout lasts; an admin can unlock earlier in the admin (Access attempts)"),
    Key("clusters.allowed_exec_commands", _list, [], ("CLUSTERS_ALLOWED_EXEC_COMMANDS",),
        doc="kubeconfig exec credential plugins that may run (command names or absolute paths, comma-separated); "
            "empty: a kubeconfig with an exec user is refused"),
    Key("clusters.exec_timeout", _duration_seconds, 10.0, ("CLUSTERS_EXEC_TIMEOUT",),
        doc="seconds an allowed exec credential plugin may run"),
)

KEYS: tuple[Key, ...] = (
    # database.*
    Key("database.type", _choice(tuple(sorted(set(DATABASE_TYPES.values()))), DATABASE_TYPES),
        "sqlite", ("DB_TYPE", "DATABASE_TYPE"), doc="sqlite or postgres"),
    Key("database.host", _str, "localhost", ("DB_HOST", "DATABASE_HOST"), doc="PostgreSQL host"),
    Key("database.port", _port, 5432, ("DB_PORT", "DATABASE_PORT"), doc="PostgreSQL port"),
    Key("database.database", _str, None,
        ("DB_DATABASE", "DB_NAME", "DATABASE_DATABASE", "DATABASE_NAME"),
        doc="database name (PostgreSQL, default kubenode) or file path (SQLite, default var/db.sqlite3)"),
    Key("database.username", _str, "kubenode",
        ("DB_USERNAME", "DB_USER", "DATABASE_USERNAME", "DATABASE_USER"), doc="PostgreSQL user"),
    Key("database.password", _str, "", ("DB_PASSWORD", "DATABASE_PASSWORD"), secret=True,
        doc="PostgreSQL password"),
    Key("database.ssl_mode", _choice(SSL_MODES), "prefer",
        ("DB_SSL_MODE", "DB_SSLMODE", "DATABASE_SSL_MODE", "DATABASE_SSLMODE"),
        doc="libpq sslmode"),
    Key("database.max_open_conns", _positive_int, 25, ("DB_MAX_OPEN_CONNS", "DATABASE_MAX_OPEN_CONNS"),
        doc="connection pool size per process (PostgreSQL)"),
    Key("database.max_idle_conns", _non_negative_int, 5, ("DB_MAX_IDLE_CONNS", "DATABASE_MAX_IDLE_CONNS"),
        doc="connections the pool keeps open when idle (PostgreSQL)"),
    Key("database.max_lifetime", _duration_seconds, 300.0,
        ("DB_MAX_LIFETIME", "DATABASE_MAX_LIFETIME"), doc="seconds (or 5m, 1h) before a pooled connection is replaced"),
    # progress.*
    Key("progress.enable_database", _bool, True, ("PROGRESS_ENABLE_DATABASE",),
        doc="false forces the memory notifier"),
    Key("progress.notify_type", _choice(NOTIFY_TYPES), None, ("PROGRESS_NOTIFY_TYPE",),
        doc="memory, postgres, redis or polling (default: postgres on PostgreSQL, memory on SQLite)"),
    Key("progress.poll_interval", _positive_int, 500, ("PROGRESS_POLL_INTERVAL",),
        doc="milliseconds between table polls in polling mode"),
    Key("progress.safety_poll_interval", _positive_int, 10000, ("PROGRESS_SAFETY_POLL_INTERVAL",),
        doc="milliseconds between repair polls in the realtime modes"),
    Key("progress.carry_messages", _bool, True, ("PROGRESS_CARRY_MESSAGES",),
        doc="doorbells carry their new messages when they fit the NOTIFY payload (8,000 bytes), so web processes "
            "send them without a read; false: web processes always read them from the table"),
    Key("progress.listener_probe_interval", _positive_int, 15000, ("PROGRESS_LISTENER_PROBE_INTERVAL",),
        doc="milliseconds of silence after which the listener probes its connection (no echo in 5 s: reconnect)"),
    Key("progress.redis.addr", _host_port, "localhost:6379", ("PROGRESS_REDIS_ADDR",), doc="host:port"),
    Key("progress.redis.password", _str, "", ("PROGRESS_REDIS_PASSWORD",), secret=True, doc="Redis password"),
    Key("progress.redis.db", _non_negative_int, 0, ("PROGRESS_REDIS_DB",), doc="Redis database number"),
    Key("progress.redis.sentinel_addrs", _host_port_list, [], ("PROGRESS_REDIS_SENTINEL_ADDRS",),
        doc="comma-separated host:port list; enables Sentinel"),
    Key("progress.redis.sentinel_master_name", _str, "mymaster", ("PROGRESS_REDIS_SENTINEL_MASTER_NAME",),
        doc="Sentinel master name"),
    # batch.*
    Key("batch.concurrency", _positive_int, 20, ("BATCH_CONCURRENCY",),
        doc="per-cluster limit for label, taint, cordon and uncordon, across every worker"),
    Key("batch.drain_concurrency", _positive_int, 5, ("BATCH_DRAIN_CONCURRENCY",),
        doc="per-cluster limit for drain, across every worker"),
    # server.*
    Key("server.secret_key", _str, "", ("SECRET_KEY", "KUBENODE_SECRET_KEY"), secret=True,
        doc="Django secret; also derives the kubeconfig encryption key. Required unless debug"),
    Key("server.debug", _bool, False, ("DEBUG",), doc="Django debug mode; never in production"),
    Key("server.allowed_hosts", _list, ["localhost", "127.0.0.1", "[::1]"], ("ALLOWED_HOSTS",),
        doc="comma-separated"),
    Key("server.csrf_trusted_origins", _list, [], ("CSRF_TRUSTED_ORIGINS",), doc="comma-separated"),
    Key("server.replica_id", _str, None, ("KUBENODE_REPLICA_ID", "POD_NAME", "HOSTNAME"),
        doc="name of this replica (default: host name and process id)"),
    Key("server.data_dir", _str, str(BASE_DIR / "var"), ("KUBENODE_DATA_DIR",),
        doc="directory for the SQLite database and local state"),
    Key("server.shutdown_grace", _duration_seconds, 25.0, ("SHUTDOWN_GRACE",),
        doc="seconds a web process gets to stop on SIGTERM (on SQLite, where it runs the batches itself, its "
            "node operations get this long; the rest stays queued for the next start)"),
    # server.* languages and time (the pages' language: the user's choice, else the browser's Accept-Language,
    # else server.language_code)
    Key("server.languages", _languages, ["en", "zh-hans"], ("KUBENODE_LANGUAGES",),
        doc="comma-separated languages the pages offer: en, zh-hans"),
    Key("server.language_code", _language, "en", ("KUBENODE_LANGUAGE_CODE", "LANGUAGE_CODE"),
        doc="language of a browser that asks for none of server.languages; one of server.languages"),
    Key("server.time_zone", _time_zone, "UTC", ("TIME_ZONE",),
        doc="time zone of the pages' times when the browser does not tell its own (IANA name, e.g. Asia/Shanghai)"),
    Key("log.level", _upper_choice(LOG_LEVELS), "INFO", ("LOG_LEVEL",),
        doc="DEBUG also logs every delivery hop (doorbell sent, received, forwarded)"),
    Key("log.format", _choice(LOG_FORMATS), "text", ("LOG_FORMAT",), doc="text or json"),
    # worker.* (python manage.py progress_worker; on SQLite the worker loop runs inside the web process)
    Key("worker.concurrency", _positive_int, 32, ("WORKER_CONCURRENCY", "BATCH_WORKERS"),
        doc="node operations one worker process runs at once, all tasks together (--concurrency overrides)"),
    Key("worker.shutdown_grace", _duration_seconds, 330.0, ("WORKER_SHUTDOWN_GRACE",),
        doc="seconds a worker's node operations get to finish on SIGTERM before the rest is handed back "
            "(keep terminationGracePeriodSeconds above it)"),
    Key("worker.lease", _duration_seconds, 30.0, ("WORKER_LEASE", "BATCH_HEARTBEAT_TIMEOUT"),
        doc="seconds without a heartbeat after which a worker counts as dead and its work is taken over"),
    Key("worker.health_port", _port_or_zero, 8001, ("WORKER_HEALTH_PORT",),
        doc="port of the worker's /healthz, /readyz and /metrics (0: none)"),
    Key("progress.listener", _choice(LISTENER_MODES), "embedded", ("PROGRESS_LISTENER",),
        doc="embedded: each web process runs its own doorbell listener (in-memory channel layer); standalone: "
            "`manage.py progress_listen` processes feed a channels-redis layer (at progress.redis.*) and the web "
            "processes open no LISTEN connection"),
    Key("progress.listener_health_port", _port_or_zero, 8002, ("PROGRESS_LISTENER_HEALTH_PORT",),
        doc="port of the standalone listener's /healthz, /readyz and /metrics (0: none)"),
    # api.* — the JSON API under /api/v1/ and its personal access tokens
    Key("api.rate_limit", _positive_int, 600, ("API_RATE_LIMIT",),
        doc="requests per minute one access token may make, across every replica (more: 429)"),
    Key("api.token_default_days", _positive_int, 90, ("API_TOKEN_DEFAULT_DAYS",),
        doc="days a new access token is valid when its user does not choose"),
    Key("api.token_max_days", _positive_int, 365, ("API_TOKEN_MAX_DAYS",),
        doc="the longest validity, in days, an access token may be given"),
    Key("api.request_retention_days", _positive_int, 90, ("API_REQUEST_RETENTION_DAYS",),
        doc="days the log of token requests keeps a row; `manage.py api_prune` (daily CronJob) deletes older ones"),
    # auth.* — company logins (OIDC, LDAP) mapped to roles, and local accounts
    Key("auth.local_login", _bool, True, ("AUTH_LOCAL_LOGIN",),
        doc="local accounts log in with their password; false: superusers only (break-glass)"),
    Key("auth.unmapped", _choice(("viewer", "refuse")), "viewer", ("AUTH_UNMAPPED",),
        doc="an OIDC or LDAP user whose groups map to no role: viewer, or refused"),
    Key("auth.groups.viewer", _list, [], ("AUTH_GROUPS_VIEWER",),
        doc="OIDC group claims / LDAP group names (cn) that give the viewer role, comma-separated"),
    Key("auth.groups.operator", _list, [], ("AUTH_GROUPS_OPERATOR",), doc="… the operator role"),
    Key("auth.groups.admin", _list, [], ("AUTH_GROUPS_ADMIN",), doc="… the admin role (staff)"),
    Key("auth.oidc.enabled", _bool, False, ("OIDC_ENABLED",), doc="log in through an OpenID Connect provider"),
    Key("auth.oidc.name", _str, "single sign-on", ("OIDC_NAME",), doc="the login button's provider name"),
    Key("auth.oidc.authorization_endpoint", _str, "", ("OIDC_OP_AUTHORIZATION_ENDPOINT",),
        doc="the provider's authorization endpoint URL"),
    Key("auth.oidc.token_endpoint", _str, "", ("OIDC_OP_TOKEN_ENDPOINT",), doc="its token endpoint URL"),
    Key("auth.oidc.userinfo_endpoint", _str, "", ("OIDC_OP_USER_ENDPOINT",), doc="its userinfo endpoint URL"),
    Key("auth.oidc.jwks_endpoint", _str, "", ("OIDC_OP_JWKS_ENDPOINT",), doc="its JWKS URL (RS/ES signatures)"),
    Key("auth.oidc.client_id", _str, "", ("OIDC_RP_CLIENT_ID",), doc="kubenode's client id at the provider"),
    Key("auth.oidc.client_secret", _str, "", ("OIDC_RP_CLIENT_SECRET",), secret=True, doc="its client secret"),
    Key("auth.oidc.scopes", _str, "openid email profile groups", ("OIDC_RP_SCOPES",), doc="scopes requested"),
    Key("auth.oidc.sign_algo", _str, "RS256", ("OIDC_RP_SIGN_ALGO",), doc="the ID token's signature algorithm"),
    Key("auth.oidc.username_claim", _str, "preferred_username", ("OIDC_USERNAME_CLAIM",),
        doc="the claim that names the kubenode user"),
    Key("auth.oidc.groups_claim", _str, "groups", ("OIDC_GROUPS_CLAIM",), doc="the claim listing the user's groups"),
    Key("auth.oidc.end_session_endpoint", _str, "", ("OIDC_OP_LOGOUT_ENDPOINT",),
        doc="the provider's end_session_endpoint URL: logging out of kubenode also ends the provider's session "
            "(empty: only kubenode's)"),
    Key("auth.ldap.enabled", _bool, False, ("LDAP_ENABLED",), doc="log in with an LDAP directory's passwords"),
    Key("auth.ldap.server_uri", _str, "", ("AUTH_LDAP_SERVER_URI",), doc="e.g. ldaps://ldap.example.com"),
    Key("auth.ldap.start_tls", _bool, False, ("AUTH_LDAP_START_TLS",), doc="StartTLS on an ldap:// connection"),
    Key("auth.ldap.bind_dn", _str, "", ("AUTH_LDAP_BIND_DN",), doc="the DN searches bind as (empty: anonymous)"),
    Key("auth.ldap.bind_password", _str, "", ("AUTH_LDAP_BIND_PASSWORD",), secret=True, doc="its password"),
    Key("auth.ldap.user_search_base", _str, "", ("AUTH_LDAP_USER_SEARCH_BASE",), doc="where users are searched"),
    Key("auth.ldap.user_filter", _str, "(uid=%(user)s)", ("AUTH_LDAP_USER_FILTER",),
        doc="the user search filter; %(user)s is the login name"),
    Key("auth.ldap.group_search_base", _str, "", ("AUTH_LDAP_GROUP_SEARCH_BASE",),
        doc="where groups (groupOfNames, member=DN) are searched"),
    Key("auth.ldap.group_filter", _str, "(objectClass=groupOfNames)", ("AUTH_LDAP_GROUP_FILTER",),
        doc="the group search filter"),
    *SECURITY_KEYS,
)

KEYS_BY_NAME = {k.key: k for k in KEYS}


@dataclass(frozen=True)
class Config:
    values: dict[str, Value]
    config_file: str | None = None
    notes: tuple[str, ...] = field(default=())
    # how the file was found: "KUBENODE_CONFIG" or "found at <location> (KUBENODE_CONFIG not set)"
    config_file_source: str = ""
    # unknown keys and variables, one line each (the banner and config_show print them)
    warnings: tuple[str, ...] = field(default=())

    def describe_file(self) -> str:
        """Which config file was read, and how it was chosen (for the banner and config_show)."""
        if self.config_file:
            return f"{self.config_file} ({self.config_file_source})"
        where = ", ".join(CONFIG_FILE_LOCATIONS)
        return f"(none: KUBENODE_CONFIG not set and no file at {where})"

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def source(self, key: str) -> str:
        return self.values[key].source

    # Convenience views used across the code base.
    @property
    def database_type(self) -> str:
        return self["database.type"]

    @property
    def notify_type(self) -> str:
        """The requested notifier (what the operator asked for, resolved)."""
        return self["progress.notify_type"]

    @property
    def replica_id(self) -> str:
        return self["server.replica_id"]

    def postgres_conninfo(self, application_name: str | None = None, **extra: Any) -> dict[str, Any]:
        """psycopg connection keywords, from the same values Django uses."""
        if self.database_type != "postgres":
            raise ConfigError("database.type is not postgres: no PostgreSQL connection can be made")
        params: dict[str, Any] = {
            "host": self["database.host"],
            "port": self["database.port"],
            "dbname": self["database.database"],
            "user": self["database.username"],
            "sslmode": self["database.ssl_mode"],
        }
        if self["database.password"]:
            params["password"] = self["database.password"]
        if application_name:
            params["application_name"] = application_name
        params.update(extra)
        return params

    def as_rows(self) -> list[dict[str, Any]]:
        return [{"key": v.key, "value": v.shown(), "source": v.source, "secret": v.secret}
                for v in self.values.values()]


# --- loading


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(node: Any, environ_: dict[str, str], path: str, filename: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, environ_, f"{path}.{k}" if path else str(k), filename)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ_, path, filename) for v in node]
    if isinstance(node, str):
        def replace(match: re.Match) -> str:
            name, fallback = match.group(1), match.group(2)
            if name in environ_:
                return environ_[name]
            if fallback is not None:
                return fallback
            return ""

        return _VAR.sub(replace, node)
    return node


def _read_file(path: str, environ_: dict[str, str], named_by: str = "KUBENODE_CONFIG") -> dict[str, Any]:
    label = f"KUBENODE_CONFIG={path!r}" if named_by == "KUBENODE_CONFIG" else f"config file {path!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{label}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the file must hold a mapping of sections, "
                          f"not a {type(data).__name__}")
    return _expand(data, environ_, "", path)


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _database_url(url: str) -> dict[str, Any]:
    """Split DATABASE_URL into our database.* keys (django-environ does the parsing)."""
    try:
        parsed = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several kinds
        raise ConfigError(f"DATABASE_URL: cannot parse the URL ({exc.__class__.__name__})") from None
    engine = parsed.get("ENGINE", "")
    if "postgres" in engine:
        kind = "postgres"
    elif "sqlite" in engine:
        kind = "sqlite"
    else:
        scheme = url.split(":", 1)[0]
        raise ConfigError(f"DATABASE_URL: database type {scheme!r} is not supported (use postgres or sqlite)")
    out: dict[str, Any] = {"database.type": kind}
    if parsed.get("NAME"):
        out["database.database"] = parsed["NAME"]
    if kind == "postgres":
        for ours, theirs in (("database.host", "HOST"), ("database.port", "PORT"),
                             ("database.username", "USER"), ("database.password", "PASSWORD")):
            if parsed.get(theirs) not in (None, ""):
                out[ours] = parsed[theirs]
        sslmode = (parsed.get("OPTIONS") or {}).get("sslmode")
        if sslmode:
            out["database.ssl_mode"] = sslmode
    return out


def find_config_file(env: dict[str, str], locations: tuple[str, ...] = CONFIG_FILE_LOCATIONS,
                     ) -> tuple[str | None, str]:
    """(path, how it was chosen): KUBENODE_CONFIG, else the first of `locations` that exists, else (None, "")."""
    named = env.get("KUBENODE_CONFIG") or None
    if named:
        return named, "KUBENODE_CONFIG"
    for location in locations:
        if Path(location).is_file():
            return str(Path(location).resolve()), f"found at {location} (KUBENODE_CONFIG not set)"
    return None, ""


def _leaves(data: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for name, node in data.items():
        dotted = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(node, dict) and dotted not in KEYS_BY_NAME:
            out.extend(_leaves(node, dotted) or [dotted])
        else:
            out.append(dotted)
    return out


def _nearest(name: str, known: list[str]) -> str:
    """The known name most like `name`: the longest shared beginning first, then the closest spelling."""
    def score(candidate: str) -> tuple[int, float]:
        shared = len(os.path.commonprefix([name, candidate]))
        return shared, difflib.SequenceMatcher(None, name, candidate).ratio()

    return max(known, key=score) if known else ""


def unknown_warnings(env: dict[str, str], file_data: dict[str, Any], config_file: str | None) -> list[str]:
    """One line per file key and per DB_*/DATABASE_*/PROGRESS_* variable that nothing reads."""
    warnings = []
    known_keys = list(KEYS_BY_NAME)
    for dotted in _leaves(file_data):
        if dotted in KEYS_BY_NAME:
            continue
        why, instead = RETIRED.get(dotted, ("", _nearest(dotted, known_keys)))
        warnings.append(f"unknown key {dotted} in config file {config_file} is ignored"
                        + (f" ({why})" if why else "") + f"; nearest known key: {instead}")
    known_env = sorted({name for key in KEYS for name in key.env} | OTHER_KNOWN_ENV)
    for name in sorted(env):
        if not name.startswith(OWN_ENV_PREFIXES) or name in known_env:
            continue
        candidates = [n for n in known_env if n.startswith(OWN_ENV_PREFIXES)]
        why, instead = RETIRED.get(name, ("", _nearest(name, candidates)))
        warnings.append(f"unknown environment variable {name} is ignored" + (f" ({why})" if why else "")
                        + f"; nearest known variable: {instead}")
    return warnings


def load(environ_: dict[str, str] | None = None,
         config_locations: tuple[str, ...] = CONFIG_FILE_LOCATIONS) -> Config:
    """Resolve every key; raise :class:`ConfigError` with one line on the first bad value."""
    env = dict(os.environ if environ_ is None else environ_)
    config_file, file_source = find_config_file(env, config_locations)
    file_data = _read_file(config_file, env, file_source) if config_file else {}

    url_values: dict[str, Any] = {}
    if env.get("DATABASE_URL"):
        url_values = _database_url(env["DATABASE_URL"])

    values: dict[str, Value] = {}
    for key in KEYS:
        raw, source, found = None, "default", False
        for name in key.env:
            if name in env and env[name] != "":
                raw, source, found = env[name], f"env {name}", True
                break
        if not found and key.key in url_values:
            raw, source, found = url_values[key.key], "env DATABASE_URL", True
        if not found and file_data:
            present, file_value = _lookup(file_data, key.key)
            if present and file_value is not None and file_value != "":
                raw, source, found = file_value, f"file {config_file}: {key.key}", True
        if found:
            try:
                value = key.parse(raw)
            except ValueError as exc:
                shown = "(secret)" if key.secret else repr(raw if not isinstance(raw, str) else raw)
                raise ConfigError(f"{key.key}: {shown} from {source} {exc}") from None
        else:
            value = key.default
        values[key.key] = Value(key.key, value, source, key.secret)

    values = _derive(values, env)
    return Config(values=values, config_file=config_file, config_file_source=file_source,
                  warnings=tuple(unknown_warnings(env, file_data, config_file)))


def _source_name(value: Value) -> str:
    """`DB_HOST` for "env DB_HOST", `file F: database.host` for a file value."""
    return value.source[4:] if value.source.startswith("env ") else value.source


def _replace(values: dict[str, Value], key: str, value: Any, source: str) -> None:
    old = values[key]
    values[key] = Value(key, value, source, old.secret)


def _derive(values: dict[str, Value], env: dict[str, str]) -> dict[str, Value]:
    """Defaults that depend on other keys, and checks across keys."""
    connection = [values[k] for k in CONNECTION_KEYS if values[k].source != "default"]
    db_type_value = values["database.type"]
    if db_type_value.source == "default" and connection:
        # a PostgreSQL host (port, user, password) without a type: PostgreSQL, never a silent SQLite
        _replace(values, "database.type", "postgres", f"inferred from {_source_name(connection[0])}")
    elif db_type_value.value == "sqlite" and connection:
        raise ConfigError(f"database.type: 'sqlite' from {db_type_value.source} cannot be used with "
                          f"{connection[0].key} from {connection[0].source} (a PostgreSQL setting): "
                          f"set database.type to postgres, or remove the PostgreSQL settings")
    db_type = values["database.type"].value
    if values["database.database"].source == "default":
        if db_type == "sqlite":
            path = str(Path(values["server.data_dir"].value) / "db.sqlite3")
            _replace(values, "database.database", path, "default (database.type=sqlite)")
        else:
            _replace(values, "database.database", "kubenode", "default")

    notify = values["progress.notify_type"]
    if notify.source == "default":
        derived = "postgres" if db_type == "postgres" else "memory"
        _replace(values, "progress.notify_type", derived, f"default (database.type={db_type})")
    if not values["progress.enable_database"].value and values["progress.notify_type"].value != "memory":
        _replace(values, "progress.notify_type", "memory",
                 f"progress.enable_database=false ({values['progress.enable_database'].source})")
    notify = values["progress.notify_type"]
    if notify.value == "postgres" and db_type != "postgres":
        raise ConfigError(f"progress.notify_type: 'postgres' from {notify.source} needs database.type "
                          f"postgres, but database.type is {db_type!r} "
                          f"(from {values['database.type'].source})")

    if not values["server.replica_id"].value:
        _replace(values, "server.replica_id", f"{socket.gethostname()}-{os.getpid()}", "default")

    debug = values["server.debug"].value
    if not values["server.secret_key"].value and not debug:
        raise ConfigError("server.secret_key: not set (env SECRET_KEY) and DEBUG is off: "
                          "set SECRET_KEY to a long random value")
    if values["server.language_code"].value not in values["server.languages"].value:
        code = values["server.language_code"]
        raise ConfigError(f"server.language_code: {code.value!r} from {code.source} is not one of server.languages "
                          f"{values['server.languages'].value!r} (from {values['server.languages'].source})")
    listener = values["progress.listener"]
    if listener.value == "standalone" and values["progress.notify_type"].value == "memory":
        raise ConfigError(f"progress.listener: 'standalone' from {listener.source} needs doorbells that reach "
                          f"other processes (progress.notify_type postgres, redis or polling), but "
                          f"progress.notify_type is 'memory' (from {values['progress.notify_type'].source})")
    if values["database.max_idle_conns"].value > values["database.max_open_conns"].value:
        idle = values["database.max_idle_conns"]
        raise ConfigError(f"database.max_idle_conns: {idle.value!r} from {idle.source} is larger than "
                          f"database.max_open_conns ({values['database.max_open_conns'].value})")
    return values


def reference_markdown() -> str:
    """The configuration reference table (docs/configuration.md holds this, checked by a test)."""
    lines = ["| key (config file) | environment | default | meaning |", "|---|---|---|---|"]
    for key in KEYS:
        default = key.default
        if key.key == "database.database":
            default = "kubenode (PostgreSQL), var/db.sqlite3 (SQLite)"
        elif key.key == "progress.notify_type":
            default = "postgres on PostgreSQL, memory on SQLite"
        elif key.key == "server.replica_id":
            default = "host name and process id"
        elif key.key == "server.data_dir":
            default = "var/ in the checkout"
        elif isinstance(default, list):
            default = ",".join(default) or "(empty)"
        elif default in ("", None):
            default = "(empty)"
        env = ", ".join(f"`{name}`" for name in key.env)
        secret = " Secret: shown only as set / not set." if key.secret else ""
        lines.append(f"| `{key.key}` | {env} | `{default}` | {key.doc}{secret} |")
    return "\n".join(lines) + "\n"
