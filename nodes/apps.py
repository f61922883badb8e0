from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class NodesConfig(AppConfig):
    name = "nodes"
    verbose_name = gettext_lazy("Clusters and nodes")

    def ready(self):
        from . import batches

        batches.register_operations()  # the task engine (progress) runs node operations through these
