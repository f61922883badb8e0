from django.apps import AppConfig


class KubesimConfig(AppConfig):
    """Dev-only app: the `kube_sim` command. Not part of the production image."""

    name = "kubesim"
    verbose_name = "Simulated Kubernetes API server"
