"""The role a company login gets: its groups (an OIDC claim, LDAP groups) mapped to viewer / operator / admin by
`auth.groups.*`, the strongest wins; groups that map to nothing give `auth.unmapped` (viewer, or refused). Applied
at every login, so leaving a group takes the role away at the next one. The rights of each role: kubenode.access.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import Group

ROLES = ("admin", "operator", "viewer")  # strongest first
log = logging.getLogger(__name__)


def role_for(groups) -> str | None:
    """The role the groups give, or None when they map to nothing (group names compare case-insensitively)."""
    have = {str(g).strip().lower() for g in groups or ()}
    for role in ROLES:
        wanted = {g.lower() for g in settings.CONFIG[f"auth.groups.{role}"]}
        if have & wanted:
            return role
    return None


def login_role(groups) -> str | None:
    """The role to give at login, or None when the login is refused."""
    role = role_for(groups)
    if role is None and settings.CONFIG["auth.unmapped"] == "viewer":
        return "viewer"
    return role


def apply_role(user, role: str, source: str, groups) -> None:
    """Make `role` the user's only role group (other groups stay); admins are staff. Superusers keep their flags."""
    role_groups = list(Group.objects.filter(name__in=ROLES))
    user.groups.remove(*[g for g in role_groups if g.name != role])
    user.groups.add(*[g for g in role_groups if g.name == role])
    if not user.is_superuser and user.is_staff != (role == "admin"):
        user.is_staff = role == "admin"
        user.save(update_fields=["is_staff"])
    log.info("login via %s user=%s groups=%s role=%s", source, user.get_username(), sorted(groups or ()), role)


def strip_roles(user, source: str, groups) -> None:
    """A refused login: the user keeps no role (a session or token made earlier then has none either)."""
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if not user.is_superuser and user.is_staff:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    log.warning("login via %s refused user=%s groups=%s: no group maps to a role", source, user.get_username(),
                sorted(groups or ()))
