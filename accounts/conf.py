"""Django settings for the logins, from the resolved configuration (kubenode.config, keys auth.*)."""

from __future__ import annotations

LDAP_BACKEND = "accounts.ldap_backend.LDAPRoleBackend"


def login_settings(config) -> dict:
    """LOGIN_BACKENDS (the authentication backends, after the lockout's) and the settings of mozilla-django-oidc
    and django-auth-ldap for what is enabled."""
    out: dict = {"LOGIN_BACKENDS": ["accounts.backends.LocalBackend"]}
    if config["auth.oidc.enabled"]:
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "client_id")
                   if not config[f"auth.oidc.{k}"]]
        if missing:
            raise ValueError("auth.oidc.enabled needs " + ", ".join(f"auth.oidc.{k}" for k in missing))
        out["LOGIN_BACKENDS"].append("accounts.backends.OIDCBackend")
        out.update(
            OIDC_OP_AUTHORIZATION_ENDPOINT=config["auth.oidc.authorization_endpoint"],
            OIDC_OP_TOKEN_ENDPOINT=config["auth.oidc.token_endpoint"],
            OIDC_OP_USER_ENDPOINT=config["auth.oidc.userinfo_endpoint"],
            OIDC_OP_JWKS_ENDPOINT=config["auth.oidc.jwks_endpoint"] or None,
            OIDC_RP_CLIENT_ID=config["auth.oidc.client_id"],
            OIDC_RP_CLIENT_SECRET=config["auth.oidc.client_secret"],
            OIDC_RP_SCOPES=config["auth.oidc.scopes"],
            OIDC_RP_SIGN_ALGO=config["auth.oidc.sign_algo"],
            OIDC_USE_PKCE=True,
            LOGIN_REDIRECT_URL_FAILURE="/login/?refused=1",
        )
        end = config["auth.oidc.end_session_endpoint"]
        if end and (not end.startswith(("https://", "http://")) or not end.split("://", 1)[1].split("/")[0]):
            raise ValueError(f"auth.oidc.end_session_endpoint must be an http(s) URL; {end!r} is not")
        if end:  # RP-initiated logout needs the ID token as its hint
            out.update(OIDC_STORE_ID_TOKEN=True, OIDC_OP_LOGOUT_URL_METHOD="accounts.logout.provider_logout_url")
    if config["auth.ldap.enabled"]:
        try:
            import ldap
            from django_auth_ldap.config import GroupOfNamesType, LDAPSearch
        except ImportError:
            raise ValueError("auth.ldap.enabled needs django-auth-ldap and python-ldap: pip install -r "
                             "requirements-logins.txt (python-ldap builds against libldap2-dev and libsasl2-dev)"
                             ) from None

        if not config["auth.ldap.server_uri"] or not config["auth.ldap.user_search_base"]:
            raise ValueError("auth.ldap.enabled needs auth.ldap.server_uri and auth.ldap.user_search_base")
        out["LOGIN_BACKENDS"].append(LDAP_BACKEND)
        out.update(
            AUTH_LDAP_SERVER_URI=config["auth.ldap.server_uri"],
            AUTH_LDAP_START_TLS=config["auth.ldap.start_tls"],
            AUTH_LDAP_BIND_DN=config["auth.ldap.bind_dn"],
            AUTH_LDAP_BIND_PASSWORD=config["auth.ldap.bind_password"],
            AUTH_LDAP_USER_SEARCH=LDAPSearch(config["auth.ldap.user_search_base"], ldap.SCOPE_SUBTREE,
                                             config["auth.ldap.user_filter"]),
            AUTH_LDAP_GROUP_SEARCH=LDAPSearch(config["auth.ldap.group_search_base"]
                                              or config["auth.ldap.user_search_base"], ldap.SCOPE_SUBTREE,
                                              config["auth.ldap.group_filter"]),
            AUTH_LDAP_GROUP_TYPE=GroupOfNamesType(),
            AUTH_LDAP_USER_ATTR_MAP={"first_name": "givenName", "last_name": "sn", "email": "mail"},
            AUTH_LDAP_ALWAYS_UPDATE_USER=True,
            AUTH_LDAP_CACHE_TIMEOUT=0,
        )
    return out
