#!/usr/bin/env bash
# Build and run a real kube-apiserver (Debian bookworm's kubernetes source) for contract tests.
#   scripts/kube-apiserver.sh build        build once, cached under ~/.cache/kubenode/ (idempotent)
#   scripts/kube-apiserver.sh path         print the cached binary path (exit 1 when not built)
#   scripts/kube-apiserver.sh start DIR    etcd + kube-apiserver on free loopback ports; writes DIR/kubeconfig,
#                                          DIR/viewer-kubeconfig (read-only), DIR/nobody-kubeconfig (no rights
#                                          beyond discovery), DIR/env, DIR/*.pid
#   scripts/kube-apiserver.sh stop DIR     stop them (and the pod finisher of make apiserver-run), delete data
set -euo pipefail
VERSION=v1.20.2
SRC_VERSION=1.20.5+really1.20.2
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${KUBENODE_APISERVER_CACHE:-$HOME/.cache/kubenode/kube-apiserver-$VERSION}"
BIN="$CACHE/kube-apiserver"

log() { echo "kube-apiserver.sh: $*" >&2; }

add_deb_src() {
  if apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then return; fi
  local out=/etc/apt/sources.list.d/kubenode-deb-src.sources
  python3 - "$out" <<'PY'
import glob, re, sys
blocks = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for block in re.split(r"\n\s*\n", open(path).read()):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        fields = dict(ln.split(":", 1) for ln in lines if ":" in ln)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if fields.get("Types", "").split() == ["deb"] and "bookworm" in fields.get("Suites", "").split() \
                and fields.get("Enabled", "yes") != "no":
            fields["Types"] = "deb-src"
            blocks.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
if not blocks:
    try:
        for ln in open("/etc/apt/sources.list"):
            parts = ln.split()
            if parts and parts[0] == "deb" and len(parts) > 2 and parts[2] == "bookworm":
                blocks.append("Types: deb-src\n" + "URIs: " + parts[1] + "\nSuites: bookworm\nComponents: "
                              + " ".join(parts[3:]))
    except FileNotFoundError:
        pass
if not blocks:
    sys.exit("no bookworm 'Types: deb' entry found to derive a deb-src entry from")
open(sys.argv[1], "w").write("\n\n".join(blocks) + "\n")
PY
  apt-get update -qq
}

packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

build() {
  # etcd, curl and openssl are needed to start the server, also when the binary comes from a cache
  command -v etcd >/dev/null && command -v curl >/dev/null && command -v openssl >/dev/null \
    || packages etcd-server curl openssl
  if [ -x "$BIN" ]; then log "cached: $BIN"; return 0; fi
  local start=$SECONDS
  add_deb_src
  packages golang-go etcd-server rsync jq dpkg-dev openssl curl
  local work="$CACHE.work"
  mkdir -p "$work"
  cd "$work"
  if [ ! -d "kubernetes-$SRC_VERSION" ]; then
    apt-get source -qq kubernetes >/dev/null
  fi
  cd "kubernetes-$SRC_VERSION"
  python3 "$HERE/patches/reflect2_go118.py" vendor/github.com/modern-go/reflect2
  export GOFLAGS=-mod=vendor GO111MODULE=on
  make WHAT=cmd/kube-apiserver
  mkdir -p "$CACHE"
  cp _output/local/bin/linux/amd64/kube-apiserver "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
  log "built $BIN in $((SECONDS - start)) s"
  if [ "${KUBENODE_APISERVER_KEEP_WORK:-0}" != 1 ]; then rm -rf "$work"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
  local dir="$1"
  [ -x "$BIN" ] || { log "not built; run: $0 build"; exit 1; }
  command -v etcd >/dev/null || { log "etcd missing; run: $0 build"; exit 1; }
  mkdir -p "$dir/etcd" "$dir/certs"
  dir="$(cd "$dir" && pwd)"
  local ep pp sp
  ep=$(free_port); pp=$(free_port); sp=$(free_port)
  etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$ep" \
    --advertise-client-urls "http://127.0.0.1:$ep" --listen-peer-urls "http://127.0.0.1:$pp" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "default=http://127.0.0.1:$pp" \
    >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local admin viewer nobody
  admin=$(openssl rand -hex 16); viewer=$(openssl rand -hex 16); nobody=$(openssl rand -hex 16)
  # nobody: authenticated (so discovery and self access reviews work, as for any user) but bound to nothing
  printf '%s,admin,admin-uid,system:masters\n%s,viewer,viewer-uid\n%s,nobody,nobody-uid\n' \
    "$admin" "$viewer" "$nobody" >"$dir/tokens.csv"
  chmod 600 "$dir/tokens.csv" "$dir/sa.key"
  "$BIN" --etcd-servers="http://127.0.0.1:$ep" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none --secure-port="$sp" --cert-dir="$dir/certs" \
    --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
  local url="https://127.0.0.1:$sp"
  local i
  for i in $(seq 1 120); do
    if [ "$(curl -sk -H "Authorization: Bearer $admin" "$url/readyz" 2>/dev/null)" = ok ]; then break; fi
    if ! kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null; then
      log "kube-apiserver exited; log tail:"; tail -20 "$dir/apiserver.log" >&2; stop "$dir"; exit 1
    fi
    sleep 0.5
  done
  if [ "$(curl -sk -H "Authorization: Bearer $admin" "$url/readyz")" != ok ]; then
    log "kube-apiserver not ready; log tail:"; tail -20 "$dir/apiserver.log" >&2; stop "$dir"; exit 1
  fi
  grant_viewer "$url" "$admin" || { log "cannot grant the viewer read access"; stop "$dir"; exit 1; }
  kubeconfig "$url" admin "$admin" >"$dir/kubeconfig"
  kubeconfig "$url" viewer "$viewer" >"$dir/viewer-kubeconfig"
  kubeconfig "$url" nobody "$nobody" >"$dir/nobody-kubeconfig"
  chmod 600 "$dir/kubeconfig" "$dir/viewer-kubeconfig" "$dir/nobody-kubeconfig"
  cat >"$dir/env" <<ENV
KUBE_APISERVER_URL=$url
KUBE_APISERVER_PORT=$sp
ETCD_PORT=$ep
KUBECONFIG=$dir/kubeconfig
VIEWER_KUBECONFIG=$dir/viewer-kubeconfig
NOBODY_KUBECONFIG=$dir/nobody-kubeconfig
ENV
  cat "$dir/env"
}

# The viewer may read what kubenode shows (get/list/watch), nothing else: like the simulator's viewer.
grant_viewer() {
  local url="$1" token="$2" rbac="$1/apis/rbac.authorization.k8s.io/v1"
  curl -skf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$rbac/clusterroles" -d '{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
      "metadata": {"name": "kubenode-viewer"},
      "rules": [{"apiGroups": ["", "apps", "policy"], "verbs": ["get", "list", "watch"],
                 "resources": ["nodes", "pods", "namespaces", "poddisruptionbudgets", "daemonsets",
                               "replicasets"]}]}' &&
  curl -skf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$rbac/clusterrolebindings" -d '{"apiVersion": "rbac.authorization.k8s.io/v1",
      "kind": "ClusterRoleBinding", "metadata": {"name": "kubenode-viewer"},
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubenode-viewer"},
      "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}]}'
}

kubeconfig() {
  cat <<KC
apiVersion: v1
kind: Config
clusters:
- name: kube-apiserver
  cluster:
    server: $1
    insecure-skip-tls-verify: true
users:
- name: $2
  user:
    token: $3
contexts:
- name: $2
  context:
    cluster: kube-apiserver
    user: $2
current-context: $2
KC
}

stop() {
  local dir="$1" f pid
  for f in kubelet apiserver etcd; do
    if [ -f "$dir/$f.pid" ]; then
      pid=$(cat "$dir/$f.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$f.pid"
    fi
  done
  rm -rf "$dir/etcd" "$dir/certs" "$dir/sa.key" "$dir/tokens.csv"
}

# one compound command ending in exit: bash has read all of it before running, so editing this file while a
# build runs cannot change what the running build does next
{
  case "${1:-}" in
    build) build ;;
    path) [ -x "$BIN" ] && echo "$BIN" ;;
    start) [ -n "${2:-}" ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start "$2" ;;
    stop) [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
    *) echo "usage: $0 build|path|start DIR|stop DIR" >&2; exit 2 ;;
  esac
  exit
}
