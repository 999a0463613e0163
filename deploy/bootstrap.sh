#!/usr/bin/env bash
# bootstrap.sh: turns a plain Debian 12 VM into a Quizwire server: Debian's
# PostgreSQL and nats-server on loopback, the daemons as hardened systemd
# units (auth, session x2, scoring, gateways on 8080 and 8081) and HAProxy
# terminating TLS in front of the gateways. Idempotent: every step checks
# before it changes anything, so a second run changes nothing. It never
# prints a secret except the admin password at the end, on purpose.
#
# usage (as root, from a checkout): deploy/bootstrap.sh [--cert PEM] [--build-dir DIR]
#          [--gateways N] [--name HOST] [--cluster N --peers IP1,IP2,IP3]
#   --cert PEM       full chain and private key in one file (default: a
#                    self-signed one made once in /etc/quizwire/selfsigned.pem)
#   --build-dir DIR  use binaries already built there (cmake build folder);
#                    default: build this checkout with cmake (RelWithDebInfo)
#   --gateways N     gateways on ports 8080.. (default 2)
#   --name HOST      host name printed in the URL (default: hostname -f)
#   --cluster N      machine N (1-3) of a three-machine cluster whose
#                    addresses are --peers, in order (deploy/README.md,
#                    "Three machines"): etcd, PostgreSQL under Patroni
#                    (strict synchronous replication), a NATS cluster with
#                    TLS routes; the daemons get every machine's NATS URL and
#                    a multi-host database URL. Run it on machine 1 first,
#                    then copy /etc/quizwire/secrets to the other two.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
CERT=""
BUILD=""
GATEWAYS=2
NAME=$(hostname -f 2>/dev/null || hostname)
CLUSTER=""
PEERS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cert) CERT=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --gateways) GATEWAYS=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --cluster) CLUSTER=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bootstrap.sh: run as root" >&2; exit 1; }
[ -d /run/systemd/system ] || { echo "bootstrap.sh: needs a system running systemd" >&2; exit 1; }
case "$GATEWAYS" in '' | *[!0-9]*) echo "bootstrap.sh: --gateways needs a number" >&2; exit 2 ;; esac
IPS=()
ME=127.0.0.1
if [ -n "$CLUSTER" ]; then
  IFS=, read -r -a IPS <<<"$PEERS"
  case "$CLUSTER" in 1 | 2 | 3) ;; *) echo "bootstrap.sh: --cluster is 1, 2 or 3" >&2; exit 2 ;; esac
  [ ${#IPS[@]} = 3 ] || { echo "bootstrap.sh: --cluster needs --peers IP1,IP2,IP3 (the three machines, in order)" >&2; exit 2; }
  ME=${IPS[$((CLUSTER - 1))]}
  ip -o addr show | grep -qF " $ME/" || { echo "bootstrap.sh: this machine has no address $ME (machine $CLUSTER of --peers)" >&2; exit 1; }
fi

ETC=/etc/quizwire
ENVF=$ETC/quizwire.env
SHARE=/usr/local/share/quizwire
CHANGED=0 # set when a file the daemons read was replaced: they are restarted

say() { printf 'bootstrap: %s\n' "$*"; }
gen() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c "$1"; }

# install_file SRC DST MODE: copies only when the content or mode differs;
# returns 0 when it changed something, 1 when DST was already right.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "${3#0}" ]; then return 1; fi
  install -D -m "$3" "$1" "$2"
  say "installed $2"
  return 0
}

# ---- packages -----------------------------------------------------------
# nodejs and npm: scripts/build-web.sh fetches the pinned QR code generator and CSV parser
# whois: mkpasswd, which hashes the admin password (yescrypt)
PKGS=(postgresql nats-server haproxy curl openssl ca-certificates nodejs npm whois
  libnats3.4 libmicrohttpd12 libwslay1 libjansson4 libpq5 libssl3 libcrypt1)
[ -n "$CLUSTER" ] && PKGS+=(etcd-server etcd-client patroni)
[ -z "$BUILD" ] && PKGS+=(build-essential cmake pkg-config libnats-dev libmicrohttpd-dev
  libwslay-dev libjansson-dev libpq-dev libssl-dev libcrypt-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- system user ----------------------------------------------------------
if ! id quizwire >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin quizwire
  say "created system user quizwire"
fi

# ---- swap on small VMs --------------------------------------------------
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
if [ "$mem_kb" -lt 2097152 ]; then
  if [ ! -f /swapfile ]; then
    fallocate -l 2G /swapfile 2>/dev/null || dd if=/dev/zero of=/swapfile bs=1M count=2048 status=none
    chmod 600 /swapfile
    mkswap /swapfile >/dev/null
    say "created /swapfile (2 GB): the VM has $((mem_kb / 1024)) MB of memory"
  fi
  grep -q '^/swapfile ' /proc/swaps || swapon /swapfile
  grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' >>/etc/fstab
  tmp=$(mktemp)
  echo 'vm.swappiness = 10' >"$tmp"
  if install_file "$tmp" /etc/sysctl.d/60-quizwire-swap.conf 0644; then
    sysctl -q -p /etc/sysctl.d/60-quizwire-swap.conf
  fi
  rm -f "$tmp"
fi

# ---- binaries, migrations, web pages, demo pool ------------------------
if [ -z "$BUILD" ]; then
  BUILD=$SRC/build/release
  say "building $SRC into $BUILD"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" >/dev/null
fi
for d in auth session scoring gateway migrate; do
  [ -x "$BUILD/services/$d/qw-$d" ] || { echo "bootstrap.sh: no $BUILD/services/$d/qw-$d" >&2; exit 1; }
  install_file "$BUILD/services/$d/qw-$d" "/usr/local/bin/qw-$d" 0755 && CHANGED=1
done
install_file "$BUILD/shared/qw-nats-roles" /usr/local/bin/qw-nats-roles 0755 || true
"$SRC/scripts/build-web.sh"
# sync_dir SRC DST: replaces DST with a copy of SRC only when they differ
sync_dir() {
  if [ -d "$2" ] && diff -rq "$1" "$2" >/dev/null 2>&1; then return 0; fi
  rm -rf "$2.new"
  mkdir -p "$(dirname "$2")"
  cp -r "$1" "$2.new"
  chmod -R u=rwX,go=rX "$2.new"
  rm -rf "$2"
  mv "$2.new" "$2"
  say "installed $2"
  CHANGED=1
}
sync_dir "$SRC/db/migrations" "$SHARE/db/migrations"
sync_dir "$SRC/web/dist" "$SHARE/web/dist"
sync_dir "$SRC/examples" "$SHARE/examples"

# ---- settings and secrets ------------------------------------------------
# Each unit reads common.env (no secret) and its own role's file (0600
# root: systemd reads it before dropping to quizwire); its NATS password is
# a systemd credential (LoadCredential), readable by that unit's process
# alone. The admin password is kept only as its hash (auth.env). Files of
# the older layout (one quizwire.env for every unit) are taken over once.
install -d -m 0755 "$ETC"
install -d -m 0700 "$ETC/secrets"
old_db=""; old_admin=""
if [ -f "$ENVF" ]; then
  old_db=$(sed -n 's/^PGPASSWORD=//p' "$ENVF")
  old_admin=$(sed -n 's/^QW_ADMIN_PASSWORD=//p' "$ENVF")
fi
# secret_file NAME [VALUE]: $ETC/secrets/NAME (0600 root), made once
secret_file() {
  local f=$ETC/secrets/$1
  if [ ! -s "$f" ]; then
    (umask 077 && printf '%s\n' "${2:-$(gen 32)}" >"$f")
    say "wrote $f (mode 0600)"
  fi
  chmod 0600 "$f"
}
for role in auth session scoring gateway bench; do secret_file "nats-$role.password"; done
secret_file db-owner.password "$old_db"
for role in auth session scoring; do secret_file "db-$role.password"; done
if [ -n "$CLUSTER" ]; then
  # the same on the three machines: made on machine 1, copied to the others
  if [ "$CLUSTER" != 1 ] && [ ! -s "$ETC/secrets/cluster-ca.pem" ]; then
    echo "bootstrap.sh: copy $ETC/secrets from machine 1 first (scp -rp root@${IPS[0]}:$ETC/secrets $ETC/)" >&2
    exit 1
  fi
  for f in nats-route.password db-superuser.password db-replicator.password; do secret_file "$f"; done
  if [ ! -s "$ETC/secrets/cluster-ca.pem" ]; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=quizwire cluster CA" -keyout "$ETC/secrets/cluster-ca.key" -out "$ETC/secrets/cluster-ca.pem" 2>/dev/null)
    say "made the cluster CA $ETC/secrets/cluster-ca.pem"
  fi
  # this machine's certificate for the NATS routes, for its address
  if ! openssl x509 -in "$ETC/secrets/nats-route.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "$ME\$"; then
    (
      umask 077
      d=$(mktemp -d)
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$ME" \
        -keyout "$ETC/secrets/nats-route.key" -out "$d/csr" 2>/dev/null
      openssl x509 -req -in "$d/csr" -CA "$ETC/secrets/cluster-ca.pem" -CAkey "$ETC/secrets/cluster-ca.key" \
        -CAcreateserial -days 3650 -out "$ETC/secrets/nats-route.pem" \
        -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ME") 2>/dev/null
      rm -rf "$d"
    )
    say "made this machine's NATS route certificate for $ME"
  fi
fi
ADMIN_PASSWORD=""
if [ ! -s "$ETC/secrets/admin.hash" ]; then
  ADMIN_PASSWORD=${old_admin:-$(gen 16)}
  (umask 077 && mkpasswd -m yescrypt --stdin <<<"$ADMIN_PASSWORD" >"$ETC/secrets/admin.hash")
  say "stored the admin password's hash in $ETC/secrets/admin.hash"
fi
secret() { head -n 1 "$ETC/secrets/$1"; }
# role_env FILE LINES...: writes $ETC/FILE (0600 root) when it differs
role_env() {
  local file=$1 t
  shift
  t=$(mktemp)
  printf '%s\n' "# $ETC/$file: written by deploy/bootstrap.sh from $ETC/secrets (docs/SECURITY.md)" "$@" >"$t"
  install_file "$t" "$ETC/$file" 0600 && CHANGED=1
  rm -f "$t"
}
NATS_URLS=nats://127.0.0.1:4222
DB_HOST=127.0.0.1
DB_PORT=5432
DB_EXTRA=""
DB_HEALTH_MS=2000
if [ -n "$CLUSTER" ]; then
  # a failover leaves no machine with a database for 10-20 s: red health
  # would only make HAProxy drop every gateway (scripts/cluster-node.sh)
  DB_HEALTH_MS=20000
  # this machine's server first, then the others; only a writable primary
  NATS_URLS=nats://$ME:4222
  for ip in "${IPS[@]}"; do [ "$ip" = "$ME" ] || NATS_URLS+=",nats://$ip:4222"; done
  DB_HOST=$(IFS=,; echo "${IPS[*]}")
  DB_PORT=5432,5432,5432
  # a connection to a machine cut off the network is dropped within about
  # 6 s (keepalives, tcp_user_timeout), so a statement on a lost primary
  # fails and is retried on the new one (scripts/cluster-node.sh does the same)
  DB_EXTRA=" target_session_attrs=read-write connect_timeout=3 keepalives_idle=2 keepalives_interval=1"
  DB_EXTRA+=" keepalives_count=2 tcp_user_timeout=4000"
fi
t=$(mktemp)
cat >"$t" <<ENV
# $ETC/common.env: the settings every Quizwire daemon shares (docs/CONFIG.md);
# no secret. Written by deploy/bootstrap.sh; per-unit settings are in the units.
QW_NATS_URL=$NATS_URLS
QW_MIGRATIONS_DIR=$SHARE/db/migrations
QW_STATIC_DIR=$SHARE/web/dist
QUIZ_POOL_PATH=$SHARE/examples/demo10_pool.json
QW_LOG_LEVEL=info
QW_HEALTH_DB_MS=$DB_HEALTH_MS
ENV
install_file "$t" "$ETC/common.env" 0644 && CHANGED=1
rm -f "$t"
db_url() { echo "QW_DB_URL=\"host=$DB_HOST port=$DB_PORT dbname=quizwire user=$1$DB_EXTRA\""; }
role_env migrate.env "$(db_url quizwire)" "PGPASSWORD=$(secret db-owner.password)"
role_env auth.env "$(db_url qw_auth)" "PGPASSWORD=$(secret db-auth.password)" \
  "QW_ADMIN_PASSWORD_HASH='$(secret admin.hash)'"
role_env session.env "$(db_url qw_session)" "PGPASSWORD=$(secret db-session.password)"
role_env scoring.env "$(db_url qw_scoring)" "PGPASSWORD=$(secret db-scoring.password)"
[ -f "$ENVF" ] && { rm -f "$ENVF"; say "removed $ENVF (replaced by one file per role)"; }

# ---- PostgreSQL (Debian's cluster, or Patroni's on a cluster machine) ----
if [ -z "$CLUSTER" ]; then
  systemctl is-enabled --quiet postgresql || systemctl enable --quiet postgresql
  systemctl is-active --quiet postgresql || systemctl start postgresql
  for _ in $(seq 1 60); do runuser -u postgres -- pg_isready -q && break; sleep 1; done
  psql_pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
else
  # shellcheck source=deploy/cluster.sh
  . "$SRC/deploy/cluster.sh"
  cluster_database
fi
# db_role ROLE SECRET: makes the login role with the password in
# $ETC/secrets/SECRET; the owner 'quizwire' runs the migrations, which grant
# each daemon's role its tables (db/migrations/007_roles.sql)
db_role() {
  if [ "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$1'")" != 1 ]; then
    # the password goes through stdin, never the command line (it is alphanumeric)
    psql_pg <<<"CREATE ROLE $1 LOGIN PASSWORD '$(secret "$2")';"
    say "created PostgreSQL role $1"
  fi
}
db_role quizwire db-owner.password
for role in auth session scoring; do db_role "qw_$role" "db-$role.password"; done
if [ "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = 'quizwire'")" != 1 ]; then
  psql_pg -c "CREATE DATABASE quizwire OWNER quizwire ENCODING 'UTF8' TEMPLATE template0"
  say "created database quizwire"
fi

# ---- NATS (Debian's nats-server unit, our config: loopback, 8 MB payloads) -
# users and permissions from the roles table (qw-nats-roles; docs/ARCHITECTURE.md
# "Roles"); the file holds the passwords: 0600 root, handed to nats-server
# as a systemd credential
tmp=$(mktemp)
{
  cat <<'NATS'
# /etc/quizwire/nats.conf: Quizwire's NATS server (loopback, or this
# machine's address in a cluster).
max_payload: 8MB
max_pending: 256MB
write_deadline: "10s"
NATS
  echo "listen: $ME:4222"
  [ -z "$CLUSTER" ] || cluster_nats_block
  /usr/local/bin/qw-nats-roles --conf "$ETC/secrets"
} >"$tmp"
nats_changed=0
install_file "$tmp" "$ETC/nats.conf" 0600 && nats_changed=1
printf '[Service]\nLoadCredential=nats.conf:%s/nats.conf\nExecStart=\nExecStart=/usr/sbin/nats-server -c %%d/nats.conf\nRestart=on-failure\n' "$ETC" >"$tmp"
# a cluster machine's route certificate, key and CA, as credentials too
[ -z "$CLUSTER" ] || printf 'LoadCredential=%s:%s/secrets/%s\n' nats-route.pem "$ETC" nats-route.pem \
  nats-route.key "$ETC" nats-route.key cluster-ca.pem "$ETC" cluster-ca.pem >>"$tmp"
install_file "$tmp" /etc/systemd/system/nats-server.service.d/quizwire.conf 0644 && nats_changed=1
rm -f "$tmp"
[ "$nats_changed" = 1 ] && systemctl daemon-reload
systemctl is-enabled --quiet nats-server || systemctl enable --quiet nats-server
if [ "$nats_changed" = 1 ]; then systemctl restart nats-server; else systemctl is-active --quiet nats-server || systemctl start nats-server; fi

# ---- systemd units -------------------------------------------------------
units_changed=0
for u in "$SRC"/deploy/systemd/*; do
  install_file "$u" "/etc/systemd/system/$(basename "$u")" 0644 && units_changed=1
done
wants=(qw-migrate.service qw-auth.service qw-session@1.service qw-session@2.service qw-scoring.service)
servers=""
for ((i = 0; i < GATEWAYS; i++)); do
  wants+=("qw-gateway@$((8080 + i)).service")
  if [ -z "$CLUSTER" ]; then
    servers+="    server gw$((i + 1)) 127.0.0.1:$((8080 + i)) check"$'\n'
  else
    # every machine's gateways: a machine lost, its sockets come here
    for ((m = 0; m < 3; m++)); do servers+="    server gw$((m + 1))-$((i + 1)) ${IPS[$m]}:$((8080 + i)) check"$'\n'; done
  fi
done
[ -z "$CLUSTER" ] || cluster_gateway_dropin
# the target lists the gateways asked for (default: 8080 and 8081)
tmp=$(mktemp)
sed "s/^Wants=.*/Wants=${wants[*]}/" "$SRC/deploy/systemd/quizwire.target" >"$tmp"
install_file "$tmp" /etc/systemd/system/quizwire.target 0644 && units_changed=1
rm -f "$tmp"
[ "$units_changed" = 1 ] && { systemctl daemon-reload; CHANGED=1; }
systemctl is-enabled --quiet quizwire.target || systemctl enable --quiet quizwire.target

# ---- HAProxy with TLS ----------------------------------------------------
if [ -z "$CERT" ]; then
  CERT=$ETC/selfsigned.pem
  if [ ! -f "$CERT" ]; then
    (
      umask 077
      d=$(mktemp -d)
      openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$NAME" \
        -addext "subjectAltName=DNS:$NAME" -keyout "$d/key.pem" -out "$d/crt.pem" 2>/dev/null
      cat "$d/crt.pem" "$d/key.pem" >"$CERT"
      rm -rf "$d"
    )
    say "no --cert given: made a self-signed certificate $CERT (browsers will warn)"
  fi
fi
[ -r "$CERT" ] || { echo "bootstrap.sh: cannot read certificate $CERT" >&2; exit 1; }
tmp=$(mktemp)
while IFS= read -r line; do
  case "$line" in
    @SERVERS@) printf '%s' "$servers" ;;
    *) line=${line//@HTTP_BIND@/:80}; line=${line//@HTTPS_BIND@/:443}; printf '%s\n' "${line//@CERT@/$CERT}" ;;
  esac
done <"$SRC/deploy/haproxy.cfg.tmpl" >"$tmp"
haproxy -c -q -f "$tmp" || { echo "bootstrap.sh: the rendered HAProxy config is invalid: $tmp" >&2; exit 1; }
if install_file "$tmp" /etc/haproxy/haproxy.cfg 0644; then
  systemctl is-active --quiet haproxy && systemctl reload haproxy
fi
rm -f "$tmp"
systemctl is-enabled --quiet haproxy || systemctl enable --quiet haproxy
systemctl is-active --quiet haproxy || systemctl start haproxy

# ---- start ---------------------------------------------------------------
if [ "$CHANGED" = 1 ]; then
  # the migrations first (oneshot), then every daemon on the new files
  systemctl restart qw-migrate.service
  systemctl restart "${wants[@]:1}"
fi
systemctl start quizwire.target
ok=0
for _ in $(seq 1 60); do
  if curl -fsS -k -o /dev/null --resolve "$NAME:443:127.0.0.1" "https://$NAME/healthz"; then ok=1; break; fi
  sleep 1
done
[ "$ok" = 1 ] || { echo "bootstrap.sh: https://$NAME/healthz did not answer 200; see journalctl -u 'qw-*'" >&2; exit 1; }

echo
echo "Quizwire is running."
echo "  student page:       https://$NAME/"
echo "  instructor console: https://$NAME/host"
echo "  instructor login:   admin"
if [ -n "$ADMIN_PASSWORD" ]; then
  echo "  admin password:     $ADMIN_PASSWORD   (shown once: only its hash is kept, $ETC/secrets/admin.hash)"
else
  echo "  admin password:     as printed at the first run (docs/SECURITY.md: rotating it)"
fi
