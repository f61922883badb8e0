"""The diagnostics block printed when a notifier backend cannot work: where it tried, as whom, and what to check.

Never a secret: the password is reported as "password set: yes/no".
"""

from __future__ import annotations

from django.conf import settings

POSTGRES_CHECKLIST = (
    "network: can this pod/host reach the database host and port (DNS, routes)?",
    "credentials: are the username and password right for this database?",
    "server: is PostgreSQL running and accepting connections (pg_isready)?",
    "firewall / NetworkPolicy: is egress to the database port allowed from here?",
    "pgbouncer: in transaction pooling mode it never delivers NOTIFY; point the listener at PostgreSQL "
    "directly or use session pooling",
)
REDIS_CHECKLIST = (
    "network: can this pod/host reach the Redis host and port (or the Sentinels)?",
    "credentials: is the Redis password right (PROGRESS_REDIS_PASSWORD)?",
    "server: is Redis running (redis-cli ping)?",
    "firewall / NetworkPolicy: is egress to the Redis port allowed from here?",
)


def target(backend: str, config=None) -> dict:
    """Where `backend` connects, without secrets."""
    config = config or settings.CONFIG
    if backend == "redis":
        sentinels = config["progress.redis.sentinel_addrs"]
        return {
            "address": ", ".join(sentinels) if sentinels else config["progress.redis.addr"],
            "sentinel_master": config["progress.redis.sentinel_master_name"] if sentinels else "",
            "db": config["progress.redis.db"],
            "password_set": bool(config["progress.redis.password"]),
        }
    return {
        "address": f"{config['database.host']}:{config['database.port']}",
        "database": config["database.database"],
        "username": config["database.username"],
        "ssl_mode": config["database.ssl_mode"],
        "password_set": bool(config["database.password"]),
    }


def block(backend: str, error: str, *, fallback: str = "polling", config=None) -> str:
    """The multi-line diagnostics block for a failed `backend`."""
    where = target(backend, config)
    lines = [f"notifier diagnostics: the {backend} backend is not working"]
    if backend == "redis":
        lines.append(f"  redis:          {where['address']}"
                     + (f" (sentinel master {where['sentinel_master']})" if where["sentinel_master"] else ""))
        lines.append(f"  db:             {where['db']}")
    else:
        lines.append(f"  host:port:      {where['address']}")
        lines.append(f"  database:       {where['database']}")
        lines.append(f"  username:       {where['username']}")
        lines.append(f"  SSL mode:       {where['ssl_mode']}")
    lines.append(f"  password set:   {'yes' if where['password_set'] else 'no'}")
    lines.append(f"  error:          {error or 'unknown'}")
    if fallback:
        lines.append(f"  effective:      {fallback} (progress still arrives, with up to one poll interval of delay)")
    lines.append("  check:")
    checklist = REDIS_CHECKLIST if backend == "redis" else POSTGRES_CHECKLIST
    lines.extend(f"    - {item}" for item in checklist)
    return "\n".join(lines)


def error_text(exc: BaseException) -> str:
    """A one-line description of a connection error, without secrets."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    password = settings.CONFIG["database.password"] if hasattr(settings, "CONFIG") else ""
    redis_password = settings.CONFIG["progress.redis.password"] if hasattr(settings, "CONFIG") else ""
    for secret in (password, redis_password):
        if secret:
            text = text.replace(secret, "********")
    return f"{type(exc).__name__}: {text}"[:500]
