#!/usr/bin/env bash
# The container's entrypoint, and the very script the tests start the application with.
#
#   entrypoint.sh [serve]        the web role: daphne serving kubenode (graceful SIGTERM; python -m kubenode.serve)
#   entrypoint.sh worker ARGS…   the worker role: python manage.py progress_worker (claims and runs batches;
#                                SIGTERM finishes the node operations in flight and hands the rest back)
#   entrypoint.sh listen ARGS…   the standalone listener (progress.listener=standalone): python manage.py
#                                progress_listen (doorbells into the web processes' shared channel layer)
#   entrypoint.sh migrate        apply the database migrations once (the migrations Job), then make sure
#                                a first superuser exists (its generated password is printed once)
#   entrypoint.sh wait-migrations  wait until every migration is applied (an init container of each replica)
#   entrypoint.sh manage ARGS…   any manage.py command (config_show, notifier_check, progress_stats, …)
#
# Environment: BIND (0.0.0.0), PORT (8000), PYTHON (python3 on PATH), MIGRATE_WAIT_TIMEOUT (600 s),
# KUBENODE_CREATE_SUPERUSER (true); everything else is kubenode's configuration (docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

cmd=${1:-serve}
[ $# -gt 0 ] && shift

case "$cmd" in
  serve)
    exec "$PYTHON" -m kubenode.serve --bind "${BIND:-0.0.0.0}" --port "${PORT:-8000}" "$@"
    ;;
  worker)
    exec "$PYTHON" manage.py progress_worker "$@"
    ;;
  listen)
    exec "$PYTHON" manage.py progress_listen "$@"
    ;;
  migrate)
    "$PYTHON" manage.py migrate --noinput "$@"
    if [ "${KUBENODE_CREATE_SUPERUSER:-true}" = "true" ]; then
      "$PYTHON" manage.py ensure_superuser
    fi
    ;;
  wait-migrations)
    deadline=$(( $(date +%s) + ${MIGRATE_WAIT_TIMEOUT:-600} ))
    until "$PYTHON" manage.py migrate --check >/dev/null 2>&1; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "kubenode: migrations still not applied after ${MIGRATE_WAIT_TIMEOUT:-600}s; is the migrations Job done?" >&2
        "$PYTHON" manage.py migrate --check || true
        exit 1
      fi
      echo "kubenode: waiting for the migrations Job (python manage.py migrate --check)" >&2
      sleep 3
    done
    ;;
  manage)
    exec "$PYTHON" manage.py "$@"
    ;;
  *)
    echo "usage: entrypoint.sh [serve|worker|listen|migrate|wait-migrations|manage ARGS…]" >&2
    exit 64
    ;;
esac
