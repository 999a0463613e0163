#!/bin/sh
# entrypoint.sh: starts one Quizwire daemon as the container's main process.
# Every container's daemon would be pid 1 and so be named "<daemon>-1" by
# default; this names it after the container (its hostname) unless
# QW_INSTANCE is set, so scaled replicas stay apart in logs and on NATS.
# It sets nothing else: every setting is a QW_* variable from compose.
set -eu
[ $# -gt 0 ] || set -- qw-gateway
daemon=$(basename "$1")
if [ -z "${QW_INSTANCE:-}" ]; then
  QW_INSTANCE="${daemon#qw-}-$(hostname)"
  export QW_INSTANCE
fi
exec "$@"
