"""Logins: local accounts (which can be kept for superusers only), OIDC and LDAP, with groups mapped to roles."""
