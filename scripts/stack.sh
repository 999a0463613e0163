#!/usr/bin/env bash
# stack.sh: runs the whole Quizwire stack on loopback from one data folder:
# a PostgreSQL cluster, nats-server, the migrations, auth, session, scoring
# and two gateways (every one as an unprivileged user when started as root,
# each with only its own credentials: scripts/secrets.sh, docs/SECURITY.md),
# each under scripts/supervise.sh, which restarts it with backoff when it dies.
#
# Only this process listens to the terminal: every supervisor and PostgreSQL
# run in sessions of their own, so Ctrl-C, SIGTERM or SIGHUP (the terminal
# closed) reach this script alone, which stops everything in order, however
# many signals follow. A start trusts nothing an earlier run left: it stops
# what a hard-killed run of the same folder left running (found by the
# QW_STACK_INSTANCE variable every child carries, and PostgreSQL by its
# postmaster.pid), drops stale pid files and markers, and refuses with one
# line when another program holds a port it needs. Each step checks its own
# result and fails with one line naming the cause and the log to read.
#
# usage: scripts/stack.sh --dir DIR --bin BUILD_DIR [--random-ports] [--gateways N] [--sessions N]
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
export QW_SUPERVISOR_LOG=$LOGS/supervisor.log

log() { printf '%s stack info event=%s\n' "$(date -u +%FT%T.%3NZ)" "$*" >>"$QW_SUPERVISOR_LOG"; }
die() {
  echo "stack.sh: $*" >&2 2>/dev/null
  log "failed reason=\"$*\""
  exit 1
}
# last_lines FILE N: the last N lines of FILE on one line, or "(empty)"
last_lines() {
  local t
  t=$(tail -n "$2" "$1" 2>/dev/null | tr -s '\n' '|' | sed 's/|$//; s/|/ | /g')
  echo "${t:-(empty)}"
}

# cause_line FILE: the last error line among the last 20 lines of a daemon's
# log (a daemon logs its cause, then "stopped"), else its last line
cause_line() {
  local t
  t=$(tail -n 20 "$1" 2>/dev/null | grep -E '^[^ ]+ [^ ]+ (error|fatal) ' | tail -n 1)
  [ -n "$t" ] || t=$(tail -n 1 "$1" 2>/dev/null)
  echo "${t:-(empty)}"
}

# ---- one stack per folder ------------------------------------------------
# The lock is held by this process only (every long-lived child gets 9>&-),
# so a kill -9 of this script frees it even when children outlive it.
exec 9>>"$RUN/stack.lock"
if ! flock -n 9; then
  die "another stack.sh (pid $(head -n 1 "$RUN/stack.lock" 2>/dev/null)) is running on $DIR; stop it first (Ctrl-C in its terminal, or kill -TERM that pid)"
fi
echo "$$" >"$RUN/stack.lock"

# ---- stopping ------------------------------------------------------------
# stop_all: stops whatever this run started, in order; runs once, whatever
# signal arrives and however many times (they are ignored from its start),
# and does not depend on the terminal still being there.
SUP_PIDS=()
NATS_SUP=""
SLEEPER=""
PG_STARTED=0
STOPPED=0
stop_all() {
  [ "$STOPPED" = 1 ] && return 0
  STOPPED=1
  trap '' INT TERM HUP
  set +e
  log "stopping"
  # gateways first (they hold the sockets), then the daemons, NATS, Postgres;
  # each supervisor stops its child (SIGKILL after 10 s) and then exits
  for ((i = ${#SUP_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${SUP_PIDS[$i]}" 2>/dev/null; done
  for p in "${SUP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$NATS_SUP" ]; then
    kill -TERM "$NATS_SUP" 2>/dev/null
    wait "$NATS_SUP" 2>/dev/null
  fi
  if [ "$PG_STARTED" = 1 ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || log "postgres_stop_failed see=$LOGS/postgres.log"
  fi
  [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
  rm -f "$DIR/stack.env" "$DIR/stack.env.tmp" "$RUN"/*.pid "$RUN"/stopping*
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM HUP
trap 'stop_all' EXIT

# ---- leftovers of an earlier run -----------------------------------------
# orphans: the pids of the processes an earlier run on this folder left
# running (the supervisors, nats-server and daemons carry QW_STACK_INSTANCE).
orphans() {
  grep -lzxF "QW_STACK_INSTANCE=$DIR" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
}
cmd_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | cut -c1-120 | sed 's/ $//'; }
stop_orphans() {
  local left sups=() rest=() p i n=0
  left=$(orphans)
  [ -n "$left" ] || return 0
  for p in $left; do
    log "orphan_found pid=$p cmd=\"$(cmd_of "$p")\""
    n=$((n + 1))
    if cmd_of "$p" | grep -q 'supervise\.sh'; then sups+=("$p"); else rest+=("$p"); fi
  done
  # the supervisors first (they stop their own child), then whatever is left
  [ ${#sups[@]} -eq 0 ] || kill -TERM "${sups[@]}" 2>/dev/null || true
  for ((i = 0; i < 120; i++)); do
    [ -z "$(orphans)" ] && break
    if [ "$i" = 0 ] || [ "$i" = 30 ]; then
      # a supervisor's child dies with it; the rest (or a child whose
      # supervisor is gone) gets SIGTERM now and again 3 s later
      [ ${#rest[@]} -eq 0 ] || kill -TERM "${rest[@]}" 2>/dev/null || true
    fi
    sleep 0.1
  done
  left=$(orphans)
  if [ -n "$left" ]; then
    for p in $left; do log "orphan_killed pid=$p cmd=\"$(cmd_of "$p")\""; done
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $left 2>/dev/null || true
    sleep 0.2
  fi
  left=$(orphans)
  [ -z "$left" ] || die "processes of an earlier run on $DIR do not stop: $(for p in $left; do printf 'pid %s (%s); ' "$p" "$(cmd_of "$p")"; done)"
  echo "stack.sh: stopped $n processes an earlier run on $DIR left running (see $QW_SUPERVISOR_LOG)" >&2 2>/dev/null
}
stop_orphans
rm -f "$DIR/stack.env" "$DIR/stack.env.tmp" "$RUN"/*.pid "$RUN"/stopping* "$RUN"/hold.*

# ---- who runs what, and the secrets -------------------------------------
# shellcheck source=scripts/secrets.sh
. "$ROOT/scripts/secrets.sh"
# the admin password goes to auth alone (see the auth line below)
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

# ---- ports ---------------------------------------------------------------
# HOLDER[PORT]: the pid listening on TCP PORT on this machine ("-" when not
# visible to this user), from one ss -ltnp
declare -A HOLDER=()
while read -r port pid; do
  [ -n "$port" ] && HOLDER[$port]=${pid:--}
done < <(ss -Hltnp 2>/dev/null | awk '{ n = split($4, a, ":"); pid = ""
  if (match($0, /pid=[0-9]+/)) pid = substr($0, RSTART + 4, RLENGTH - 4)
  print a[n], pid }')
# random_ports N: N distinct ports in 15000-32767 (below Linux's ephemeral
# range) that nothing listens on
random_ports() {
  local -A taken=()
  local p out=()
  while [ ${#out[@]} -lt "$1" ]; do
    p=$((15000 + RANDOM % 17768))
    [ -n "${HOLDER[$p]:-}" ] || [ -n "${taken[$p]:-}" ] && continue
    taken[$p]=1
    out+=("$p")
  done
  echo "${out[*]}"
}
if [ "$RANDOM_PORTS" = 1 ]; then
  read -r -a FREE <<<"$(random_ports $((6 + 2 * GATEWAYS)))"
  NATS_PORT=${QW_STACK_NATS_PORT:-${FREE[0]}}; PG_PORT=${QW_STACK_PG_PORT:-${FREE[1]}}
  OPS_AUTH=${FREE[2]}; OPS_SESSION=${FREE[3]}; OPS_SESSION2=${FREE[4]}; OPS_SCORING=${FREE[5]}
  GW_PORTS=(); GW_OPS=()
  for ((i = 0; i < GATEWAYS; i++)); do GW_PORTS+=("${FREE[6 + 2 * i]}"); GW_OPS+=("${FREE[7 + 2 * i]}"); done
else
  NATS_PORT=${QW_STACK_NATS_PORT:-4222}; PG_PORT=${QW_STACK_PG_PORT:-5433}
  OPS_AUTH=9101; OPS_SESSION=9102; OPS_SESSION2=9106; OPS_SCORING=9103
  GW_PORTS=(); GW_OPS=()
  for ((i = 0; i < GATEWAYS; i++)); do GW_PORTS+=("$((8080 + i))"); GW_OPS+=("$((9110 + i))"); done
fi

# port_free PORT WHAT: fails with one line naming who holds PORT (the
# orphans of this folder are gone by now: it is another program)
port_free() {
  local pid=${HOLDER[$1]:-}
  [ -n "$pid" ] || return 0
  if [ "$pid" != - ]; then
    die "port $1 ($2) is held by another program: pid $pid ($(cmd_of "$pid")); stop it, or start with --random-ports"
  fi
  die "port $1 ($2) is held by another program (its pid is not visible to $(id -un)); find it with 'ss -ltnp sport = :$1', stop it, or start with --random-ports"
}
port_free "$NATS_PORT" NATS
port_free "$OPS_AUTH" "auth ops"
port_free "$OPS_SESSION" "session ops"
[ "$SESSIONS" -ge 2 ] && port_free "$OPS_SESSION2" "session2 ops"
port_free "$OPS_SCORING" "scoring ops"
for ((i = 0; i < GATEWAYS; i++)); do
  port_free "${GW_PORTS[$i]}" "gateway$((i + 1))"
  port_free "${GW_OPS[$i]}" "gateway$((i + 1)) ops"
done

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
# as_pg CMD...: runs CMD as the cluster's owner, in a session of its own (so
# that a Ctrl-C in the terminal does not reach PostgreSQL) and without the
# lock's descriptor.
as_pg() { setsid "$@" 9>&-; }
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: run it as the unprivileged 'quizwire'.
  PGUSER_OS=$QW_OS_USER
  touch "$LOGS/postgres.log"
  chown -R "$QW_OS_USER:" "$DIR/pg" "$LOGS/postgres.log"
  as_pg() { setsid runuser -u "$QW_OS_USER" -- "$@" 9>&-; }
fi
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U quizwire -A scram-sha-256 --pwfile="$SECRETS/pg-owner.password" \
    -E UTF8 --locale=C.UTF-8 --no-instructions \
    >>"$LOGS/postgres-init.log" 2>&1 || die "initdb failed, see $LOGS/postgres-init.log"
  cat >>"$PGDATA/postgresql.conf" <<EOC
# Quizwire local stack: Unix socket only, durable commits.
listen_addresses = ''
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
EOC
  log "postgres_initialised data=$PGDATA"
fi
# A cluster still running on this folder was left by a hard-killed run (the
# lock above says no stack.sh owns it): stop it cleanly. A postmaster.pid
# whose pid is now another program's would make PostgreSQL refuse: drop it.
if [ -f "$PGDATA/postmaster.pid" ]; then
  pgpid=$(head -n 1 "$PGDATA/postmaster.pid")
  if kill -0 "$pgpid" 2>/dev/null && cmd_of "$pgpid" | grep -qF -- "$PGDATA"; then
    log "orphan_found pid=$pgpid cmd=\"postgres -D $PGDATA\""
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || die "PostgreSQL left running by an earlier run (pid $pgpid) did not stop, see $LOGS/postgres.log"
    echo "stack.sh: stopped PostgreSQL (pid $pgpid) an earlier run on $DIR left running" >&2 2>/dev/null
  elif [ -e "/proc/$pgpid" ] && [ "$pgpid" != "$$" ]; then
    log "postmaster_pid_stale pid=$pgpid"
    rm -f "$PGDATA/postmaster.pid"
  fi
fi
# a cluster made before passwords (trust): set them, then require them
PG_TRUST=0
grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$PGDATA/pg_hba.conf" && PG_TRUST=1
PG_STARTED=1
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGS/postgres.log" -w -t 60 \
  -o "-k $PGSOCK -p $PG_PORT -c unix_socket_permissions=0700" start >/dev/null \
  || die "PostgreSQL did not start: $(last_lines "$LOGS/postgres.log" 1) (see $LOGS/postgres.log)"
head -n 1 "$PGDATA/postmaster.pid" >"$RUN/postgres.pid"
log "postgres_started port=$PG_PORT socket=$PGSOCK"
if ! owner_psql -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'quizwire'" | grep -q 1; then
  owner_psql -d postgres -qc "CREATE DATABASE quizwire" \
    >>"$LOGS/postgres-init.log" 2>&1 || die "could not create database quizwire, see $LOGS/postgres-init.log"
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

# Every process started from here on carries QW_STACK_INSTANCE: that is how
# the next start on this folder finds it should this run be killed hard.
export QW_STACK_INSTANCE=$DIR

# supervise NAME [--no-backoff] -- CMD...: runs CMD under scripts/supervise.sh
# in a session of its own, its output appended to LOGS/NAME.log; the
# supervisor gets SIGTERM should this script die without stopping it.
supervise() {
  local name=$1
  shift
  setsid setpriv --pdeathsig TERM "$ROOT/scripts/supervise.sh" --run "$RUN" --name "$name" --parent "$$" "$@" \
    >>"$LOGS/$name.log" 2>&1 9>&- </dev/null &
  SUP_PIDS+=($!)
}

# ---- NATS ----------------------------------------------------------------
nats_conf_write "$DIR/nats.conf" "$BIN" "$NATS_PORT" || die "could not write $DIR/nats.conf"
# NATS is restarted by hand in fault tests: no backoff.
supervise nats --no-backoff -- "${RUN_AS[@]}" nats-server -c "$DIR/nats.conf"
NATS_SUP=${SUP_PIDS[-1]}
SUP_PIDS=()
NATS_WAIT_S=10
nats_up=0
for ((i = 0; i < NATS_WAIT_S * 10; i++)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; then nats_up=1; break; fi
  sleep 0.1
done
[ "$nats_up" = 1 ] || die "NATS did not listen on 127.0.0.1:$NATS_PORT within $NATS_WAIT_S s; last lines of $LOGS/nats.log: $(last_lines "$LOGS/nats.log" 3)"
export QW_NATS_URL="nats://127.0.0.1:$NATS_PORT"
log "nats_started port=$NATS_PORT"

# ---- schema --------------------------------------------------------------
QW_DB_URL=$QW_DB_URL QW_MIGRATIONS_DIR="$ROOT/db/migrations" "${RUN_AS[@]}" "$BIN/services/migrate/qw-migrate" \
  >>"$LOGS/migrate.log" 2>&1 \
  || die "migrations failed: $(cause_line "$LOGS/migrate.log") (see $LOGS/migrate.log)"

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
# nats_user ROLE: NATS_USER, the NATS settings of a daemon of ROLE for env(1).
nats_user() { NATS_USER=(QW_NATS_USER="qw_$1" QW_NATS_PASSWORD_FILE="$SECRETS/nats-$1.password"); }
# auth alone gets the admin password: in the environment of its supervisor
# (a variable set for that one call), never on a command line
nats_user auth
AUTH_CMD=("${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$(pg_url auth "$PGSOCK" "$PG_PORT")"
  QW_OPS_PORT="$OPS_AUTH" QW_INSTANCE=auth-1 "$BIN/services/auth/qw-auth")
if [ -n "${QW_ADMIN_PASSWORD:-}" ]; then
  QW_ADMIN_PASSWORD=$QW_ADMIN_PASSWORD supervise auth -- "${AUTH_CMD[@]}"
else
  supervise auth -- "${AUTH_CMD[@]}"
fi
nats_user session
SESSION_DB_URL=$(pg_url session "$PGSOCK" "$PG_PORT")
supervise session -- "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$SESSION_DB_URL" QW_OPS_PORT="$OPS_SESSION" \
  QW_INSTANCE=session-1 "$BIN/services/session/qw-session"
if [ "$SESSIONS" -ge 2 ]; then
  supervise session2 -- "${RUN_AS[@]}" env "${NATS_USER[@]}" QW_DB_URL="$SESSION_DB_URL" QW_OPS_PORT="$OPS_SESSION2" \
    QW_INSTANCE=session-2 "$BIN/services/session/qw-session"
fi
nats_user scoring
supervise scoring -- "${RUN_AS[@]}" env "${NATS_USER[@]}" \
  QW_DB_URL="$(pg_url scoring "$PGSOCK" "$PG_PORT")" QW_OPS_PORT="$OPS_SCORING" \
  QW_INSTANCE=scoring-1 "$BIN/services/scoring/qw-scoring"
GW_URLS=()
nats_user gateway
for ((i = 0; i < GATEWAYS; i++)); do
  supervise "gateway$((i + 1))" -- "${RUN_AS[@]}" env -u QW_DB_URL "${NATS_USER[@]}" \
    QW_HTTP_PORT="${GW_PORTS[$i]}" QW_OPS_PORT="${GW_OPS[$i]}" QW_INSTANCE="gateway-$((i + 1))" \
    "$BIN/services/gateway/qw-gateway"
  GW_URLS+=("http://127.0.0.1:${GW_PORTS[$i]}")
done

DAEMONS=(auth session)
[ "$SESSIONS" -ge 2 ] && DAEMONS+=(session2)
DAEMONS+=(scoring)
for ((i = 0; i < GATEWAYS; i++)); do DAEMONS+=("gateway$((i + 1))"); done

# Until every gateway is healthy, a daemon that exits (its first pid gone or
# replaced) fails the start with its last log line.
declare -A FIRST_PID=()
check_daemons() {
  local name pid
  for name in "${DAEMONS[@]}"; do
    pid=""
    [ -f "$RUN/$name.pid" ] && { read -r pid <"$RUN/$name.pid" || pid=""; }
    [ -n "$pid" ] || continue
    [ -n "${FIRST_PID[$name]:-}" ] || FIRST_PID[$name]=$pid
    if [ "$pid" != "${FIRST_PID[$name]}" ] || ! kill -0 "$pid" 2>/dev/null; then
      die "$name exited at once: $(cause_line "$LOGS/$name.log") (see $LOGS/$name.log)"
    fi
  done
}
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/healthz")" = 200 ]; }
deadline=$(($(date +%s) + 90))
for ((i = 0; i < GATEWAYS; i++)); do
  until healthy "${GW_URLS[$i]}"; do
    check_daemons
    [ "$(date +%s)" -lt "$deadline" ] \
      || die "${GW_URLS[$i]}/healthz did not answer 200 within 90 s: $(cause_line "$LOGS/gateway$((i + 1)).log") (see $LOGS/gateway$((i + 1)).log)"
    sleep 0.2
  done
done
check_daemons
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
while :; do
  sleep 3600 9>&- &
  SLEEPER=$!
  wait "$SLEEPER" || true
done
