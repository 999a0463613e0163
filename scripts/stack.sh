#!/usr/bin/env bash
# stack.sh: runs the whole Quizwire stack on loopback from one data folder:
# a PostgreSQL cluster, nats-server, the migrations, auth, session, scoring
# and two gateways (every one as an unprivileged user when started as root,
# each with only its own credentials: scripts/secrets.sh, docs/SECURITY.md),
# each daemon under a supervisor that restarts it with backoff when it dies.
# Ctrl-C (SIGINT) or SIGTERM stops everything it started, in order.
#
# usage: scripts/stack.sh --dir DIR --bin BUILD_DIR [--random-ports] [--gateways N]
#
# It writes DIR/stack.env (ports, URLs, pid files) once every gateway's
# /healthz answers 200, then prints the banner and waits.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=""
BIN=""
RANDOM_PORTS=0
GATEWAYS=2
SESSIONS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --random-ports) RANDOM_PORTS=1; shift ;;
    --gateways) GATEWAYS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    *) echo "stack.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$DIR" ] || [ -z "$BIN" ]; then
  echo "usage: stack.sh --dir DIR --bin BUILD_DIR [--random-ports] [--gateways N] [--sessions N]" >&2
  exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIN=$(cd "$BIN" && pwd)
LOGS=$DIR/logs
RUN=$DIR/run
mkdir -p "$LOGS" "$RUN"
# shellcheck source=scripts/secrets.sh
. "$ROOT/scripts/secrets.sh"
# the admin password goes to auth alone (see with_admin_password)
export -n QW_ADMIN_PASSWORD
# and each daemon gets its own database URL; the gateways none
export -n QW_DB_URL
stack_user_init
secrets_init "$DIR" "$BIN"
if [ "$(id -u)" = 0 ]; then
  # the daemons (as $QW_OS_USER) write their sanitizer reports here
  chown "$QW_OS_USER:" "$LOGS"
  "${RUN_AS[@]}" test -x "$BIN/services/gateway/qw-gateway" -a -r "$SECRETS" \
    || die "user $QW_OS_USER cannot reach $BIN or $DIR: pick folders it can enter"
fi
rm -f "$DIR/stack.env" "$RUN"/*.pid "$RUN/stopping"

log() { printf '%s stack info event=%s\n' "$(date -u +%FT%T.%3NZ)" "$*" >>"$LOGS/supervisor.log"; }
die() { echo "stack.sh: $*" >&2; log "failed reason=\"$*\""; exit 1; }

# ---- ports ---------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
if [ "$RANDOM_PORTS" = 1 ]; then
  NATS_PORT=$(free_port); PG_PORT=$(free_port)
  OPS_AUTH=$(free_port); OPS_SESSION=$(free_port); OPS_SESSION2=$(free_port); OPS_SCORING=$(free_port)
  GW_PORTS=(); GW_OPS=()
  for ((i = 0; i < GATEWAYS; i++)); do GW_PORTS+=("$(free_port)"); GW_OPS+=("$(free_port)"); done
else
  NATS_PORT=${QW_STACK_NATS_PORT:-4222}; PG_PORT=${QW_STACK_PG_PORT:-5433}
  OPS_AUTH=9101; OPS_SESSION=9102; OPS_SESSION2=9106; OPS_SCORING=9103
  GW_PORTS=(); GW_OPS=()
  for ((i = 0; i < GATEWAYS; i++)); do GW_PORTS+=("$((8080 + i))"); GW_OPS+=("$((9110 + i))"); done
fi

# ---- PostgreSQL ----------------------------------------------------------
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1)
[ -n "$PGBIN" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
PGDATA=$DIR/pg/data
PGSOCK=$DIR/pg/run
mkdir -p "$DIR/pg" "$PGSOCK"
# the cluster and its socket are for their owner alone; logins need a password
chmod 700 "$DIR/pg" "$PGSOCK"
pg_secrets_init
PGPASSFILE=$SECRETS/pg-owner.pgpass
# owner_psql ARGS...: psql as the cluster's owner on the stack's socket
owner_psql() { PGPASSFILE=$PGPASSFILE "$PGBIN/psql" -h "$PGSOCK" -p "$PG_PORT" -U quizwire "$@"; }
PGUSER_OS=$(id -un)
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: run it as the unprivileged 'quizwire'.
  PGUSER_OS=$QW_OS_USER
  touch "$LOGS/postgres.log"
  chown -R "$QW_OS_USER:" "$DIR/pg" "$LOGS/postgres.log"
  as_pg() { runuser -u quizwire -- "$@"; }
fi
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U quizwire -A scram-sha-256 --pwfile="$SECRETS/pg-owner.password" \
    -E UTF8 --locale=C.UTF-8 --no-instructions \
    >>"$LOGS/postgres-init.log" 2>&1 || die "initdb failed, see $LOGS/postgres-init.log"
  cat >>"$PGDATA/postgresql.conf" <<EOF
# Quizwire local stack: Unix socket only, durable commits.
listen_addresses = ''
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
EOF
  log "postgres_initialised data=$PGDATA"
fi
# a cluster made before passwords (trust): set them, then require them
PG_TRUST=0
grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$PGDATA/pg_hba.conf" && PG_TRUST=1
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGS/postgres.log" -w -t 60 \
  -o "-k $PGSOCK -p $PG_PORT -c unix_socket_permissions=0700" start >/dev/null || die "PostgreSQL did not start, see $LOGS/postgres.log"
head -n 1 "$PGDATA/postmaster.pid" >"$RUN/postgres.pid"
log "postgres_started port=$PG_PORT socket=$PGSOCK"
if ! owner_psql -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'quizwire'" | grep -q 1; then
  owner_psql -d postgres -qc "CREATE DATABASE quizwire" \
    >>"$LOGS/postgres-init.log" 2>&1 || die "could not create database quizwire"
fi
pg_roles_sync owner_psql -d quizwire \
  >>"$LOGS/postgres-init.log" 2>&1 || die "could not set the database roles, see $LOGS/postgres-init.log"
if [ "$PG_TRUST" = 1 ]; then
  echo "local all all scram-sha-256" >"$PGDATA/pg_hba.conf"
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" reload >/dev/null
  log "postgres_passwords_required"
fi
# the owner (migrations, tests, tools) and each daemon's own role
QW_DB_URL=$(pg_url owner "$PGSOCK" "$PG_PORT")

# ---- stopping ------------------------------------------------------------
SUP_PIDS=()
NATS_SUP=""
STOPPED=0
stop_all() {
  [ "$STOPPED" = 1 ] && return 0
  STOPPED=1
  trap '' INT TERM
  touch "$RUN/stopping"
  log "stopping"
  # gateways first (they hold the sockets), then the daemons, NATS, Postgres
  for ((i = ${#SUP_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${SUP_PIDS[$i]}" 2>/dev/null || true; done
  for p in "${SUP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$NATS_SUP" ] && { kill -TERM "$NATS_SUP" 2>/dev/null || true; wait "$NATS_SUP" 2>/dev/null || true; }
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  log "stopped"
  rm -f "$DIR/stack.env"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# supervise NAME CMD...: runs CMD, restarting it with backoff (0.25 s doubling
# to 8 s, back to 0.25 s after 30 s of life) until the stack stops. The pid
# of the running child is in $RUN/NAME.pid so fault tests can kill it.
supervise() {
  local name=$1; shift
  (
    child=""
    trap 'touch "$RUN/stopping.$name"; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
    backoff=250
    while [ ! -e "$RUN/stopping.$name" ]; do
      started=$(date +%s)
      "$@" >>"$LOGS/$name.log" 2>&1 &
      child=$!
      echo "$child" >"$RUN/$name.pid"
      rc=0; wait "$child" || rc=$?
      # a trapped signal interrupts wait: wait again for the child itself
      while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
      [ -e "$RUN/stopping.$name" ] && break
      lived=$(($(date +%s) - started))
      [ "$lived" -ge 30 ] && backoff=250
      log "daemon_exited daemon=$name rc=$rc restart_in_ms=$backoff"
      sleep "$(printf '%d.%03d' $((backoff / 1000)) $((backoff % 1000)))" &
      wait $! || true
      backoff=$((backoff * 2)); [ "$backoff" -gt 8000 ] && backoff=8000
    done
    rm -f "$RUN/$name.pid" "$RUN/stopping.$name"
  ) &
  SUP_PIDS+=($!)
}

# ---- NATS ----------------------------------------------------------------
nats_conf_write "$DIR/nats.conf" "$BIN" "$NATS_PORT" || die "could not write $DIR/nats.conf"
(
  trap 'touch "$RUN/stopping.nats"; kill -TERM "$(cat "$RUN/nats.pid" 2>/dev/null)" 2>/dev/null' TERM INT
  # NATS is restarted by hand in fault tests: keep it running until stopped.
  while [ ! -e "$RUN/stopping.nats" ]; do
    "${RUN_AS[@]}" nats-server -c "$DIR/nats.conf" >>"$LOGS/nats.log" 2>&1 &
    echo $! >"$RUN/nats.pid"
    wait $! || true
    while kill -0 "$(cat "$RUN/nats.pid")" 2>/dev/null; do wait "$(cat "$RUN/nats.pid")" || true; done
    [ -e "$RUN/stopping.nats" ] && break
    # a fault test may hold NATS down by creating $RUN/hold.nats
    while [ -e "$RUN/hold.nats" ] && [ ! -e "$RUN/stopping.nats" ]; do sleep 0.1; done
    sleep 0.25
  done
  rm -f "$RUN/stopping.nats"
) &
NATS_SUP=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
  sleep 0.1
done
export QW_NATS_URL="nats://127.0.0.1:$NATS_PORT"
log "nats_started port=$NATS_PORT"

# ---- schema --------------------------------------------------------------
QW_DB_URL=$QW_DB_URL QW_MIGRATIONS_DIR="$ROOT/db/migrations" "${RUN_AS[@]}" "$BIN/services/migrate/qw-migrate" >>"$LOGS/migrate.log" 2>&1 \
  || die "migrations failed, see $LOGS/migrate.log"

# ---- admin password -----------------------------------------------------
PASSWORD_NOTE=""
if [ -z "${QW_ADMIN_PASSWORD:-}" ] && [ ! -e "$DIR/.admin_password_set" ]; then
  QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
  PASSWORD_NOTE="generated at first start; only its hash is kept"
fi

# ---- daemons -------------------------------------------------------------
export QW_STATIC_DIR=${QW_STATIC_DIR:-$ROOT/web/dist}
export QUIZ_POOL_PATH=${QUIZ_POOL_PATH:-$ROOT/examples/demo10_pool.json}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:log_path=$LOGS/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:log_path=$LOGS/ubsan}
# with_admin_password CMD...: becomes CMD (exec, so the pid supervise
# records is the daemon's) with QW_ADMIN_PASSWORD in its environment, never
# on a command line; only for supervise, whose child is a subshell. Only
# auth is started this way.
with_admin_password() {
  if [ -n "${QW_ADMIN_PASSWORD:-}" ]; then QW_ADMIN_PASSWORD=$QW_ADMIN_PASSWORD exec "$@"; fi
  exec "$@"
}
# nats_user ROLE: NATS_USER, the NATS settings of a daemon of ROLE for env(1).
nats_user() { NATS_USER=(QW_NATS_USER="qw_$1" QW_NATS_PASSWORD_FILE="$SECRETS/nats-$1.password"); }
nats_user auth
supervise auth with_admin_password "${RUN_AS[@]}" env "${NATS_USER[@]}" \
  QW_DB_URL="$(pg_url auth "$PGSOCK" "$PG_PORT")" QW_OPS_PORT="$OPS_AUTH" \
  QW_INSTANCE=auth-1 "$BIN/services/auth/qw-auth"
nats_user session
SESSION_DB_URL=$(pg_url session "$PGSOCK" "$PG_PORT")
supervise session "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$SESSION_DB_URL" QW_OPS_PORT="$OPS_SESSION" \
  QW_INSTANCE=session-1 "$BIN/services/session/qw-session"
if [ "$SESSIONS" -ge 2 ]; then
  supervise session2 "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$SESSION_DB_URL" QW_OPS_PORT="$OPS_SESSION2" \
    QW_INSTANCE=session-2 "$BIN/services/session/qw-session"
fi
nats_user scoring
supervise scoring "${RUN_AS[@]}" env "${NATS_USER[@]}" \
  QW_DB_URL="$(pg_url scoring "$PGSOCK" "$PG_PORT")" QW_OPS_PORT="$OPS_SCORING" \
  QW_INSTANCE=scoring-1 "$BIN/services/scoring/qw-scoring"
GW_URLS=()
nats_user gateway
for ((i = 0; i < GATEWAYS; i++)); do
  supervise "gateway$((i + 1))" "${RUN_AS[@]}" env -u QW_DB_URL "${NATS_USER[@]}" \
    QW_HTTP_PORT="${GW_PORTS[$i]}" QW_OPS_PORT="${GW_OPS[$i]}" QW_INSTANCE="gateway-$((i + 1))" \
    "$BIN/services/gateway/qw-gateway"
  GW_URLS+=("http://127.0.0.1:${GW_PORTS[$i]}")
done

healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/healthz")" = 200 ]; }
deadline=$(($(date +%s) + 90))
for u in "${GW_URLS[@]}"; do
  until healthy "$u"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$u/healthz did not answer 200 within 90 s, see $LOGS"
    sleep 0.2
  done
done
[ -n "$PASSWORD_NOTE" ] && touch "$DIR/.admin_password_set"

{
  echo "QW_STACK_DIR=$DIR"
  echo "QW_NATS_URL=$QW_NATS_URL"
  echo "QW_NATS_PORT=$NATS_PORT"
  echo "QW_NATS_SECRET_DIR=$SECRETS"
  echo "QW_DB_URL='$QW_DB_URL'"
  echo "QW_DB_URL_SESSION='$SESSION_DB_URL'"
  echo "PGPASSFILE=$PGPASSFILE"
  echo "QW_PG_BIN=$PGBIN"
  echo "QW_PG_DATA=$PGDATA"
  echo "QW_PG_SOCKET=$PGSOCK"
  echo "QW_PG_PORT=$PG_PORT"
  echo "QW_PG_OS_USER=$PGUSER_OS"
  echo "QW_GATEWAYS=$(IFS=,; echo "${GW_URLS[*]}")"
  echo "QW_GATEWAY_OPS=$(IFS=,; for p in "${GW_OPS[@]}"; do printf 'http://127.0.0.1:%s,' "$p"; done | sed 's/,$//')"
  echo "QW_OPS_AUTH=http://127.0.0.1:$OPS_AUTH"
  echo "QW_OPS_SESSION=http://127.0.0.1:$OPS_SESSION"
  echo "QW_OPS_SCORING=http://127.0.0.1:$OPS_SCORING"
  echo "QW_RUN_DIR=$RUN"
  echo "QW_LOG_DIR=$LOGS"
} >"$DIR/stack.env.tmp"
chmod 600 "$DIR/stack.env.tmp"
mv "$DIR/stack.env.tmp" "$DIR/stack.env"
log "ready gateways=$(IFS=,; echo "${GW_URLS[*]}")"

echo
echo "Quizwire is running."
for u in "${GW_URLS[@]}"; do
  echo "  student page:       $u/"
  echo "  instructor console: $u/host"
done
echo "  instructor login:   admin"
if [ -n "$PASSWORD_NOTE" ]; then
  echo "  admin password:     $QW_ADMIN_PASSWORD   ($PASSWORD_NOTE)"
elif [ -n "${QW_ADMIN_PASSWORD:-}" ]; then
  echo "  admin password:     the value of QW_ADMIN_PASSWORD"
else
  echo "  admin password:     as printed at first start (set QW_ADMIN_PASSWORD to replace it)"
fi
echo "  data folder:        $DIR   logs: $LOGS"
echo "Press Ctrl-C to stop."

# wait until a signal arrives (sleep in the background so the trap runs at once)
while :; do sleep 3600 & wait $! || true; done
