#!/usr/bin/env bash
# The translations' compiled catalogues: locale/*/LC_MESSAGES/*.mo from the .po files (never committed), with
# Debian's gettext (msgfmt), installed with apt when missing (root). Run by `make run`, `make test` and the image
# build. A .po that does not compile fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v msgfmt >/dev/null; then
  if [ "$(id -u)" != 0 ]; then echo "compile-messages.sh: need msgfmt (apt-get install gettext)" >&2; exit 1; fi
  echo "compile-messages.sh: installing gettext (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends gettext >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends gettext >/dev/null; }
fi
for po in locale/*/LC_MESSAGES/*.po; do
  mo="${po%.po}.mo"
  if [ ! -f "$mo" ] || [ "$po" -nt "$mo" ]; then
    msgfmt --check-format -o "$mo.tmp" "$po" && mv "$mo.tmp" "$mo"
  fi
done
