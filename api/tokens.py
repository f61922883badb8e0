"""Personal access tokens: created (the secret shown once, only its SHA-256 kept), revoked, checked, rate-limited.

A token is `kn_` and 43 URL-safe characters. The rate limit counts a token's requests per minute in its own row, so
every replica shares one count (`api.rate_limit` requests per minute; more get 429 until the minute ends).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kubenode import access

from .models import ApiToken, TokenRequest

TOKEN_PREFIX = "kn_"
WINDOW_SECONDS = 60


class RateLimited(Exception):
    def __init__(self, retry_after: int, limit: int):
        super().__init__(_("this token made more than %(limit)s requests in a minute; try again in %(seconds)s s")
                         % {"limit": limit, "seconds": retry_after})
        self.retry_after = retry_after
        self.limit = limit


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user, name: str, scope: str = ApiToken.Scope.READ, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of `user`; returns it and its secret (shown once: only its digest is stored)."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_("give the token a name (what it is for, e.g. ci-pipeline)"))
    if len(name) > 100:
        raise ValidationError(_("a token's name has at most 100 characters"))
    if scope not in ApiToken.Scope.values:
        raise ValidationError(_("unknown scope %(scope)s: read or actions") % {"scope": repr(scope)})
    longest = int(settings.CONFIG["api.token_max_days"])
    days = int(settings.CONFIG["api.token_default_days"]) if days in (None, "") else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= longest:
        raise ValidationError(_("a token is valid from 1 to %(longest)s days; %(days)s is not") % {
            "longest": longest, "days": repr(days)})
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ValidationError(_("you have a token named %(name)s already; choose another name") % {"name": name})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(user=user, name=name, prefix=secret[:10], digest=digest(secret),
                                            scope=scope, created_at=now, expires_at=now + timedelta(days=days))
    except IntegrityError:
        raise ValidationError(_("you have a token named %(name)s already; choose another name") % {
            "name": name}) from None
    return token, secret


def revoke_token(user, token: ApiToken) -> ApiToken:
    access.require_manage_token(user, token)
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db()
    return token


def tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret (its user active), or None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(secret)).first()
    if token is None or not token.usable or not token.user.is_active:
        return None
    return token


def count_request(token: ApiToken, now: float | None = None) -> None:
    """Count one request of `token` in the current minute (every replica counts in the same row); RateLimited when
    the token is over its limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    limit = int(settings.CONFIG["api.rate_limit"])
    used = timezone.now()
    rows = ApiToken.objects.filter(pk=token.pk, window_start=window)
    if not rows.update(window_count=F("window_count") + 1, last_used_at=used):
        if not ApiToken.objects.filter(pk=token.pk).exclude(window_start=window).update(
                window_start=window, window_count=1, last_used_at=used):
            rows.update(window_count=F("window_count") + 1, last_used_at=used)  # another replica began it
    count = ApiToken.objects.filter(pk=token.pk).values_list("window_count", flat=True).first() or 0
    if count > limit:
        raise RateLimited(retry_after=max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999)), limit=limit)


def record_request(token: ApiToken, request, status: int, task_id=None) -> None:
    """The audit row of one token request."""
    TokenRequest.objects.create(
        token=token, token_name=token.name, user_id=token.user_id, username=token.user.get_username(),
        method=request.method[:10], path=request.get_full_path()[:500], status=status, task_id=task_id,
        remote_addr=(request.META.get("REMOTE_ADDR") or "")[:64])


def prune_requests(days: int | None = None, *, batch: int = 5000) -> int:
    """Delete the token requests older than `days` (default `api.request_retention_days`), a batch of rows at a
    time so that no statement holds many locks; returns how many went."""
    days = int(settings.CONFIG["api.request_retention_days"]) if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValidationError(f"the retention is a number of days, at least 1; {days!r} is not")
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(TokenRequest.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)
                   [:batch])
        if not ids:
            return deleted
        deleted += TokenRequest.objects.filter(id__in=ids).delete()[0]
