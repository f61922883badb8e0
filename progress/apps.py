from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Batch progress"

    def ready(self):
        from . import ws_security

        ws_security.connect_signals()  # a logout or a change of role closes the user's WebSockets
