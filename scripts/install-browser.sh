#!/usr/bin/env bash
# Installs what the browser tests need when it is missing: Debian's chromium, and axe-core (npm, pinned in
# package.json / package-lock.json) for the accessibility checks, served to the pages from node_modules/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "install-browser: chromium is missing and installing it needs root" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then echo "install-browser: npm is missing and installing it needs root" >&2; exit 1; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  npm ci --no-audit --no-fund --silent
fi
