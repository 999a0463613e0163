#!/usr/bin/env bash
# supervise.sh: keeps one process of a scripts/stack.sh stack running until
# it is told to stop. stack.sh starts it in a session of its own (setsid), so
# a Ctrl-C in the terminal reaches only stack.sh, which alone decides the
# order of the stop, and with a parent-death signal (setpriv --pdeathsig),
# so that a kill -9 of stack.sh still stops this supervisor and its child.
#
# usage: supervise.sh --run RUN_DIR --name NAME --parent PID [--no-backoff] -- CMD...
#
# The pid of the running child is in RUN_DIR/NAME.pid (fault tests kill it).
# When the child dies it is started again after a backoff (0.25 s doubling to
# 8 s, back to 0.25 s after 30 s of life; always 0.25 s with --no-backoff),
# and not while RUN_DIR/hold.NAME exists (a fault test holding it down).
# SIGTERM stops it: the child gets SIGTERM, and SIGKILL after 10 s. INT and
# HUP are ignored. Its output goes to stdout (stack.sh points it at a log);
# its own events go to the file in QW_SUPERVISOR_LOG.
set -u
RUN=""
NAME=""
PARENT=""
BACKOFF=1
while [ $# -gt 0 ]; do
  case "$1" in
    --run) RUN=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --parent) PARENT=$2; shift 2 ;;
    --no-backoff) BACKOFF=0; shift ;;
    --) shift; break ;;
    *) echo "supervise.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$RUN" ] || [ -z "$NAME" ] || [ -z "$PARENT" ] || [ $# -eq 0 ]; then
  echo "usage: supervise.sh --run RUN_DIR --name NAME --parent PID [--no-backoff] -- CMD..." >&2
  exit 2
fi

log() {
  printf '%s stack info event=%s\n' "$(date -u +%FT%T.%3NZ)" "$*" >>"${QW_SUPERVISOR_LOG:-/dev/null}"
}

stopping=0
child=""
sleeper=""
# shellcheck disable=SC2317 # run by the TERM trap
on_term() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  [ -n "$sleeper" ] && kill -TERM "$sleeper" 2>/dev/null
}
trap on_term TERM
trap '' INT HUP
# the parent died before the death signal was armed: nothing to supervise
kill -0 "$PARENT" 2>/dev/null || exit 0

# nap MS: sleeps in the background so that SIGTERM ends the nap at once
nap() {
  sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))" &
  sleeper=$!
  wait "$sleeper" 2>/dev/null
  sleeper=""
}

backoff=250
while [ "$stopping" = 0 ]; do
  started=$(date +%s)
  "$@" &
  child=$!
  echo "$child" >"$RUN/$NAME.pid"
  rc=0
  wait "$child" || rc=$?
  # a trapped signal interrupts wait: wait again until the child is gone
  while [ "$stopping" = 0 ] && kill -0 "$child" 2>/dev/null; do
    rc=0
    wait "$child" || rc=$?
  done
  if [ "$stopping" = 1 ]; then
    for _ in $(seq 1 100); do
      kill -0 "$child" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$child" 2>/dev/null; then
      log "daemon_killed daemon=$NAME reason=\"no exit 10 s after SIGTERM\""
      kill -KILL "$child" 2>/dev/null
    fi
    wait "$child" 2>/dev/null
    break
  fi
  if [ "$BACKOFF" = 1 ]; then
    [ $(($(date +%s) - started)) -ge 30 ] && backoff=250
    log "daemon_exited daemon=$NAME rc=$rc restart_in_ms=$backoff"
  fi
  while [ -e "$RUN/hold.$NAME" ] && [ "$stopping" = 0 ]; do nap 100; done
  if [ "$BACKOFF" = 1 ]; then
    nap "$backoff"
    backoff=$((backoff * 2))
    [ "$backoff" -gt 8000 ] && backoff=8000
  else
    nap 250
  fi
done
rm -f "$RUN/$NAME.pid"
exit 0
