#!/usr/bin/env bash
# run.sh BUILD_DIR: the fault tests. Starts ITS OWN stack (two session
# instances, two gateways, free ports, a fresh data folder, the sanitizer
# build) and runs tests/faults/faults.mjs against it: 200 simulated students
# answer while daemons, NATS and PostgreSQL are killed one after another.
# Stops the stack even when a check fails; keeps the logs of a failed run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
# shellcheck source=scripts/teststack.sh
. "$ROOT/scripts/teststack.sh"
teststack_prepare qwfaults
export QW_BUILD_DIR=$BUILD QW_ROOT=$ROOT QW_TEST_TMP=$TMP
# leaks are not checked here: a kill -9 leaves no report, and the clean
# shutdown of every daemon is covered by tests/run.sh
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$TMP/stack/logs/asan"

trap teststack_stop EXIT
if ! teststack_start "$TMP/stack" "$BUILD" --sessions 2; then
  echo "faults: 0 passed, 1 failed"
  exit 1
fi

node "$ROOT/tests/faults/faults.mjs"
rc=$?
teststack_stop
trap - EXIT

if ! teststack_sanitizer_reports "$TMP/stack"; then
  echo "faults: sanitizer reports found (counted as a failure)"
  rc=1
fi
if [ "$rc" != 0 ]; then
  echo "faults: logs kept in $TMP/stack/logs" >&2
else
  if [ -n "${QW_KEEP_LOGS:-}" ]; then
    echo "faults: logs kept in $TMP/stack/logs (QW_KEEP_LOGS)" >&2
  else
    rm -rf "$TMP"
  fi
fi
exit $rc
