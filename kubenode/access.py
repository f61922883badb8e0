"""Who may do what: every permission rule of kubenode, in one place.

Services call these (not only views), so the pages, the command line and any later API share one copy of each
rule. Roles are Django groups with permissions (created by migration nodes/0003_roles):

- viewer: read clusters, nodes, tasks of their own, the audit log (staff see every task);
- operator: labels, taints, cordon and uncordon (`nodes.operate_nodes`), label and taint templates;
- admin: drain (`nodes.drain_nodes`), clusters, users; staff and superusers are admins.

A task may be seen and managed (cancelled, retried) by its owner and by staff; acting on a task always needs the
acting user's *current* right to run the task's action.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

ACTIONS = ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain")
OPERATOR_ACTIONS = frozenset({"label", "unlabel", "taint", "untaint", "cordon", "uncordon"})


def _active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user) -> bool:
    return _active(user) and bool(user.is_superuser or user.is_staff or user.has_perm("nodes.drain_nodes"))


def is_operator(user) -> bool:
    return is_admin(user) or (_active(user) and user.has_perm("nodes.operate_nodes"))


def can_run(user, action: str) -> bool:
    if action not in ACTIONS:
        return False
    if action == "drain":
        return is_admin(user)
    return is_operator(user)


def require_run(user, action: str) -> None:
    if not can_run(user, action):
        from kubenode.words import action_name

        raise PermissionDenied(_("you may not run %(action)s") % {"action": action_name(action)} if action
                               else _("you may not run this action"))


def can_run_batch(user, action: str, params: dict | None, node_count: int) -> bool:
    """The action's right, and the drain right for a NoExecute taint on more than one node (it evicts pods as a
    drain does, without PodDisruptionBudgets)."""
    from nodes.validation import adds_noexecute

    if not can_run(user, action):
        return False
    return not (node_count > 1 and adds_noexecute(action, params or {})) or can_run(user, "drain")


def require_run_batch(user, action: str, params: dict | None, node_count: int) -> None:
    require_run(user, action)
    if not can_run_batch(user, action, params, node_count):
        raise PermissionDenied(_("a NoExecute taint on more than one node evicts pods like a drain: it needs the "
                                 "right to drain"))


def allowed_actions(user) -> list[str]:
    return [a for a in ACTIONS if can_run(user, a)]


def can_manage_templates(user) -> bool:
    return is_operator(user)


def require_manage_templates(user) -> None:
    if not can_manage_templates(user):
        raise PermissionDenied(_("label and taint templates are for operators"))


def sees_every_task(user) -> bool:
    return _active(user) and bool(user.is_staff or user.is_superuser)


def can_view_task(user, task) -> bool:
    return _active(user) and (sees_every_task(user) or task.user_id == user.pk)


def can_manage_task(user, task) -> bool:
    """Cancel or retry: the owner or an admin, who may still run the task's action."""
    return can_view_task(user, task) and can_run_batch(user, task.action, task.parameters, task.total)


def require_manage_task(user, task) -> None:
    if not can_manage_task(user, task):
        raise PermissionDenied(_("only the task's owner or staff, with the right to run its action, may do this"))


def can_manage_clusters(user) -> bool:
    """Add, check, rename and remove clusters: admins."""
    return is_admin(user)


def require_manage_clusters(user) -> None:
    if not can_manage_clusters(user):
        raise PermissionDenied(_("clusters are managed by admins"))


def manages_superusers(user) -> bool:
    """Superusers, and only they, touch superusers, the superuser flag and individual permissions."""
    return _active(user) and bool(user.is_superuser)


def can_manage_user(user, other) -> bool:
    """Whether `user` may change or delete the account `other` in the admin (its groups, staff status, password)."""
    if not _active(user):
        return False
    return manages_superusers(user) or not other.is_superuser


# ---- API access tokens ---------------------------------------------------------------------------------------------
# A token acts as its user, within its scope: `read` reads (and previews); `actions` may also do what the user's
# role allows (the rules above still decide each action). A token is managed by its user; admins use the admin.

def token_may_act(token) -> bool:
    return token is not None and token.scope == "actions"


def require_token_may_act(token) -> None:
    if not token_may_act(token):
        raise PermissionDenied(_("this token may only read: its scope is read"))


def can_manage_token(user, token) -> bool:
    return _active(user) and (token.user_id == user.pk or bool(user.is_superuser))


def require_manage_token(user, token) -> None:
    if not can_manage_token(user, token):
        raise PermissionDenied(_("a token is revoked by its own user or by an admin"))
