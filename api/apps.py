from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = gettext_lazy("API and access tokens")
    default_auto_field = "django.db.models.BigAutoField"
