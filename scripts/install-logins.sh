#!/usr/bin/env bash
# Installs what the company logins and their tests need when it is missing:
#   system: Debian's slapd and ldap-utils (the OpenLDAP server the tests start on a free port), and the headers
#           python-ldap builds against (libldap2-dev, libsasl2-dev, gcc) — run before `pip install`;
#   npm:    the oidc-provider package (pinned in tests/fixtures/oidc/package.json), the OIDC provider the tests run.
# Usage: scripts/install-logins.sh [system|npm|all]  (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
if [ "$what" = system ] || [ "$what" = all ]; then
  need=()
  [ -x /usr/sbin/slapd ] || need+=(slapd)
  command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
  [ -f /usr/include/ldap.h ] || need+=(libldap2-dev)
  [ -f /usr/include/sasl/sasl.h ] || need+=(libsasl2-dev)
  command -v gcc >/dev/null 2>&1 || need+=(gcc)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "install-logins: ${need[*]} missing and installing needs root" >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
if [ "$what" = npm ] || [ "$what" = all ]; then
  if [ ! -f tests/fixtures/oidc/node_modules/oidc-provider/package.json ]; then
    npm install --prefix tests/fixtures/oidc --no-package-lock --no-audit --no-fund --silent
  fi
fi
