from django.apps import AppConfig


class KubenodeConfig(AppConfig):
    name = "kubenode"
    verbose_name = "kubenode"
