"""The LDAP backend's import path (django-auth-ldap is imported only when LDAP is enabled)."""

from .backends import ldap_backend_class

LDAPRoleBackend = ldap_backend_class()
