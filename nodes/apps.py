from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "nodes"
    verbose_name = "Clusters and nodes"

    def ready(self):
        from . import batches

        batches.register_operations()  # the task engine (progress) runs node operations through these
