"""Personal access tokens of the API (stored hashed) and the log of the requests made with them."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", pgettext_lazy("token scope", "read")
        ACTIONS = "actions", pgettext_lazy("token scope", "read and the actions of the user's role")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
                             verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100, help_text=_("what the token is for, e.g. ci-pipeline"))
    # the first characters of the token (shown to recognise it); the token itself is never stored
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)  # SHA-256 of the whole token
    scope = models.CharField(_("scope"), max_length=16, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # the rate limit's current window (shared by every replica: counted in the database)
    window_start = models.BigIntegerField(_("rate limit window"), default=0, editable=False)
    window_count = models.IntegerField(_("requests in the window"), default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="api_token_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def usable(self) -> bool:
        return not self.revoked and not self.expired

    @property
    def state(self) -> str:
        return "revoked" if self.revoked else "expired" if self.expired else "active"


class TokenRequest(models.Model):
    """One request made with a token: who, which token (its name kept after it is deleted), what, the answer."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests",
                              verbose_name=_("token"))
    token_name = models.CharField(_("token name"), max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             verbose_name=_("user"))
    username = models.CharField(_("user name"), max_length=150, blank=True)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    status = models.PositiveSmallIntegerField(_("status"))
    task_id = models.UUIDField(_("batch"), null=True, blank=True,
                               help_text=_("the batch this request started, cancelled or retried"))
    remote_addr = models.CharField(_("client address"), max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token request")
        verbose_name_plural = _("API token requests")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} [{self.token_name}] {self.method} {self.path}"
