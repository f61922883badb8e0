"""Who is on the other end of a WebSocket, checked when it opens and for as long as it stays open.

- `OriginValidator`: the browser's Origin must be this site, compared as Django's CSRF check compares it (scheme,
  host and port of the request, or one of CSRF_TRUSTED_ORIGINS); ALLOWED_HOSTS=* does not turn it off. A client
  that sends no Host header is no browser (it could send any Origin): its Origin is only checked against
  ALLOWED_HOSTS, as Channels does.
- Revocation: a logout, a change of `is_active`, staff or superuser status, groups or permissions, or a new password
  closes the user's sockets in this process at once (`revoke_user`, called from the signals below), and a sweep
  (every `RECHECK_S` seconds, one query for all the sockets of the process) closes those whose session is gone or
  whose user changed on another replica. The consumer also re-checks the user on every client frame.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

log = logging.getLogger("kubenode.progress.ws")

RECHECK_S = 15.0
REVOKED_CODE = 4401
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}


def _scheme(scope, headers: dict[str, str]) -> str:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        name = name.lower().removeprefix("http_").replace("_", "-")
        forwarded = headers.get(name)
        if forwarded is not None:
            return "https" if forwarded.split(",")[0].strip() == value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def _normal(origin: str) -> tuple[str, str, str] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), str(port or _DEFAULT_PORTS[parts.scheme])


def origin_allowed(scope) -> bool:
    headers = _headers(scope)
    origin = headers.get("origin")
    if not origin:
        return False
    given = _normal(origin)
    if given is None:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(trusted)
        if parts.scheme == given[0] and (trusted.rstrip("/") == origin.rstrip("/") or
                                         ("*" in parts.netloc and is_same_domain(f"{given[1]}:{given[2]}"
                                                                                 if parts.port else given[1],
                                                                                 parts.netloc))):
            return True
    host = headers.get("host")
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if host is None:  # not a browser: Channels' own rule
        return validate_host(given[1], allowed) and "*" not in allowed
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed):
        return False
    scheme = _scheme(scope, headers)
    return given == _normal(f"{scheme}://{host}")


class OriginValidator:
    """ASGI middleware: WebSockets from another origin are refused before the handshake completes."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            log.warning("WebSocket refused: origin %r does not match the site",
                        _headers(scope).get("origin", "")[:200])
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


# --- revocation ----------------------------------------------------------------------------------------------------

REVOKE_MESSAGE = {"type": "auth.revoked"}
_connections: set = set()
_sweeper: asyncio.Task | None = None


def fingerprint(user) -> tuple:
    """What a socket's identity was granted with: change any of it and the socket is closed."""
    return (user.pk, user.is_active, user.is_staff, user.is_superuser, user.get_session_auth_hash(),
            tuple(sorted(user.groups.values_list("pk", flat=True))),
            tuple(sorted(user.user_permissions.values_list("pk", flat=True))))


def current_identity(user_id: int, session_key: str | None):
    """(the user as stored now, whether the socket's session still holds and the user is unchanged)."""
    from django.contrib.auth import get_user_model

    live, users = _current([session_key] if session_key else [], [user_id])
    user = get_user_model().objects.filter(pk=user_id).first()
    return user, users.get(user_id), (not session_key or session_key in live)


def register(consumer) -> None:
    global _sweeper
    _connections.add(consumer)
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.ensure_future(_sweep_forever())


def unregister(consumer) -> None:
    _connections.discard(consumer)


def _current(session_keys: list[str], user_ids: list[int]) -> tuple[set[str], dict[int, tuple]]:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    live = set(Session.objects.filter(session_key__in=session_keys, expire_date__gt=timezone.now())
               .values_list("session_key", flat=True)) if "db" in settings.SESSION_ENGINE else set(session_keys)
    users = {u.pk: _fingerprint_prefetched(u) for u in get_user_model().objects.filter(pk__in=user_ids)
             .prefetch_related("groups", "user_permissions")}
    return live, users


def _fingerprint_prefetched(user) -> tuple:
    return (user.pk, user.is_active, user.is_staff, user.is_superuser, user.get_session_auth_hash(),
            tuple(sorted(g.pk for g in user.groups.all())), tuple(sorted(p.pk for p in user.user_permissions.all())))


async def sweep() -> int:
    """Close this process's sockets whose session ended or whose user changed; returns how many were closed."""
    connections = [c for c in list(_connections) if getattr(c, "identity", None)]
    if not connections:
        return 0
    keys = [c.session_key for c in connections if c.session_key]
    live, users = await database_sync_to_async(_current)(keys, sorted({c.user.pk for c in connections}))
    closed = 0
    for consumer in connections:
        if (consumer.session_key and consumer.session_key not in live) or users.get(consumer.user.pk) != \
                consumer.identity:
            closed += 1
            await consumer.revoke("the session ended or the account changed")
    return closed


async def _sweep_forever() -> None:
    while _connections:
        await asyncio.sleep(RECHECK_S)
        try:
            await sweep()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - tried again at the next sweep
            log.warning("re-checking the WebSockets' sessions failed", exc_info=True)


def revoke_user(user_id: int) -> None:
    """Close every socket of the user: this process's at once, the shared layer's members (standalone mode)."""
    from channels.layers import get_channel_layer

    from .notify.base import user_group
    from .notify.local import _deliver, serving_loop

    layer = get_channel_layer()
    loop = serving_loop()
    message = dict(REVOKE_MESSAGE, user=user_id)
    coroutine = _deliver(layer, user_group(user_id), message)
    if loop is not None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coroutine)
        else:
            asyncio.run_coroutine_threadsafe(coroutine, loop)
        return
    coroutine.close()  # no socket is served by this process
    if layer is not None and not _is_in_memory(layer):
        from asgiref.sync import async_to_sync

        try:
            async_to_sync(layer.group_send)(user_group(user_id), message)
        except Exception:  # noqa: BLE001 - the sweep of the serving processes closes them
            log.warning("telling the WebSockets of user %s to close failed", user_id, exc_info=True)


def _is_in_memory(layer) -> bool:
    from channels.layers import InMemoryChannelLayer

    return isinstance(layer, InMemoryChannelLayer)


# --- the signals that revoke -----------------------------------------------------------------------------------------

_WATCHED_FIELDS = ("is_active", "is_staff", "is_superuser", "password")


def _on_logout(sender, request, user, **kwargs):
    if user is not None and user.pk:
        revoke_user(user.pk)


def _remember_old(sender, instance, **kwargs):
    if instance.pk:
        old = sender.objects.filter(pk=instance.pk).values(*_WATCHED_FIELDS).first()
        instance._kubenode_old_identity = old


def _after_save(sender, instance, created, **kwargs):
    old = getattr(instance, "_kubenode_old_identity", None)
    if created or old is None:
        return
    if any(old[f] != getattr(instance, f) for f in _WATCHED_FIELDS):
        revoke_user(instance.pk)


def _on_m2m(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        revoke_user(instance.pk)
    else:  # group.user_set.add(...) / permission.user_set...
        for pk in pk_set or []:
            revoke_user(pk)


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import m2m_changed, post_save, pre_save

    User = get_user_model()
    user_logged_out.connect(_on_logout, dispatch_uid="kubenode-ws-logout")
    pre_save.connect(_remember_old, sender=User, dispatch_uid="kubenode-ws-pre-save")
    post_save.connect(_after_save, sender=User, dispatch_uid="kubenode-ws-post-save")
    m2m_changed.connect(_on_m2m, sender=User.groups.through, dispatch_uid="kubenode-ws-groups")
    m2m_changed.connect(_on_m2m, sender=User.user_permissions.through, dispatch_uid="kubenode-ws-perms")
