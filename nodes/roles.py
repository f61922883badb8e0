"""The viewer / operator / admin groups (created by migration nodes/0003_roles). The rules: kubenode.access."""


def ensure_groups() -> None:
    """(Re)create the viewer/operator/admin groups with their permissions (what migration 0003 does)."""
    import importlib

    from django.apps import apps

    importlib.import_module("nodes.migrations.0003_roles").create_roles(apps, None)
