#!/usr/bin/env bash
# Installs what the browser tests need when it is missing: Debian's chromium, a font with Chinese characters (the
# Simplified Chinese pages and screenshots: fonts-noto-cjk), and axe-core (npm, pinned in
# tests/fixtures/axe/package.json) for the accessibility checks.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
fc-list :lang=zh family 2>/dev/null | grep -q . || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install-browser: ${need_apt[*]} missing and installing needs root" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ! -f tests/fixtures/axe/node_modules/axe-core/axe.min.js ]; then
  npm install --prefix tests/fixtures/axe --no-package-lock --no-audit --no-fund --silent
fi
