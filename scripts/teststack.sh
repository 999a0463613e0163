# teststack.sh: sourced (not run) by the scripts that need a throw-away
# stack of their own: tests/run.sh, tests/faults/run.sh, stress/bench.sh.
# Starts scripts/stack.sh on free ports in a fresh folder, waits until it
# wrote stack.env and exports that file's variables; stops it again.
# shellcheck shell=bash

# teststack_prepare PREFIX: makes a fresh folder /tmp/PREFIX.XXXXXX (in
# TMP, readable by the unprivileged Postgres user) and a random admin
# password for the stack (QW_ADMIN_PASSWORD, exported).
teststack_prepare() {
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$TMP"
  QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
  export QW_ADMIN_PASSWORD
}

# teststack_start DIR BUILD_DIR [stack.sh options...]: sets TESTSTACK_PID.
# Returns 1 (after printing the stack's output and logs) when the stack
# did not come up within two minutes.
teststack_start() {
  local dir=$1 build=$2
  shift 2
  "$TESTSTACK_ROOT/scripts/stack.sh" --dir "$dir" --bin "$build" --random-ports "$@" >"$dir.out" 2>&1 &
  TESTSTACK_PID=$!
  local _
  for _ in $(seq 1 600); do
    [ -f "$dir/stack.env" ] && break
    kill -0 "$TESTSTACK_PID" 2>/dev/null || break
    sleep 0.2
  done
  if [ ! -f "$dir/stack.env" ]; then
    echo "the stack did not come up:" >&2
    cat "$dir.out" >&2
    tail -n 30 "$dir"/logs/*.log >&2
    return 1
  fi
  set -a
  # shellcheck disable=SC1091
  . "$dir/stack.env"
  set +a
}

# teststack_stop: stops the stack (SIGTERM) and waits for it; idempotent.
teststack_stop() {
  [ -n "${TESTSTACK_PID:-}" ] || return 0
  kill -TERM "$TESTSTACK_PID" 2>/dev/null && wait "$TESTSTACK_PID" 2>/dev/null
  TESTSTACK_PID=""
}

# teststack_sanitizer_reports DIR: prints the sanitizer reports the daemons
# wrote under DIR/logs to stderr; returns 1 when there is any.
teststack_sanitizer_reports() {
  local reports f
  reports=$(ls "$1"/logs/asan* "$1"/logs/ubsan* 2>/dev/null || true)
  [ -z "$reports" ] && return 0
  echo "sanitizer reports from the daemons:" >&2
  for f in $reports; do echo "== $f" >&2; head -n 60 "$f" >&2; done
  return 1
}

TESTSTACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
