#!/usr/bin/env bash
# Makes sure a PostgreSQL and a Redis server are reachable for the test suite and prints
# the environment that points the tests at them (eval "$(scripts/test-services.sh)").
# Uses the machine's servers on their usual ports when they answer; otherwise installs the
# Debian packages when missing and starts throw-away instances on free ports under var/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN="$ROOT/var/test-services"
mkdir -p "$RUN"

log() { echo "test-services: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to install $*"; return 1; fi
  if [ ! -f "$RUN/.apt-updated" ]; then apt-get update -qq >&2 && touch "$RUN/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_answers() { python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

# --- PostgreSQL
# The suite runs many processes (web, workers, listeners) each with their own connections: it needs a server
# that accepts at least $NEED_CONNECTIONS. A machine server with fewer is left alone and a throw-away one is used.
NEED_CONNECTIONS=${KUBENODE_TEST_PG_MIN_CONNECTIONS:-250}
PG_HOST=${KUBENODE_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${KUBENODE_TEST_PG_PORT:-5432}

max_connections() {  # prints the server's max_connections, or nothing when it cannot be asked
  command -v psql >/dev/null || return 0
  psql -h "$1" -p "$2" -U postgres -d postgres -Atc 'show max_connections' 2>/dev/null || true
}

big_enough() {
  local n; n=$(max_connections "$1" "$2")
  [ -n "$n" ] && [ "$n" -ge "$NEED_CONNECTIONS" ]
}

if ! pg_answers "$PG_HOST" "$PG_PORT"; then
  if [ -d /etc/postgresql ] && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  fi
fi
if ! { pg_answers "$PG_HOST" "$PG_PORT" && big_enough "$PG_HOST" "$PG_PORT"; }; then
  if pg_answers "$PG_HOST" "$PG_PORT"; then
    log "PostgreSQL on $PG_HOST:$PG_PORT allows $(max_connections "$PG_HOST" "$PG_PORT") connections, the suite needs $NEED_CONNECTIONS"
  fi
  # a throw-away server started by an earlier run is used again
  KEPT=$(cat "$RUN/pg-current" 2>/dev/null || true)
  if [ -n "$KEPT" ] && pg_answers 127.0.0.1 "$KEPT" && big_enough 127.0.0.1 "$KEPT"; then
    PG_HOST=127.0.0.1; PG_PORT=$KEPT
  else
    BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$BIN" ]; then apt_install postgresql; BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi
    command -v psql >/dev/null || apt_install postgresql-client
    PG_PORT=$(free_port); PG_HOST=127.0.0.1
    DATA="$RUN/pg-$PG_PORT"
    log "starting a throw-away PostgreSQL on $PG_HOST:$PG_PORT ($DATA)"
    rm -rf "$DATA"; mkdir -p "$DATA"; chown postgres "$DATA" 2>/dev/null || true
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    as_pg "$BIN/initdb" -D "$DATA/data" -U postgres --auth=trust -E UTF8 >/dev/null
    as_pg "$BIN/pg_ctl" -D "$DATA/data" -l "$DATA/log" -w \
      -o "-p $PG_PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >&2
    echo "$PG_PORT" > "$RUN/pg-current"
  fi
fi

# --- Redis
REDIS_HOST=${KUBENODE_TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${KUBENODE_TEST_REDIS_PORT:-6379}
if ! pg_answers "$REDIS_HOST" "$REDIS_PORT"; then
  command -v redis-server >/dev/null || apt_install redis-server
  REDIS_PORT=$(free_port); REDIS_HOST=127.0.0.1
  log "starting a throw-away Redis on $REDIS_HOST:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$RUN" --pidfile "$RUN/redis-$REDIS_PORT.pid" --logfile "$RUN/redis-$REDIS_PORT.log" >&2
fi

echo "export DB_HOST=$PG_HOST DB_PORT=$PG_PORT KUBENODE_TEST_REDIS_ADDR=$REDIS_HOST:$REDIS_PORT"
