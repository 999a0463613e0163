#!/usr/bin/env bash
# cluster.sh: the Quizwire cluster of docs/RELIABILITY.md on one host, for
# tests and for trying it: three "machines" as Linux network namespaces
# (PREFIX-n1..3, addresses SUBNET.11-13/24) joined by a bridge (PREFIX-br,
# the host at SUBNET.1), each running scripts/cluster-node.sh: etcd (a
# three-member cluster), PostgreSQL under Patroni (synchronous replication,
# strict: a primary left alone acknowledges no commit), nats-server (three
# joined by routes with a password and mutual TLS), auth, session, scoring
# and a gateway. HAProxy in the host's namespace fronts the three gateways
# on 127.0.0.1:PORT. Needs root (ip netns).
#
# usage: scripts/cluster.sh --dir DIR --bin BUILD_DIR [--prefix P] [--subnet A.B.C] [--port N | --random-ports]
#
# Like scripts/stack.sh it holds a lock on DIR, prints the same lines once
# HAProxy answers (and writes DIR/cluster.env), and stops everything on
# Ctrl-C, SIGTERM or SIGHUP; a start first removes what a hard-killed run
# with the same prefix left (processes in its namespaces, the namespaces,
# the bridge, its HAProxy). A machine whose processes all died (kill -9 of
# its namespace's pids) is started again within a second, unless
# DIR/run/down.N exists: the tests' power switch (tests/cluster/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=""
BIN=""
PREFIX=${QW_CLUSTER_PREFIX:-qw}
SUBNET=${QW_CLUSTER_SUBNET:-10.77.0}
PORT=8080
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --subnet) SUBNET=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --random-ports) PORT=0; shift ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
usage="usage: cluster.sh --dir DIR --bin BUILD_DIR [--prefix P] [--subnet A.B.C] [--port N | --random-ports]"
if [ -z "$DIR" ] || [ -z "$BIN" ]; then echo "$usage" >&2; exit 2; fi
[[ "$PREFIX" =~ ^[a-z][a-z0-9]{0,8}$ ]] || { echo "cluster.sh: --prefix must be 1-9 lower-case letters or digits" >&2; exit 2; }
[[ "$SUBNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || { echo "cluster.sh: --subnet is three numbers, e.g. 10.77.0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root (it makes network namespaces and a bridge)" >&2; exit 1; }
for cmd in etcd patroni nats-server haproxy ip openssl; do
  command -v "$cmd" >/dev/null || { echo "cluster.sh: $cmd is missing (scripts/deps.sh --cluster installs it)" >&2; exit 1; }
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIN=$(cd "$BIN" && pwd)
RUN=$DIR/run
LOGS=$DIR/logs
mkdir -p "$RUN" "$LOGS"
export QW_SUPERVISOR_LOG=$LOGS/supervisor.log
NODES=3
BR=$PREFIX-br
HOST_IP=$SUBNET.1
IPS=()
for ((n = 1; n <= NODES; n++)); do IPS+=("$SUBNET.$((10 + n))"); done
ns() { echo "$PREFIX-n$1"; }

log() { printf '%s cluster info event=%s\n' "$(date -u +%FT%T.%3NZ)" "$*" >>"$QW_SUPERVISOR_LOG"; }
die() {
  echo "cluster.sh: $*" >&2 2>/dev/null
  log "failed reason=\"$*\""
  exit 1
}

exec 9>>"$RUN/cluster.lock"
flock -n 9 || die "another cluster.sh (pid $(head -n 1 "$RUN/cluster.lock" 2>/dev/null)) is running on $DIR; stop it first"
echo "$$" >"$RUN/cluster.lock"

# ---- the network and its removal -----------------------------------------
# ns_kill N SIG: sends SIG to every process of machine N's namespace
ns_kill() {
  local pids
  pids=$(ip netns pids "$(ns "$1")" 2>/dev/null || true)
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$pids" ] || kill "-$2" $pids 2>/dev/null || true
}
ns_empty() { [ -z "$(ip netns pids "$(ns "$1")" 2>/dev/null || true)" ]; }
# host_orphans: the host-namespace processes (HAProxy) of a run on DIR
host_orphans() {
  grep -lzxF "QW_CLUSTER_INSTANCE=$DIR" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
}
# net_down: stops whatever runs in the namespaces (TERM, KILL after 5 s),
# then removes them, their links and the bridge; quiet when none is there
net_down() {
  local n i pids
  for ((n = 1; n <= NODES; n++)); do ns_kill "$n" TERM; done
  for ((i = 0; i < 50; i++)); do
    pids=""
    for ((n = 1; n <= NODES; n++)); do ns_empty "$n" || pids=1; done
    [ -z "$pids" ] && break
    sleep 0.1
  done
  for ((n = 1; n <= NODES; n++)); do ns_kill "$n" KILL; done
  pids=$(host_orphans)
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  for ((n = 1; n <= NODES; n++)); do
    ip netns del "$(ns "$n")" 2>/dev/null || true
    ip link del "$PREFIX-v$n" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  # the bridge's forwarding rule, when it was added (see below)
  while command -v iptables >/dev/null && iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null; do :; done
}

RUNNERS=()
HAPROXY_SUP=""
SLEEPER=""
STOPPED=0
stop_all() {
  [ "$STOPPED" = 1 ] && return 0
  STOPPED=1
  trap '' INT TERM HUP
  set +e
  log "stopping"
  [ -n "$HAPROXY_SUP" ] && { kill -TERM "$HAPROXY_SUP" 2>/dev/null; wait "$HAPROXY_SUP" 2>/dev/null; }
  local p
  for p in "${RUNNERS[@]}"; do [ "$p" = - ] || kill -TERM "$p" 2>/dev/null; done
  for p in "${RUNNERS[@]}"; do [ "$p" = - ] || wait "$p" 2>/dev/null; done
  net_down
  [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
  rm -f "$DIR/cluster.env" "$RUN"/*.pid "$RUN"/down.*
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM HUP
trap 'stop_all' EXIT

# what a hard-killed run with this prefix left
if ip link show "$BR" >/dev/null 2>&1 || ip netns list | grep -q "^$(ns 1)\b" || [ -n "$(host_orphans)" ]; then
  log "leftovers_found prefix=$PREFIX"
  net_down
  echo "cluster.sh: removed what an earlier run with prefix $PREFIX left (namespaces, bridge, processes)" >&2
fi
rm -f "$DIR/cluster.env" "$RUN"/*.pid "$RUN"/down.* "$RUN/schema.ok"

ip link add "$BR" type bridge || die "could not make bridge $BR"
ip addr add "$HOST_IP/24" dev "$BR"
ip link set "$BR" up
for ((n = 1; n <= NODES; n++)); do
  ip netns add "$(ns "$n")"
  ip link add "$PREFIX-v$n" type veth peer name eth0 netns "$(ns "$n")"
  ip link set "$PREFIX-v$n" master "$BR" up
  ip -n "$(ns "$n")" addr add "${IPS[$((n - 1))]}/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
  ip -n "$(ns "$n")" link set lo up
done
# a host that filters bridged traffic (br_netfilter) must let this bridge pass
if command -v iptables >/dev/null && [ "$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo 0)" = 1 ]; then
  iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BR" -o "$BR" -j ACCEPT || true
fi
log "network_up bridge=$BR subnet=$SUBNET.0/24"

# ---- secrets and configuration -------------------------------------------
# shellcheck source=scripts/secrets.sh
. "$ROOT/scripts/secrets.sh"
export -n QW_ADMIN_PASSWORD QW_DB_URL
stack_user_init
secrets_init "$DIR" "$BIN"
pg_secrets_init
for name in replicator nats-route; do
  f=$SECRETS/$name.password
  [ -s "$f" ] || (umask 077 && secret_new >"$f.tmp" && mv "$f.tmp" "$f")
done
# the routes' TLS: a CA for this cluster (its key for root alone) and a
# certificate per machine, for the stack's user
TLS=$DIR/tls
(umask 077 && mkdir -p "$TLS")
if [ ! -s "$TLS/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=quizwire cluster CA" \
    -keyout "$TLS/ca.key" -out "$TLS/ca.pem" >/dev/null 2>&1 || die "could not make the cluster CA"
fi
for ((n = 1; n <= NODES; n++)); do
  if [ ! -s "$TLS/n$n.pem" ] || ! openssl x509 -in "$TLS/n$n.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "${IPS[$((n - 1))]}\$"; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=n$n" -keyout "$TLS/n$n.key" -out "$TLS/n$n.csr" >/dev/null 2>&1
    openssl x509 -req -in "$TLS/n$n.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial -days 3650 \
      -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${IPS[$((n - 1))]}") \
      -out "$TLS/n$n.pem" >/dev/null 2>&1 || die "could not make the certificate of machine $n"
  fi
done
chown -R "$QW_OS_USER:" "$SECRETS" "$TLS"
chmod -R go-rwx "$SECRETS" "$TLS"
chown root: "$TLS/ca.key"
rm -f "$TLS"/*.csr
ROUTE_PW=$(cat "$SECRETS/nats-route.password")

# write_as_user FILE: stdin into FILE, mode 0600, owned by the stack's user
write_as_user() {
  (umask 077 && cat >"$1.tmp")
  chown "$QW_OS_USER:" "$1.tmp"
  mv "$1.tmp" "$1"
}
# Patroni's log level: WARNING, or QW_CLUSTER_PATRONI_LOG (INFO: a line per
# member and second, every decision of the failover; tests/cluster sets it)
PATRONI_LOG=${QW_CLUSTER_PATRONI_LOG:-WARNING}
[[ "$PATRONI_LOG" =~ ^(DEBUG|INFO|WARNING|ERROR)$ ]] || die "QW_CLUSTER_PATRONI_LOG is DEBUG, INFO, WARNING or ERROR"
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1)
[ -n "$PGBIN" ] || die "PostgreSQL is not installed"
ETCD_HOSTS=$(printf '%s:2379,' "${IPS[@]}" | sed 's/,$//')
for ((n = 1; n <= NODES; n++)); do
  me=${IPS[$((n - 1))]}
  nd=$DIR/n$n
  mkdir -p "$nd/logs" "$nd/run" "$nd/etcd" "$nd/pg"
  chmod 700 "$nd/etcd" "$nd/pg"
  write_as_user "$nd/patroni.yml" <<EOC
# written by scripts/cluster.sh: machine $n of the cluster on $DIR
scope: quizwire
namespace: /quizwire/
name: n$n
log:
  level: $PATRONI_LOG
restapi:
  listen: $me:8008
  connect_address: $me:8008
etcd3:
  hosts: $ETCD_HOSTS
bootstrap:
  dcs:
    # a lost primary's leader key expires after ttl (after an etcd election
    # and its timeout too, when the lost machine held the etcd leader: see
    # cluster-node.sh); loop_wait + 2 * retry_timeout <= ttl, so a primary
    # that cannot reach etcd demotes itself before its key can expire
    ttl: 5
    loop_wait: 1
    retry_timeout: 2
    maximum_lag_on_failover: 1048576
    # an answer is acknowledged only once its commit is on two machines,
    # and a primary left alone acknowledges nothing
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        synchronous_commit: "on"
        wal_log_hints: "on"
        max_connections: 200
        # a standby told to follow the new primary starts streaming from it
        # within half a second, not the default 5 s
        wal_retrieve_retry_interval: 500ms
        max_wal_senders: 10
        max_replication_slots: 10
        shared_buffers: 64MB
        log_min_messages: warning
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: scram-sha-256
postgresql:
  listen: $me:5432
  connect_address: $me:5432
  data_dir: $nd/pg/data
  # a new standby's copy starts at once, not after a spread checkpoint
  # (minutes): the cluster is whole soon after start and after a rejoin
  basebackup:
    - checkpoint: fast
  bin_dir: $PGBIN
  pgpass: $nd/pg/pgpass
  authentication:
    superuser:
      username: quizwire
      password: $(cat "$SECRETS/pg-owner.password")
    replication:
      username: replicator
      password: $(cat "$SECRETS/replicator.password")
  parameters:
    unix_socket_directories: $nd/pg
  pg_hba:
    - local all all scram-sha-256
    - host replication replicator $SUBNET.0/24 scram-sha-256
    - host all all $SUBNET.0/24 scram-sha-256
EOC
  routes=""
  for ((m = 1; m <= NODES; m++)); do
    [ "$m" = "$n" ] || routes+="    nats-route://route:$ROUTE_PW@${IPS[$((m - 1))]}:6222"$'\n'
  done
  {
    echo "# written by scripts/cluster.sh: machine $n of the cluster on $DIR"
    echo "server_name: n$n"
    echo "listen: $me:4222"
    echo "http: $me:8222"
    echo "max_payload: 8MB"
    echo "max_pending: 256MB"
    echo 'write_deadline: "10s"'
    # a route (or client) to a machine cut off the network is dropped after
    # ping_max unanswered pings, so its subscriptions stop taking messages
    echo 'ping_interval: "2s"'
    echo "ping_max: 3"
    echo "cluster {"
    echo "  name: quizwire"
    echo "  listen: $me:6222"
    echo "  authorization { user: route, password: \"$ROUTE_PW\", timeout: 2 }"
    echo "  tls { cert_file: \"$TLS/n$n.pem\", key_file: \"$TLS/n$n.key\", ca_file: \"$TLS/ca.pem\", verify: true, timeout: 2 }"
    echo "  routes = ["
    printf '%s' "$routes"
    echo "  ]"
    echo "}"
    "$BIN/shared/qw-nats-roles" --conf "$SECRETS"
  } | write_as_user "$nd/nats.conf"
  chown -R "$QW_OS_USER:" "$nd"
done

# ---- the machines --------------------------------------------------------
export QW_CLUSTER_INSTANCE=$DIR
PASSWORD_NOTE=""
if [ -z "${QW_ADMIN_PASSWORD:-}" ] && [ ! -e "$DIR/.admin_password_set" ]; then
  QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
  PASSWORD_NOTE="generated at first start; only its hash is kept"
fi
# start_machine N [PASSWORD]: cluster-node.sh in machine N's namespace; the
# admin password (first start only) goes to it in its environment alone
start_machine() {
  local n=$1
  QW_ADMIN_PASSWORD=${2:-} setsid setpriv --pdeathsig TERM ip netns exec "$(ns "$n")" \
    "$ROOT/scripts/cluster-node.sh" --dir "$DIR" --bin "$BIN" --node "$n" --ips "${IPS[*]}" --host-ip "$HOST_IP" \
    >>"$DIR/n$n/logs/node.log" 2>&1 9>&- </dev/null &
  RUNNERS[n]=$!
  echo "$!" >"$RUN/machine$n.pid"
  log "machine_started node=$n pid=$!"
}
RUNNERS[0]=-
for ((n = 1; n <= NODES; n++)); do start_machine "$n" "${QW_ADMIN_PASSWORD:-}"; done

# ---- the schema, once Patroni has a primary ------------------------------
deadline=$(($(date +%s) + 120))
primary=""
until [ -n "$primary" ]; do
  for ip in "${IPS[@]}"; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$ip:8008/primary")" = 200 ]; then primary=$ip; fi
  done
  [ -n "$primary" ] && break
  [ "$(date +%s)" -lt "$deadline" ] || die "Patroni elected no primary within 120 s (see $DIR/n*/logs/patroni.log)"
  sleep 0.5
done
log "primary node_ip=$primary"
DB_HOSTS=$(IFS=,; echo "${IPS[*]}")
DB_PORTS=$(printf '5432,%.0s' "${IPS[@]}" | sed 's/,$//')
owner_url() { printf 'host=%s port=%s dbname=%s user=quizwire passfile=%s/pg-owner.pgpass target_session_attrs=read-write connect_timeout=3' "$DB_HOSTS" "$DB_PORTS" "$1" "$SECRETS"; }
owner_psql() { "$PGBIN/psql" "$(owner_url "$1")" "${@:2}"; }
# schema_setup: the database, the daemons' roles and the migrations, each
# step idempotent. The first commits wait for a synchronous standby, and a
# young cluster may still change its primary: retried for up to 120 s.
schema_setup() {
  owner_psql postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'quizwire'" | grep -q 1 \
    || owner_psql postgres -qc "CREATE DATABASE quizwire" || return 1
  pg_roles_sync owner_psql quizwire || return 1
  QW_DB_URL=$(owner_url quizwire) QW_MIGRATIONS_DIR="$ROOT/db/migrations" "$BIN/services/migrate/qw-migrate" \
    >>"$LOGS/migrate.log" 2>&1
}
for ((i = 0; ; i++)); do
  schema_setup >>"$LOGS/schema.log" 2>&1 && break
  [ "$i" -lt 60 ] || die "could not set up the database (see $LOGS/schema.log and $LOGS/migrate.log)"
  sleep 2
done
# Do this build's daemons take a list of NATS URLs (QW_NATS_URL with
# commas)? A gateway started for a moment in machine 1 says so.
rm -f "$RUN/nats-list"
probe_log=$LOGS/nats-list-probe.log
ip netns exec "$(ns 1)" "${RUN_AS[@]}" env QW_NATS_URL="$(printf 'nats://%s:4222,' "${IPS[@]}" | sed 's/,$//')" \
  QW_NATS_USER=qw_gateway QW_NATS_PASSWORD_FILE="$SECRETS/nats-gateway.password" QW_HTTP_ADDR=127.0.0.1 \
  QW_HTTP_PORT=18079 QW_OPS_PORT=0 QW_INSTANCE=nats-list-probe QW_STATIC_DIR="$ROOT/web/dist" \
  timeout -s TERM 20 "$BIN/services/gateway/qw-gateway" >"$probe_log" 2>&1 9>&- &
probe=$!
for ((i = 0; i < 200; i++)); do
  grep -qs 'event=nats_connected' "$probe_log" && { touch "$RUN/nats-list"; break; }
  kill -0 "$probe" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$probe" 2>/dev/null || true
wait "$probe" 2>/dev/null || true
if [ -e "$RUN/nats-list" ]; then log "nats_urls list=all"; else log "nats_urls list=own reason=\"this build's daemons take one NATS URL\""; fi
touch "$RUN/schema.ok"
log "schema_ready"

# ---- HAProxy in front of the three gateways ------------------------------
if [ "$PORT" = 0 ]; then
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
if ss -Hltn "sport = :$PORT" | grep -q .; then die "port $PORT is taken on 127.0.0.1: pick another with --port N, or --random-ports"; fi
{
  echo "# written by scripts/cluster.sh: the shared block of deploy/haproxy.cfg.tmpl, plain HTTP"
  echo "global"
  echo "    maxconn 8000"
  echo "    log stderr format raw local0 warning"
  sed -n '/^# ---- shared: begin ----/,/^# ---- shared: end ----/p' "$ROOT/deploy/haproxy.cfg.tmpl"
  for ((n = 1; n <= NODES; n++)); do echo "    server gw$n ${IPS[$((n - 1))]}:8080 check"; done
  echo "frontend http"
  echo "    bind 127.0.0.1:$PORT"
  echo "    monitor-uri /lb-healthz"
  echo "    default_backend gateways"
} >"$DIR/haproxy.cfg"
haproxy -c -q -f "$DIR/haproxy.cfg" >>"$LOGS/haproxy.log" 2>&1 || die "haproxy refused $DIR/haproxy.cfg (see $LOGS/haproxy.log)"
setsid setpriv --pdeathsig TERM "$ROOT/scripts/supervise.sh" --run "$RUN" --name haproxy --parent "$$" --no-backoff \
  -- haproxy -db -f "$DIR/haproxy.cfg" >>"$LOGS/haproxy.log" 2>&1 9>&- </dev/null &
HAPROXY_SUP=$!

URL=http://127.0.0.1:$PORT
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/healthz")" = 200 ]; }
deadline=$(($(date +%s) + 120))
for ip in "${IPS[@]}" 127.0.0.1:"$PORT"; do
  u=http://$ip
  [[ "$ip" == *:* ]] || u=http://$ip:8080
  until healthy "$u"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$u/healthz did not answer 200 within 120 s (see $DIR/n*/logs/)"
    sleep 0.3
  done
done
[ -n "$PASSWORD_NOTE" ] && touch "$DIR/.admin_password_set"

{
  echo "QW_CLUSTER_DIR=$DIR"
  echo "QW_CLUSTER_PREFIX=$PREFIX"
  echo "QW_CLUSTER_IPS=$(IFS=,; echo "${IPS[*]}")"
  echo "QW_CLUSTER_NAMESPACES=$(for ((n = 1; n <= NODES; n++)); do printf '%s,' "$(ns "$n")"; done | sed 's/,$//')"
  echo "QW_LB=$URL"
  echo "QW_GATEWAYS=$(printf 'http://%s:8080,' "${IPS[@]}" | sed 's/,$//')"
  echo "QW_DB_URL='$(owner_url quizwire)'"
  echo "QW_PG_BIN=$PGBIN"
  echo "QW_RUN_DIR=$RUN"
  echo "QW_LOG_DIR=$LOGS"
} >"$DIR/cluster.env.tmp"
chmod 600 "$DIR/cluster.env.tmp"
mv "$DIR/cluster.env.tmp" "$DIR/cluster.env"
log "ready url=$URL"

echo
echo "Quizwire is running."
echo "  student page:       $URL/"
echo "  instructor console: $URL/host"
echo "  instructor login:   admin"
if [ -n "$PASSWORD_NOTE" ]; then
  echo "  admin password:     $QW_ADMIN_PASSWORD   ($PASSWORD_NOTE)"
elif [ -n "${QW_ADMIN_PASSWORD:-}" ]; then
  echo "  admin password:     the value of QW_ADMIN_PASSWORD"
else
  echo "  admin password:     as printed at first start (set QW_ADMIN_PASSWORD to replace it)"
fi
echo "  data folder:        $DIR   logs: $LOGS and $DIR/n1..$NODES/logs"
echo "  machines:           $(for ((n = 1; n <= NODES; n++)); do printf '%s (%s) ' "$(ns "$n")" "${IPS[$((n - 1))]}"; done)"
echo "Press Ctrl-C to stop."

# alive PID: PID runs (a killed child is a zombie until waited for)
alive() { [ -e "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# the power switch: a machine whose runner is gone comes back, unless down.N
while :; do
  for ((n = 1; n <= NODES; n++)); do
    if ! alive "${RUNNERS[$n]}" && [ ! -e "$RUN/down.$n" ]; then
      wait "${RUNNERS[$n]}" 2>/dev/null || true
      ns_kill "$n" KILL
      log "machine_restart node=$n"
      start_machine "$n"
    fi
  done
  sleep 0.5 9>&- &
  SLEEPER=$!
  wait "$SLEEPER" || true
done
