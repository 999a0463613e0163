#!/usr/bin/env bash
# deps.sh: installs what Quizwire needs from Debian's packages, only what is
# missing. As root it runs apt-get; otherwise it prints the exact line to run
# and stops. With --test it adds what the tests need (browser, haproxy, ...);
# with --cluster what scripts/cluster.sh runs (etcd, Patroni, haproxy), which
# --test includes for make test-cluster.
# Then checks the Node.js it finds (Debian's nodejs or one on PATH): the web
# build and the tests need Node.js 18 or later (Debian 12 ships 18.20.4).
# Nothing here downloads a Node.js build from anywhere but Debian.
set -euo pipefail
NODE_MIN=18

# check_node: fails, saying what is needed, when node is older than NODE_MIN.
check_node() {
  local v major
  if ! command -v node >/dev/null; then
    echo "deps.sh: Quizwire needs Node.js $NODE_MIN or later and finds no node on PATH." >&2
    echo "  Debian 12's nodejs package (18.20.4) is enough: apt-get install nodejs npm" >&2
    return 1
  fi
  v=$(node -p 'process.versions.node' 2>/dev/null) || v=unknown
  major=${v%%.*}
  case "$major" in '' | *[!0-9]*) major=0 ;; esac
  if [ "$major" -lt "$NODE_MIN" ]; then
    echo "deps.sh: Quizwire needs Node.js $NODE_MIN or later; $(command -v node) is $v." >&2
    echo "  Debian 12's nodejs package (18.20.4) is enough: apt-get install nodejs npm," >&2
    echo "  or put a Node.js >= $NODE_MIN first on PATH." >&2
    return 1
  fi
}

PKGS=(build-essential cmake pkg-config curl python3 libnats-dev nats-server libmicrohttpd-dev
  libwslay-dev libjansson-dev libpq-dev postgresql libssl-dev libcrypt-dev nodejs npm iproute2)
CLUSTER_PKGS=(etcd-server etcd-client patroni haproxy openssl)
if [ "${1:-}" = "--test" ]; then
  PKGS+=(chromium haproxy shellcheck valgrind postgresql-contrib systemd clang-format procps "${CLUSTER_PKGS[@]}")
elif [ "${1:-}" = "--cluster" ]; then
  PKGS+=("${CLUSTER_PKGS[@]}")
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian's packages: accept them on PATH
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=(); for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -eq 0 ]; then
  check_node
  exit
fi
if [ "$(id -u)" != 0 ]; then
  echo "Quizwire needs these Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/quizwire-apt.log 2>&1; then
  apt-get update -q >>/tmp/quizwire-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/quizwire-apt.log 2>&1 \
    || { tail -n 20 /tmp/quizwire-apt.log >&2; exit 1; }
fi
check_node
