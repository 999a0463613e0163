#!/usr/bin/env bash
# run.sh BUILD_DIR: the integration tests against a real stack. Starts one
# stack (its own data folder and free ports) with the sanitizer build, runs
# every tests/integration/*.test.mjs with node's test runner, one file at a
# time, stops the stack even when a test fails, and fails on any sanitizer
# report the daemons wrote.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
# shellcheck source=scripts/teststack.sh
. "$ROOT/scripts/teststack.sh"
teststack_prepare qwtest
export QW_BUILD_DIR=$BUILD QW_ROOT=$ROOT QW_TEST_TMP=$TMP
# settings some tests exercise, harmless to the rest: an extra allowed
# Origin, and a request-head deadline short enough to wait for
export QW_ALLOWED_ORIGINS=https://console.quizwire.test QW_HTTP_HEAD_TIMEOUT_MS=6000
# session `main` follows this copy of the demo pool: 06_main_pool edits it
cp "$ROOT/examples/demo10_pool.json" "$TMP/pool.json"
export QUIZ_POOL_PATH=$TMP/pool.json
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$TMP/stack/logs/asan"

trap teststack_stop EXIT
if ! teststack_start "$TMP/stack" "$BUILD"; then
  echo "integration: 0 passed, 1 failed"
  exit 1
fi

FILES=("$ROOT"/tests/integration/*.test.mjs)
# the glob in QW_TEST_ONLY (e.g. 0[28]_*) is meant to expand
# shellcheck disable=SC2206
[ -n "${QW_TEST_ONLY:-}" ] && FILES=("$ROOT"/tests/integration/${QW_TEST_ONLY}.test.mjs)
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TMP/tap.txt" "${FILES[@]}"
rc=$?
teststack_stop
trap - EXIT

reports=0
teststack_sanitizer_reports "$TMP/stack" || { reports=1; rc=1; }
pass=$(grep -E '^# pass ' "$TMP/tap.txt" | awk '{print $3}')
fail=$(grep -E '^# fail ' "$TMP/tap.txt" | awk '{print $3}')
if [ "$rc" != 0 ]; then
  echo "run.sh: logs kept in $TMP/stack/logs" >&2
  for f in "$TMP"/stack/logs/*.log; do echo "== $f (last 15 lines)" >&2; tail -n 15 "$f" >&2; done
  [ "$reports" = 1 ] && fail=$((${fail:-0} + 1))
else
  rm -rf "$TMP"
fi
echo "integration: ${pass:-0} passed, ${fail:-0} failed"
exit $rc
