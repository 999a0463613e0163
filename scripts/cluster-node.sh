#!/usr/bin/env bash
# cluster-node.sh: one "machine" of scripts/cluster.sh, run by it inside
# that machine's network namespace: etcd (one member of three), Patroni
# (which runs PostgreSQL), nats-server (one of three joined by routes), and
# once the schema is in place auth, session, scoring and a gateway, each
# under scripts/supervise.sh as the unprivileged stack user. The daemons
# are given every NATS server (their own first) and a multi-host database
# URL that only a writable primary answers (target_session_attrs).
#
# usage: cluster-node.sh --dir DIR --bin BUILD_DIR --node N --ips "IP1 IP2 IP3" --host-ip IP
#
# The daemons get every NATS server's URL, their own machine's first, when
# DIR/run/nats-list exists (cluster.sh found that this build's daemons take
# a list), else their own machine's server alone: either way a machine's
# loss takes its daemons with its server.
#
# SIGTERM (or SIGINT, SIGHUP) stops it in order: gateway, daemons, NATS,
# Patroni (which stops PostgreSQL), etcd. A kill -9 of every process of the
# namespace is a machine lost; cluster.sh starts this script again unless
# DIR/run/down.N exists (the tests' power switch).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=""
BIN=""
N=""
IPS=""
HOST_IP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --node) N=$2; shift 2 ;;
    --ips) IPS=$2; shift 2 ;;
    --host-ip) HOST_IP=$2; shift 2 ;;
    *) echo "cluster-node.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$DIR" ] || [ -z "$BIN" ] || [ -z "$N" ] || [ -z "$IPS" ] || [ -z "$HOST_IP" ]; then
  echo "usage: cluster-node.sh --dir DIR --bin BUILD_DIR --node N --ips \"IP1 IP2 IP3\" --host-ip IP" >&2
  exit 2
fi
read -r -a IP <<<"$IPS"
ME=${IP[$((N - 1))]}
NDIR=$DIR/n$N
LOGS=$NDIR/logs
RUN=$NDIR/run
export QW_SUPERVISOR_LOG=$LOGS/supervisor.log
log() { printf '%s node%s info event=%s\n' "$(date -u +%FT%T.%3NZ)" "$N" "$*" >>"$QW_SUPERVISOR_LOG"; }

# shellcheck source=scripts/secrets.sh
. "$ROOT/scripts/secrets.sh"
stack_user_init
SECRETS=$DIR/secrets

SUP_PIDS=()
SLEEPER=""
STOPPED=0
stop_all() {
  [ "$STOPPED" = 1 ] && return 0
  STOPPED=1
  trap '' INT TERM HUP
  set +e
  log "stopping"
  # the last started first: gateway, daemons, NATS, Patroni, etcd
  local i
  for ((i = ${#SUP_PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${SUP_PIDS[$i]}" 2>/dev/null
    wait "${SUP_PIDS[$i]}" 2>/dev/null
  done
  [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
  rm -f "$RUN"/*.pid
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM HUP
trap 'stop_all' EXIT

supervise() {
  local name=$1
  shift
  setsid setpriv --pdeathsig TERM "$ROOT/scripts/supervise.sh" --run "$RUN" --name "$name" --parent "$$" "$@" \
    >>"$LOGS/$name.log" 2>&1 </dev/null &
  SUP_PIDS+=($!)
}

# nap S: an interruptible sleep (a trapped signal ends it at once)
nap() {
  sleep "$1" &
  SLEEPER=$!
  wait "$SLEEPER" || true
  SLEEPER=""
}

log "starting ip=$ME"
# ---- etcd: one member of three -------------------------------------------
# A new etcd leader renews every lease (Patroni's leader key among them) for
# its full TTL plus an election timeout: when the lost machine held the etcd
# leader, the key expires only after the election, the timeout and Patroni's
# ttl. A 1 s election timeout keeps that inside a 10 s cut; pre-vote keeps a
# healed member from forcing one more election when it comes back.
CLUSTER=""
for ((i = 0; i < ${#IP[@]}; i++)); do CLUSTER+="${CLUSTER:+,}n$((i + 1))=http://${IP[$i]}:2380"; done
supervise etcd -- "${RUN_AS[@]}" etcd --name "n$N" --data-dir "$NDIR/etcd" \
  --listen-peer-urls "http://$ME:2380" --initial-advertise-peer-urls "http://$ME:2380" \
  --listen-client-urls "http://$ME:2379,http://127.0.0.1:2379" --advertise-client-urls "http://$ME:2379" \
  --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token quizwire \
  --heartbeat-interval 100 --election-timeout 1000 --pre-vote --log-level warn

# ---- Patroni and PostgreSQL ----------------------------------------------
supervise patroni -- "${RUN_AS[@]}" env "PATH=/usr/bin:/bin" patroni "$NDIR/patroni.yml"

# ---- NATS ----------------------------------------------------------------
supervise nats --no-backoff -- "${RUN_AS[@]}" nats-server -c "$NDIR/nats.conf"

# ---- the daemons, once the schema is there -------------------------------
until [ -e "$DIR/run/schema.ok" ]; do nap 0.2; done
NATS_URLS="nats://$ME:4222"
DB_HOSTS=""
DB_PORTS=""
for ((i = 0; i < ${#IP[@]}; i++)); do
  [ "${IP[$i]}" = "$ME" ] || [ ! -e "$DIR/run/nats-list" ] || NATS_URLS+=",nats://${IP[$i]}:4222"
  # every machine's database, its own first and then the next ones: libpq
  # tries them in order, and a cut-off one costs connect_timeout
  DB_HOSTS+="${DB_HOSTS:+,}${IP[$(((N - 1 + i) % ${#IP[@]}))]}"
  DB_PORTS+="${DB_PORTS:+,}5432"
done
export QW_NATS_URL=$NATS_URLS
export QW_OPS_ADDR=$ME
export QW_STATIC_DIR=${QW_STATIC_DIR:-$ROOT/web/dist}
export QUIZ_POOL_PATH=${QUIZ_POOL_PATH:-$ROOT/examples/demo10_pool.json}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:log_path=$LOGS/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:log_path=$LOGS/ubsan}
export -n QW_DB_URL
# Readiness by the database: a failover of the primary (10-20 s) leaves no
# machine with a database, so red health would only make HAProxy take every
# gateway out and cut every student's socket (on-marked-down
# shutdown-sessions) for nothing; the daemons stay ready through it. A
# gateway that lost its NATS server, or a daemon that does not answer at
# all, is still red at once.
export QW_HEALTH_DB_MS=${QW_HEALTH_DB_MS:-20000}
# db_url ROLE: the multi-host URL of a daemon's role; only a read-write
# primary is taken, a host that does not answer is given up on within 2-3 s
# (libpq counts whole seconds: 2 cut live connects short on a loaded host),
# and a connection to a machine cut off the network is dropped within about
# 6 s (TCP keepalives and tcp_user_timeout), so a statement waiting on the
# old primary fails and is retried on the new one
db_url() {
  printf 'host=%s port=%s dbname=quizwire user=qw_%s passfile=%s/pg-%s.pgpass target_session_attrs=read-write %s' \
    "$DB_HOSTS" "$DB_PORTS" "$1" "$SECRETS" "$1" \
    'connect_timeout=3 keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=2 tcp_user_timeout=4000'
}
nats_user() { NATS_USER=(QW_NATS_USER="qw_$1" QW_NATS_PASSWORD_FILE="$SECRETS/nats-$1.password"); }
nats_user auth
AUTH_CMD=("${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$(db_url auth)" QW_OPS_PORT=9101
  QW_INSTANCE="auth-$N" "$BIN/services/auth/qw-auth")
if [ -n "${QW_ADMIN_PASSWORD:-}" ]; then
  QW_ADMIN_PASSWORD=$QW_ADMIN_PASSWORD supervise auth -- "${AUTH_CMD[@]}"
else
  supervise auth -- "${AUTH_CMD[@]}"
fi
export -n QW_ADMIN_PASSWORD
nats_user session
# a standby takes over a lost machine's sessions within about a second
supervise session -- "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$(db_url session)" QW_OPS_PORT=9102 \
  QW_SESSION_LEASE_MS="${QW_SESSION_LEASE_MS:-1000}" \
  QW_INSTANCE="session-$N" "$BIN/services/session/qw-session"
nats_user scoring
supervise scoring -- "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$(db_url scoring)" QW_OPS_PORT=9103 \
  QW_INSTANCE="scoring-$N" "$BIN/services/scoring/qw-scoring"
nats_user gateway
supervise gateway -- "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_HTTP_ADDR="$ME" QW_HTTP_PORT=8080 QW_OPS_PORT=9110 \
  QW_TRUSTED_PROXIES="$HOST_IP" QW_INSTANCE="gateway-$N" "$BIN/services/gateway/qw-gateway"
log "daemons_started"

while :; do nap 3600; done
