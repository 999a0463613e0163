#!/usr/bin/env bash
# run.sh BUILD_DIR: the integration tests against a real stack. Starts one
# stack (its own data folder and free ports) with the sanitizer build, runs
# every tests/integration/*.test.mjs with node's test runner, one file at a
# time, stops the stack even when a test fails, and fails on any sanitizer
# report the daemons wrote.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
TMP=$(mktemp -d /tmp/qwtest.XXXXXX)
chmod 755 "$TMP"
export QW_ADMIN_PASSWORD
QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
export QW_BUILD_DIR=$BUILD QW_ROOT=$ROOT QW_TEST_TMP=$TMP
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$TMP/stack/logs/asan"

"$ROOT/scripts/stack.sh" --dir "$TMP/stack" --bin "$BUILD" --random-ports >"$TMP/stack.out" 2>&1 &
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
  echo "run.sh: the test stack did not come up" >&2
  cat "$TMP/stack.out" >&2
  tail -n 30 "$TMP"/stack/logs/*.log >&2
  echo "integration: 0 passed, 1 failed"
  exit 1
fi
set -a; . "$TMP/stack/stack.env"; set +a

FILES=("$ROOT"/tests/integration/*.test.mjs)
[ -n "${QW_TEST_ONLY:-}" ] && FILES=("$ROOT"/tests/integration/${QW_TEST_ONLY}.test.mjs)
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TMP/tap.txt" "${FILES[@]}"
rc=$?
cleanup
trap - EXIT

reports=$(ls "$TMP"/stack/logs/asan* "$TMP"/stack/logs/ubsan* 2>/dev/null || true)
if [ -n "$reports" ]; then
  echo "run.sh: sanitizer reports from the daemons:" >&2
  for f in $reports; do echo "== $f" >&2; head -n 60 "$f" >&2; done
  rc=1
fi
pass=$(grep -E '^# pass ' "$TMP/tap.txt" | awk '{print $3}')
fail=$(grep -E '^# fail ' "$TMP/tap.txt" | awk '{print $3}')
if [ "$rc" != 0 ]; then
  echo "run.sh: logs kept in $TMP/stack/logs" >&2
  for f in "$TMP"/stack/logs/*.log; do echo "== $f (last 15 lines)" >&2; tail -n 15 "$f" >&2; done
  [ -n "$reports" ] && fail=$((${fail:-0} + 1))
else
  rm -rf "$TMP"
fi
echo "integration: ${pass:-0} passed, ${fail:-0} failed"
exit $rc
