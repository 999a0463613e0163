#!/usr/bin/env bash
# run.sh BUILD_DIR: the start and stop of scripts/stack.sh as a user meets
# them in a terminal. The stack runs in a pseudo-terminal (script(1)), Ctrl-C
# is the byte 0x03 written to it (so the tty sends SIGINT to the whole
# foreground process group), and every case starts again on the same data
# folder: start, Ctrl-C and start 20 times in a row; Ctrl-C twice and a
# SIGTERM while stopping; the terminal closed (SIGHUP); a kill -9 of the
# whole process group; a port held by another program; a daemon that exits
# at once (one line with its last log line, not the health timeout). After
# each stop no marker, pid file or process of the stack is left and
# PostgreSQL is down;
# after each restart a question is played (qw-loadgen: a student joins, the
# instructor opens a question over REST, the student submits over /ws and is
# accepted). QW_STACK_CYCLES changes the 20.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
# shellcheck source=scripts/teststack.sh
. "$ROOT/scripts/teststack.sh"
teststack_prepare qwstack
D=$TMP/d
echo "$D" >"$TMP/pattern"
CYCLES=${QW_STACK_CYCLES:-20}
READY_S=120
STOP_S=60
passed=0
failed=0
SERIAL=0
TERM_PID=""
HOLDER=""

note() { echo "stack-test: $*" >&2; }

# term_start [VAR=VALUE...]: starts stack.sh in a fresh pseudo-terminal;
# sets TERM_PID (script's pid) and OUT (what the terminal shows). fd 7 is
# the keyboard: what is written to it is typed into the terminal.
term_start() {
  SERIAL=$((SERIAL + 1))
  OUT=$TMP/term$SERIAL.out
  [ -n "${QW_STACK_TRACE:-}" ] && note "$(date +%T) start $SERIAL"
  mkfifo "$TMP/term$SERIAL.in"
  # a job of this script starts with SIGINT ignored; a terminal's does not
  env --default-signal=INT,QUIT "$@" script -qfec "exec '$ROOT/scripts/stack.sh' --dir '$D' --bin '$BUILD' --random-ports" /dev/null \
    <"$TMP/term$SERIAL.in" >"$OUT" 2>&1 &
  TERM_PID=$!
  exec 7>"$TMP/term$SERIAL.in"
}

# stack_pid: the pid of stack.sh inside the terminal (script's child)
stack_pid() { pgrep -P "$TERM_PID" | head -n 1; }

# ctrl_c: types Ctrl-C into the terminal
ctrl_c() {
  [ -n "${QW_STACK_TRACE:-}" ] && note "$(date +%T) Ctrl-C"
  printf '\003' >&7
}

# wait_ready: the banner's last line shown within READY_S, and stack.env there
wait_ready() {
  local i
  for ((i = 0; i < READY_S * 5; i++)); do
    grep -q 'Press Ctrl-C to stop' "$OUT" 2>/dev/null && [ -f "$D/stack.env" ] && return 0
    kill -0 "$TERM_PID" 2>/dev/null || break
    sleep 0.2
  done
  WHY="not ready within $READY_S s or exited; the terminal showed: $(tail -n 3 "$OUT" | tr '\n' ' ')"
  return 1
}

# wait_exit: the terminal's command ended within STOP_S; sets RC
wait_exit() {
  local i
  for ((i = 0; i < STOP_S * 5; i++)); do
    kill -0 "$TERM_PID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$TERM_PID" 2>/dev/null; then
    WHY="still running $STOP_S s after the stop"
    return 1
  fi
  RC=0
  wait "$TERM_PID" || RC=$?
  exec 7>&-
  return 0
}

# leftovers: the processes whose command line or environment names the
# data folder (nats-server, PostgreSQL, the daemons by QW_DB_URL, ...)
# (the folder is read from a file, so that grep's own command line does not
# name it)
leftovers() {
  grep -lsFf "$TMP/pattern" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | sort -u \
    | grep -vx -e "$$" -e "$BASHPID" || true
}

# clean: nothing of the stack is left after a stop
clean() {
  local left f
  for f in "$D"/run/stopping* "$D"/run/*.pid "$D/stack.env" "$D/pg/data/postmaster.pid"; do
    if [ -e "$f" ]; then
      WHY="left behind: $f"
      return 1
    fi
  done
  left=$(leftovers)
  if [ -n "$left" ]; then
    WHY="processes left: $(for p in $left; do printf '%s (%s); ' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)"; done)"
    return 1
  fi
}

# stop_clean: Ctrl-C, exit status 0 and nothing left
stop_clean() {
  ctrl_c
  wait_exit || return 1
  if [ "$RC" != 0 ]; then
    WHY="exit status $RC after Ctrl-C; the terminal showed: $(tail -n 2 "$OUT" | tr '\n' ' ')"
    return 1
  fi
  clean
}

# play: two students answer one question through the public API, accepted.
# Three tries: right after the start, on a loaded machine, the first admin
# login (a slow password hash under ASan) can outlast the gateway's request
# timeout and answer 503.
play() {
  local res try
  for try in 1 2 3; do
    res=$(
      set -a
      # shellcheck disable=SC1091
      . "$D/stack.env"
      timeout 60 "$BUILD/stress/qw-loadgen" --gateways "$QW_GATEWAYS" --students 2 --questions 1 --quiet 2>&1
    ) && break
    [ "$try" = 3 ] || sleep 2
  done
  if ! echo "$res" | grep -qE '"accepted": *2[,}]'; then
    WHY="playing a question failed 3 times: $(echo "$res" | tail -n 1 | cut -c1-400)"
    return 1
  fi
}

result() {
  if [ "$2" = 0 ]; then
    passed=$((passed + 1))
    echo "ok - $1 ($((SECONDS - CASE_T0)) s)"
  else
    failed=$((failed + 1))
    echo "not ok - $1 ($((SECONDS - CASE_T0)) s): $WHY"
    cleanup
  fi
}

# start_play_stop: a start on the same folder plays a question and stops clean
start_play_stop() {
  term_start
  wait_ready && play && stop_clean
}

case_cycles() {
  local n
  for ((n = 1; n <= CYCLES; n++)); do
    term_start
    wait_ready || { WHY="cycle $n: $WHY"; return 1; }
    if [ "$n" = 1 ] || [ "$n" = "$CYCLES" ]; then play || { WHY="cycle $n: $WHY"; return 1; }; fi
    stop_clean || { WHY="cycle $n: $WHY"; return 1; }
  done
}

case_ctrl_c_twice() {
  local pid i
  term_start
  wait_ready || return 1
  pid=$(stack_pid)
  ctrl_c
  for ((i = 0; i < 50; i++)); do
    tail -n 1 "$D/logs/supervisor.log" | grep -q 'event=stopping' && break
    sleep 0.1
  done
  # impatient: Ctrl-C again, then a SIGTERM, while the stop runs
  ctrl_c
  kill -TERM "$pid" 2>/dev/null
  ctrl_c
  wait_exit && clean || return 1
  start_play_stop
}

case_terminal_closed() {
  local pid i
  term_start
  wait_ready || return 1
  pid=$(stack_pid)
  # the terminal goes away: the tty hangs up, SIGHUP to its processes
  kill -KILL "$TERM_PID"
  wait "$TERM_PID" 2>/dev/null
  exec 7>&-
  for ((i = 0; i < STOP_S * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    WHY="stack.sh still running $STOP_S s after its terminal closed"
    return 1
  fi
  clean || return 1
  start_play_stop
}

case_kill_9() {
  local pid left p
  term_start
  wait_ready || return 1
  pid=$(stack_pid)
  kill -KILL -- "-$pid"
  wait_exit || return 1
  left=$(leftovers)
  term_start
  wait_ready || { WHY="the start after the kill -9: $WHY"; return 1; }
  for p in $left; do
    if [ -e "/proc/$p" ] && grep -qsF "$D" "/proc/$p/cmdline" "/proc/$p/environ"; then
      WHY="pid $p of the killed run still runs beside the new one"
      return 1
    fi
  done
  play && stop_clean
}

case_port_taken() {
  local port line
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$port" &
  HOLDER=$!
  for _ in $(seq 1 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
  term_start QW_STACK_NATS_PORT="$port"
  wait_exit || return 1
  kill "$HOLDER" 2>/dev/null
  wait "$HOLDER" 2>/dev/null
  HOLDER=""
  if [ "$RC" = 0 ]; then
    WHY="exit status 0 with port $port taken"
    return 1
  fi
  line=$(grep 'stack.sh:' "$OUT" | tail -n 1)
  if ! [[ "$line" == *"port $port"* && "$line" == *"pid "* && "$line" == *python3* ]]; then
    WHY="no line naming port $port, the holder's pid and command: $(tail -n 2 "$OUT" | tr '\n' ' ')"
    return 1
  fi
  clean
}

case_daemon_exits() {
  local line
  # a setting the gateway refuses: it exits at once, at every restart
  term_start QW_HTTP_THREADS=0
  wait_exit || return 1
  if [ "$RC" = 0 ]; then
    WHY="exit status 0 with a gateway that cannot start"
    return 1
  fi
  line=$(grep 'stack.sh:' "$OUT" | tail -n 1)
  if ! [[ "$line" == *"gateway"*"exited at once"*"config_invalid"* ]]; then
    WHY="no line naming the gateway and its last log line: $(tail -n 2 "$OUT" | tr '\n' ' ')"
    return 1
  fi
  clean
}

# after a failed case and at the end: whatever this test's own stack left
cleanup() {
  local left
  [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
  [ -n "$TERM_PID" ] && kill -KILL "$TERM_PID" 2>/dev/null
  left=$(leftovers)
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$left" ] && kill -KILL $left 2>/dev/null
  sleep 0.5
  HOLDER=""
  TERM_PID=""
}
trap cleanup EXIT

WHY=""
# run_case FUNCTION TITLE: runs one case unless QW_STACK_ONLY (a glob over
# the function names, e.g. 'case_port*') leaves it out
run_case() {
  # shellcheck disable=SC2053 # the glob is meant to match
  [[ $1 == ${QW_STACK_ONLY:-*} ]] || return 0
  CASE_T0=$SECONDS
  WHY=""
  "$1"
  result "$2" $?
}
run_case case_cycles "start, Ctrl-C and start again, $CYCLES times"
run_case case_ctrl_c_twice "Ctrl-C twice and a SIGTERM while stopping"
run_case case_terminal_closed "the terminal closed (SIGHUP)"
run_case case_kill_9 "kill -9 of the process group, then a start on the same folder"
run_case case_port_taken "a port held by another program is named"
run_case case_daemon_exits "a daemon exiting at once is named with its last log line"

echo "stack: $passed passed, $failed failed"
if [ "$failed" = 0 ]; then
  rm -rf "$TMP"
else
  note "terminal output and logs kept in $TMP"
  exit 1
fi
