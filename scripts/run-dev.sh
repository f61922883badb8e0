#!/usr/bin/env bash
# `make run`: migrate, create the first superuser once, start a simulated "demo" cluster
# when no other cluster is configured, and serve on http://127.0.0.1:8000 with daphne.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.venv/bin:$PATH"
export DEBUG="${DEBUG:-true}"
mkdir -p var

python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
python manage.py ensure_superuser

SIM_PID=""
if python manage.py demo_cluster --check-needed; then
  SIM_PORT=${KUBENODE_SIM_PORT:-8801}
  python manage.py kube_sim --nodes "${KUBENODE_SIM_NODES:-50}" --port "$SIM_PORT" \
    --kubeconfig var/demo-kubeconfig.yaml --simulate-activity > var/kube_sim.log 2>&1 &
  SIM_PID=$!
  trap '[ -n "$SIM_PID" ] && kill $SIM_PID 2>/dev/null' EXIT
  python manage.py demo_cluster --kubeconfig var/demo-kubeconfig.yaml --wait 15
fi

echo "kubenode: serving on http://127.0.0.1:${PORT:-8000}/"
daphne -b 127.0.0.1 -p "${PORT:-8000}" kubenode.asgi:application
