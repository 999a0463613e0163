#!/usr/bin/env bash
# bootstrap.sh: turns a plain Debian 12 VM into a Quizwire server: Debian's
# PostgreSQL and nats-server on loopback, the daemons as hardened systemd
# units (auth, session x2, scoring, gateways on 8080 and 8081) and HAProxy
# terminating TLS in front of the gateways. Idempotent: every step checks
# before it changes anything, so a second run changes nothing. It never
# prints a secret except the admin password at the end, on purpose.
#
# usage (as root, from a checkout): deploy/bootstrap.sh [--cert PEM] [--build-dir DIR]
#          [--gateways N] [--name HOST]
#   --cert PEM       full chain and private key in one file (default: a
#                    self-signed one made once in /etc/quizwire/selfsigned.pem)
#   --build-dir DIR  use binaries already built there (cmake build folder);
#                    default: build this checkout with cmake (RelWithDebInfo)
#   --gateways N     gateways on ports 8080.. (default 2)
#   --name HOST      host name printed in the URL (default: hostname -f)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
CERT=""
BUILD=""
GATEWAYS=2
NAME=$(hostname -f 2>/dev/null || hostname)
while [ $# -gt 0 ]; do
  case "$1" in
    --cert) CERT=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --gateways) GATEWAYS=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bootstrap.sh: run as root" >&2; exit 1; }
[ -d /run/systemd/system ] || { echo "bootstrap.sh: needs a system running systemd" >&2; exit 1; }
case "$GATEWAYS" in '' | *[!0-9]*) echo "bootstrap.sh: --gateways needs a number" >&2; exit 2 ;; esac

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
# nodejs and npm: scripts/build-web.sh fetches the pinned QR code generator
PKGS=(postgresql nats-server haproxy curl openssl ca-certificates nodejs npm
  libnats3.4 libmicrohttpd12 libwslay1 libjansson4 libpq5 libssl3 libcrypt1)
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

# ---- settings and secrets ------------------------------------------------
install -d -m 0755 "$ETC"
if [ ! -f "$ENVF" ]; then
  (
    umask 077
    cat >"$ENVF" <<ENV
# /etc/quizwire/quizwire.env: settings of every Quizwire daemon (docs/CONFIG.md).
# Written once by deploy/bootstrap.sh; edit and 'systemctl restart quizwire.target'.
# Per-unit settings (QW_INSTANCE, QW_HTTP_PORT, QW_OPS_PORT) are in the units.
QW_NATS_URL=nats://127.0.0.1:4222
QW_DB_URL="host=127.0.0.1 port=5432 dbname=quizwire user=quizwire"
PGPASSWORD=$(gen 32)
QW_ADMIN_PASSWORD=$(gen 16)
QW_MIGRATIONS_DIR=$SHARE/db/migrations
QW_STATIC_DIR=$SHARE/web/dist
QUIZ_POOL_PATH=$SHARE/examples/demo10_pool.json
QW_LOG_LEVEL=info
ENV
  )
  say "wrote $ENVF (mode 0600) with a new database and admin password"
fi
chmod 0600 "$ENVF"
chown root:root "$ENVF"
DB_PASSWORD=$(sed -n 's/^PGPASSWORD=//p' "$ENVF")
ADMIN_PASSWORD=$(sed -n 's/^QW_ADMIN_PASSWORD=//p' "$ENVF")

# ---- PostgreSQL (Debian's cluster) ---------------------------------------
systemctl is-enabled --quiet postgresql || systemctl enable --quiet postgresql
systemctl is-active --quiet postgresql || systemctl start postgresql
for _ in $(seq 1 60); do runuser -u postgres -- pg_isready -q && break; sleep 1; done
psql_pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'quizwire'")" != 1 ]; then
  # the password goes through stdin, never the command line (it is alphanumeric)
  psql_pg <<<"CREATE ROLE quizwire LOGIN PASSWORD '$DB_PASSWORD';"
  say "created PostgreSQL role quizwire"
fi
if [ "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = 'quizwire'")" != 1 ]; then
  psql_pg -c "CREATE DATABASE quizwire OWNER quizwire ENCODING 'UTF8' TEMPLATE template0"
  say "created database quizwire"
fi

# ---- NATS (Debian's nats-server unit, our config: loopback, 8 MB payloads) -
tmp=$(mktemp)
cat >"$tmp" <<'NATS'
# /etc/quizwire/nats.conf: Quizwire's NATS server, loopback only.
listen: 127.0.0.1:4222
max_payload: 8MB
max_pending: 256MB
write_deadline: "10s"
NATS
nats_changed=0
install_file "$tmp" "$ETC/nats.conf" 0644 && nats_changed=1
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/nats-server -c %s/nats.conf\nRestart=on-failure\n' "$ETC" >"$tmp"
install_file "$tmp" /etc/systemd/system/nats-server.service.d/quizwire.conf 0644 && nats_changed=1
rm -f "$tmp"
[ "$nats_changed" = 1 ] && systemctl daemon-reload
systemctl is-enabled --quiet nats-server || systemctl enable --quiet nats-server
if [ "$nats_changed" = 1 ]; then systemctl restart nats-server; else systemctl is-active --quiet nats-server || systemctl start nats-server; fi

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

# ---- systemd units -------------------------------------------------------
units_changed=0
for u in "$SRC"/deploy/systemd/*; do
  install_file "$u" "/etc/systemd/system/$(basename "$u")" 0644 && units_changed=1
done
wants=(qw-migrate.service qw-auth.service qw-session@1.service qw-session@2.service qw-scoring.service)
servers=""
for ((i = 0; i < GATEWAYS; i++)); do
  wants+=("qw-gateway@$((8080 + i)).service")
  servers+="    server gw$((i + 1)) 127.0.0.1:$((8080 + i)) check"$'\n'
done
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
echo "  admin password:     $ADMIN_PASSWORD   (QW_ADMIN_PASSWORD in $ENVF)"
