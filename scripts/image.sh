#!/usr/bin/env bash
# Build kubenode's container image without a registry: a Debian bookworm base made with mmdebstrap (Debian's
# own packages), then the Dockerfile built with buildah (chroot isolation, vfs storage: no daemon, no overlay).
#
#   scripts/image.sh base       the base image (rootfs cached under ~/.cache/kubenode/; built when missing)
#   scripts/image.sh build      base, then the image of this checkout, tagged by a hash of what it copies
#                               (a no-op when that image exists); prints its name on the last line
#   scripts/image.sh name       the image name of this checkout (built or not)
#   scripts/image.sh buildah ARGS…   buildah on kubenode's image storage (inspect, run, images, rmi, …)
#   scripts/image.sh clean      remove the image storage (the cached base rootfs stays)
#
# buildah and mmdebstrap are installed with apt when missing (root). Python packages come from the package
# index the machine's pip configuration names: /etc/pip.conf and the CA certificates are mounted into the
# build (nothing of them stays in the image). A failed step exits non-zero.
# Environment: KUBENODE_IMAGE_CACHE (~/.cache/kubenode), KUBENODE_IMAGE_TAG_PREFIX (localhost/kubenode).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BASE_KEY=bookworm-3   # bump when the base's package list changes
BASE_PACKAGES=apt,passwd,python3,python3-venv,ca-certificates,tzdata,netbase,gettext
CACHE="${KUBENODE_IMAGE_CACHE:-$HOME/.cache/kubenode}"
STORE="$CACHE/containers"
BASE_TAR="$CACHE/image-base-$BASE_KEY.tar"
BASE_IMAGE="localhost/kubenode-base:$BASE_KEY"
PREFIX="${KUBENODE_IMAGE_TAG_PREFIX:-localhost/kubenode}"

log() { echo "image.sh: $*" >&2; }

bah() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"; }

need_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then log "need root to install ${missing[*]} (apt-get install ${missing[*]})"; exit 1; fi
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

# The machine's own Debian sources for bookworm (deb822), so no archive host is written anywhere here.
host_sources() {
  python3 - "$1" <<'PY'
import glob, re, sys
blocks = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for block in re.split(r"\n\s*\n", open(path).read()):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        fields = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        suites = fields.get("Suites", "").split()
        if fields.get("Types", "").split() == ["deb"] and any(s.startswith("bookworm") for s in suites) \
                and fields.get("Enabled", "yes") != "no" and "debian" in fields.get("Signed-By", "debian"):
            blocks.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
if not blocks:
    try:
        for ln in open("/etc/apt/sources.list"):
            parts = ln.split()
            if parts and parts[0] == "deb" and len(parts) > 3 and parts[2].startswith("bookworm"):
                blocks.append(f"Types: deb\nURIs: {parts[1]}\nSuites: {parts[2]}\nComponents: {' '.join(parts[3:])}")
    except FileNotFoundError:
        pass
if not blocks:
    sys.exit("no Debian bookworm 'deb' source found in /etc/apt to build the base from")
open(sys.argv[1], "w").write("\n\n".join(blocks) + "\n")
PY
}

base() {
  need_tools
  mkdir -p "$CACHE"
  if [ ! -s "$BASE_TAR" ]; then
    local start=$SECONDS sources="$CACHE/image-base-$BASE_KEY.sources"
    host_sources "$sources"
    log "building the Debian bookworm base with mmdebstrap ($BASE_PACKAGES)"
    mmdebstrap --mode=root --format=tar --variant=essential --include="$BASE_PACKAGES" \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$BASE_TAR.tmp" "$sources" </dev/null >&2
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    log "base rootfs $BASE_TAR in $((SECONDS - start)) s"
  fi
  if ! bah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    local ctr
    ctr=$(bah from --name "kubenode-base-import-$$" scratch)
    bah add "$ctr" "$BASE_TAR" / >/dev/null
    bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --label org.opencontainers.image.description="Debian bookworm (mmdebstrap) with python3 and venv" "$ctr"
    bah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
    log "base image $BASE_IMAGE"
  fi
}

context_hash() {
  { sha256sum Dockerfile .dockerignore requirements.txt requirements-logins.txt manage.py scripts/entrypoint.sh scripts/compile-messages.sh
    find kubenode nodes progress api accounts templates static locale -type f ! -name '*.mo' ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
      | sort -z | xargs -0 sha256sum
    echo "$BASE_IMAGE"; } | sha256sum | cut -c1-16
}

name() { echo "$PREFIX:$(context_hash)"; }

build() {
  base
  local image
  image=$(name)
  if bah inspect --type image "$image" >/dev/null 2>&1; then
    log "up to date: $image"
    echo "$image"
    return 0
  fi
  local start=$SECONDS mounts=()
  [ -f /etc/pip.conf ] && mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  [ -f /etc/ssl/certs/ca-certificates.crt ] && \
    mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  log "building $image (base $BASE_IMAGE)"
  # the venv stage first, tagged: its layers (python-ldap compiled) stay cached when the application changes (an
  # untagged stage would be pruned below as dangling)
  bah bud --isolation chroot --network host --layers --pull=never "${mounts[@]}" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --target venv -t "$PREFIX-venv:$BASE_KEY" -f Dockerfile . >&2
  bah bud --isolation chroot --network host --layers --pull=never "${mounts[@]}" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$image" -f Dockerfile . >&2
  # older images of this checkout go; the layers the new one shares stay
  bah images --format '{{.Name}}:{{.Tag}}' | grep "^$PREFIX:" | grep -v "^$image$" \
    | xargs -r buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs rmi -f >/dev/null 2>&1 || true
  bah rmi --prune >/dev/null 2>&1 || true
  log "built $image in $((SECONDS - start)) s"
  echo "$image"
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
case "$cmd" in
  base) base ;;
  build) build ;;
  name) name ;;
  buildah) bah "$@" ;;
  clean) rm -rf "$STORE" ;;
  *) echo "usage: scripts/image.sh [base|build|name|buildah ARGS…|clean]" >&2; exit 64 ;;
esac
