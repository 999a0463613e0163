#!/usr/bin/env bash
# run.sh BUILD_DIR: the cluster tests (make test-cluster). Starts ITS OWN
# scripts/cluster.sh (three machines as network namespaces, a prefix and a
# subnet picked from this shell's pid so two runs do not meet, HAProxy on a
# free port, a fresh data folder) and runs tests/cluster/cluster.mjs against
# it: 300 simulated students through HAProxy while a whole machine is killed,
# cut off and rolled. Needs root (ip netns); says so and passes nothing
# otherwise. Stops the cluster even when a check fails; keeps the logs of a
# failed run (QW_KEEP_LOGS keeps them always).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "cluster: needs root (ip netns); not run"
  echo "cluster: 0 passed, 1 failed"
  exit 1
fi
TMP=$(mktemp -d /tmp/qwcluster.XXXXXX)
chmod 755 "$TMP"
PREFIX=qc$(($$ % 100000))
SUBNET=10.78.$(($$ % 250))
export QW_ADMIN_PASSWORD
QW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
# every decision of Patroni in the kept logs of a failed run
export QW_CLUSTER_PATRONI_LOG=INFO

CLUSTER_PID=""
stop_cluster() {
  [ -n "$CLUSTER_PID" ] || return 0
  kill -TERM "$CLUSTER_PID" 2>/dev/null
  wait "$CLUSTER_PID" 2>/dev/null
  CLUSTER_PID=""
}
trap stop_cluster EXIT

t0=$(date +%s)
setsid "$ROOT/scripts/cluster.sh" --dir "$TMP/cluster" --bin "$BUILD" --prefix "$PREFIX" --subnet "$SUBNET" \
  --random-ports >"$TMP/cluster.out" 2>&1 </dev/null &
CLUSTER_PID=$!
until [ -f "$TMP/cluster/cluster.env" ]; do
  if ! kill -0 "$CLUSTER_PID" 2>/dev/null || [ $(($(date +%s) - t0)) -gt 180 ]; then
    echo "cluster: scripts/cluster.sh did not start: $(tail -n 3 "$TMP/cluster.out" | tr '\n' ' ')"
    echo "cluster: logs kept in $TMP"
    echo "cluster: 0 passed, 1 failed"
    exit 1
  fi
  sleep 0.5
done
echo "cluster: started in $(($(date +%s) - t0)) s (prefix $PREFIX, subnet $SUBNET.0/24)"
set -a
# shellcheck source=/dev/null
. "$TMP/cluster/cluster.env"
set +a
export QW_BUILD_DIR=$BUILD QW_ROOT=$ROOT QW_TEST_TMP=$TMP QW_GATEWAYS=$QW_LB

node "$ROOT/tests/cluster/cluster.mjs"
rc=$?
t1=$(date +%s)
stop_cluster
trap - EXIT
echo "cluster: stopped in $(($(date +%s) - t1)) s"
if ip link show "$PREFIX-br" >/dev/null 2>&1 || ip netns list | grep -q "^$PREFIX-n"; then
  echo "cluster: the stop left the bridge or a namespace of $PREFIX behind"
  rc=1
fi
if [ "$rc" != 0 ] || [ -n "${QW_KEEP_LOGS:-}" ]; then
  echo "cluster: logs kept in $TMP" >&2
else
  rm -rf "$TMP"
fi
exit $rc
