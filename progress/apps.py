from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = gettext_lazy("Batch progress")

    def ready(self):
        from . import ws_security

        ws_security.connect_signals()  # a logout or a change of role closes the user's WebSockets
