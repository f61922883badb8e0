"""What kubenode remembers of a user beyond Django's own user: the language the pages speak to them."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Preference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kubenode_preference",
                                verbose_name=_("user"))
    language = models.CharField(_("language"), max_length=16, blank=True,
                                help_text=_("Empty: the language the browser asks for."))
    page_language = models.CharField(_("language of the last page"), max_length=16, blank=True,
                                     help_text=_("What the user's pages last spoke (the browser's choice when no "
                                                 "language was chosen): the words of their batches' errors."))
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("Empty: the browser's time zone, else the configured default."))

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return f"{self.user} ({self.language or '-'})"
