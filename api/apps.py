from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API and access tokens"
    default_auto_field = "django.db.models.BigAutoField"
