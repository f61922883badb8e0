"""Roles through Django groups and permissions (groups created by migration nodes/0003_roles).

viewer: read; operator: labels, taints, cordon/uncordon (`nodes.operate_nodes`);
admin: drain (`nodes.drain_nodes`), clusters, users. Staff and superusers are admins.
"""
ACTIONS = ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain")
OPERATOR_ACTIONS = {"label", "unlabel", "taint", "untaint", "cordon", "uncordon"}


def is_admin(user) -> bool:
    return bool(user.is_superuser or user.is_staff or user.has_perm("nodes.drain_nodes"))


def can_run(user, action: str) -> bool:
    if not user.is_authenticated or action not in ACTIONS:
        return False
    if action == "drain":
        return is_admin(user)
    return is_admin(user) or user.has_perm("nodes.operate_nodes")


def allowed_actions(user) -> list[str]:
    return [a for a in ACTIONS if can_run(user, a)]


def ensure_groups() -> None:
    """(Re)create the viewer/operator/admin groups with their permissions (what migration 0003 does)."""
    import importlib

    from django.apps import apps

    importlib.import_module("nodes.migrations.0003_roles").create_roles(apps, None)
