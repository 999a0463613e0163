# shellcheck shell=bash
# lib.sh: shared by the stress scripts (sourced, never run): finds the
# qw-loadgen binary of a build. It holds no secret and starts nothing.
STRESS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# find_loadgen: prints the path of qw-loadgen: $QW_LOADGEN, else the build
# in $QW_BUILD_DIR, else build/release, else build/test.
find_loadgen() {
  local c
  for c in "${QW_LOADGEN:-}" "${QW_BUILD_DIR:+$QW_BUILD_DIR/stress/qw-loadgen}" \
    "$STRESS_ROOT/build/release/stress/qw-loadgen" "$STRESS_ROOT/build/test/stress/qw-loadgen"; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  echo "stress: qw-loadgen is not built (run: make build)" >&2
  return 1
}
