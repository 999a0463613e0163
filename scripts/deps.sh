#!/usr/bin/env bash
# deps.sh: installs what Quizwire needs from Debian's packages, only what is
# missing. As root it runs apt-get; otherwise it prints the exact line to run
# and stops. With --test it adds what the tests need (browser, haproxy, ...).
set -euo pipefail
PKGS=(build-essential cmake pkg-config curl python3 libnats-dev nats-server libmicrohttpd-dev
  libwslay-dev libjansson-dev libpq-dev postgresql libssl-dev libcrypt-dev nodejs npm iproute2)
if [ "${1:-}" = "--test" ]; then
  PKGS+=(chromium haproxy shellcheck valgrind postgresql-contrib systemd clang-format procps)
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
[ ${#missing[@]} -eq 0 ] && exit 0
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
