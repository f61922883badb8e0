"""Authentication backends: local passwords (superusers only when `auth.local_login` is off), OIDC, LDAP."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from . import roles


class LocalBackend(ModelBackend):
    """Django's own passwords; with auth.local_login off only superusers use them (break-glass)."""

    def user_can_authenticate(self, user):
        if not settings.CONFIG["auth.local_login"] and not user.is_superuser:
            return False
        return super().user_can_authenticate(user)


def _claim_groups(claims: dict) -> list[str]:
    value = claims.get(settings.CONFIG["auth.oidc.groups_claim"]) or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


try:
    from mozilla_django_oidc.auth import OIDCAuthenticationBackend
except ImportError:  # pragma: no cover - installed with requirements.txt
    OIDCAuthenticationBackend = None

if OIDCAuthenticationBackend is not None:
    class OIDCBackend(OIDCAuthenticationBackend):
        """An OIDC login: the user named by `auth.oidc.username_claim`, its role from the groups claim."""

        def _username(self, claims) -> str:
            return str(claims.get(settings.CONFIG["auth.oidc.username_claim"]) or "")[:150]

        def verify_claims(self, claims):
            return bool(self._username(claims))

        def filter_users_by_claims(self, claims):
            return get_user_model().objects.filter(username=self._username(claims))

        def create_user(self, claims):
            groups = _claim_groups(claims)
            role = roles.login_role(groups)
            if role is None:
                roles.log.warning("login via oidc refused user=%s groups=%s: no group maps to a role",
                                  self._username(claims), sorted(groups))
                return None
            user = get_user_model().objects.create_user(self._username(claims), email=claims.get("email", ""))
            roles.apply_role(user, role, "oidc", groups)
            return user

        def update_user(self, user, claims):
            groups = _claim_groups(claims)
            role = roles.login_role(groups)
            if role is None:
                roles.strip_roles(user, "oidc", groups)
                return None
            if claims.get("email") and user.email != claims["email"]:
                user.email = claims["email"]
                user.save(update_fields=["email"])
            roles.apply_role(user, role, "oidc", groups)
            return user


def ldap_backend_class():
    """The LDAP backend (django-auth-ldap), imported only when LDAP is enabled."""
    from django_auth_ldap.backend import LDAPBackend

    class LDAPRoleBackend(LDAPBackend):
        """An LDAP login: the directory checks the password, the user's LDAP groups give its role."""

        def authenticate_ldap_user(self, ldap_user, password):
            user = super().authenticate_ldap_user(ldap_user, password)
            if user is None:
                return None
            groups = sorted(ldap_user.group_names)
            role = roles.login_role(groups)
            if role is None:
                roles.strip_roles(user, "ldap", groups)
                return None
            roles.apply_role(user, role, "ldap", groups)
            return user

    return LDAPRoleBackend
