#!/usr/bin/env bash
# run.sh BUILD_DIR: the fault tests. Starts ITS OWN stack (two session
# instances, two gateways, free ports, a fresh data folder, the sanitizer
# build) and runs tests/faults/faults.mjs against it: 200 simulated students
# answer while daemons, NATS and PostgreSQL are killed one after another.
# Stops the stack even when a check fails; keeps the logs of a failed run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
TMP=$(mktemp -d /tmp/qwfaults.XXXXXX)
chmod 755 "$TMP"
export QW_ADMIN_PASSWORD
QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
export QW_BUILD_DIR=$BUILD QW_ROOT=$ROOT QW_TEST_TMP=$TMP
# leaks are not checked here: a kill -9 leaves no report, and the clean
# shutdown of every daemon is covered by tests/run.sh
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$TMP/stack/logs/asan"

"$ROOT/scripts/stack.sh" --dir "$TMP/stack" --bin "$BUILD" --random-ports --sessions 2 >"$TMP/stack.out" 2>&1 &
STACK=$!
cleanup() {
  kill -TERM "$STACK" 2>/dev/null && wait "$STACK" 2>/dev/null
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  [ -f "$TMP/stack/stack.env" ] && break
  kill -0 "$STACK" 2>/dev/null || break
  sleep 0.2
done
if [ ! -f "$TMP/stack/stack.env" ]; then
  echo "faults: the stack did not come up" >&2
  cat "$TMP/stack.out" >&2
  tail -n 30 "$TMP"/stack/logs/*.log >&2
  echo "faults: 0 passed, 1 failed"
  exit 1
fi
set -a; . "$TMP/stack/stack.env"; set +a

node "$ROOT/tests/faults/faults.mjs"
rc=$?
cleanup
trap - EXIT

reports=$(ls "$TMP"/stack/logs/asan* "$TMP"/stack/logs/ubsan* 2>/dev/null || true)
if [ -n "$reports" ]; then
  echo "faults: sanitizer reports from the daemons:" >&2
  for f in $reports; do echo "== $f" >&2; head -n 60 "$f" >&2; done
  echo "faults: sanitizer reports found (counted as a failure)"
  rc=1
fi
if [ "$rc" != 0 ]; then
  echo "faults: logs kept in $TMP/stack/logs" >&2
else
  rm -rf "$TMP"
fi
exit $rc
