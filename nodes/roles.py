"""Roles through Django groups: viewer (read), operator (labels, taints, cordon), admin (drain, clusters)."""
OPERATOR_ACTIONS = {"label", "unlabel", "taint", "untaint", "cordon", "uncordon"}
ADMIN_ACTIONS = {"drain"}


def _groups(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def is_admin(user) -> bool:
    return bool(user.is_superuser or user.is_staff or "admin" in _groups(user))


def can_run(user, action: str) -> bool:
    if is_admin(user):
        return action in OPERATOR_ACTIONS | ADMIN_ACTIONS
    if action in OPERATOR_ACTIONS:
        return "operator" in _groups(user)
    return False


def allowed_actions(user) -> list[str]:
    return [a for a in ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain") if can_run(user, a)]
