#!/usr/bin/env bash
# stress/bench.sh BUILD_DIR (what `make bench` runs): starts its own stack
# with scripts/stack.sh (random ports, its own data folder), measures the
# baselines on the same machine and the same PostgreSQL (pgbench with one
# one-row INSERT per transaction; a NATS request/reply round trip with
# qw-natsrtt), then runs qw-loadgen at N = 50, 500, 2000 (and 5000 and
# 10000, the lecture hall over both gateways, unless QW_BENCH_QUICK=1),
# one saturating run (--mode flood) at the largest N for
# durable acks/s against pgbench at the scoring daemon's concurrency (and at
# QW_BENCH_PG_CONTEXT clients for context), the district row (K sessions of
# S students at once, QW_BENCH_DISTRICT=KxS, 300x30 unless QW_BENCH_QUICK=1;
# 0 skips it), plus 10,000 idle sockets on one gateway, prints a table
# and keeps every JSON line in runs/bench-<time>.jsonl. Stops the stack
# even when a run fails.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: stress/bench.sh BUILD_DIR}" && pwd)
LOADGEN=$BUILD/stress/qw-loadgen
NATSRTT=$BUILD/stress/qw-natsrtt
if [ ! -x "$LOADGEN" ] || [ ! -x "$NATSRTT" ]; then
  echo "bench.sh: build $BUILD first (make build)" >&2
  exit 2
fi
SIZES=${QW_BENCH_SIZES:-50 500 2000 5000 10000}
[ "${QW_BENCH_QUICK:-0}" = 1 ] && SIZES="50 500 2000"
DISTRICT=${QW_BENCH_DISTRICT:-300x30}
[ "${QW_BENCH_QUICK:-0}" = 1 ] && DISTRICT=${QW_BENCH_DISTRICT:-0}
case "$DISTRICT" in
  0 | [1-9]*x[1-9]*) ;;
  *) echo "bench.sh: QW_BENCH_DISTRICT must be KxS (sessions x students) or 0, not '$DISTRICT'" >&2; exit 2 ;;
esac
DISTRICT_Q=${QW_BENCH_DISTRICT_QUESTIONS:-2}
DISTRICT_SPREAD=${QW_BENCH_DISTRICT_SPREAD:-60}
IDLE=${QW_BENCH_IDLE:-10000}
QUESTIONS=${QW_BENCH_QUESTIONS:-3}
PG_CLIENTS=${QW_BENCH_PG_CLIENTS:-1}   # the scoring daemon's Postgres connections (one batcher)
mkdir -p "$ROOT/runs"
OUT=$ROOT/runs/bench-$(date -u +%Y%m%dT%H%M%SZ).jsonl
# shellcheck source=scripts/teststack.sh
. "$ROOT/scripts/teststack.sh"
teststack_prepare qwbench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

trap teststack_stop EXIT
trap 'exit 130' INT TERM
teststack_start "$TMP/stack" "$BUILD" || exit 1
echo "bench.sh: stack up at $QW_GATEWAYS (data $TMP/stack), results to $OUT" >&2

# ---- baselines --------------------------------------------------------------
PSQL=("$QW_PG_BIN/psql" -h "$QW_PG_SOCKET" -p "$QW_PG_PORT" -U quizwire -qAt)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE qwbench" >/dev/null
"${PSQL[@]}" -d qwbench -c "CREATE TABLE bench_answers (sid text, student_id text, question_idx int, choice text, points int, PRIMARY KEY (sid, student_id, question_idx))" >/dev/null
cat >"$TMP/insert.sql" <<'SQL'
\set s random(1, 1000000000)
INSERT INTO bench_answers VALUES ('bench', :s, 0, 'A', 750) ON CONFLICT DO NOTHING;
SQL
"$QW_PG_BIN/pgbench" -h "$QW_PG_SOCKET" -p "$QW_PG_PORT" -U quizwire -n -c "$PG_CLIENTS" -j "$PG_CLIENTS" -T 10 \
  -f "$TMP/insert.sql" qwbench >"$TMP/pgbench.out" 2>&1
TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$TMP/pgbench.out" | head -n 1)
COMMIT_MS=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$TMP/pgbench.out" | head -n 1)
[ -n "$TPS" ] || { echo "bench.sh: pgbench failed:" >&2; cat "$TMP/pgbench.out" >&2; exit 1; }
NATS=$(QW_NATS_USER=qw_bench QW_NATS_PASSWORD_FILE="$QW_NATS_SECRET_DIR/nats-bench.password" \
  "$NATSRTT" "$QW_NATS_URL" 2000) || { echo "bench.sh: qw-natsrtt failed" >&2; exit 1; }
NATS_P50=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p50_ms"])' "$NATS")
printf '{"tool":"pgbench","clients":%s,"tps":%s,"latency_ms":%s}\n' "$PG_CLIENTS" "$TPS" "$COMMIT_MS" >>"$OUT"
for c in ${QW_BENCH_PG_CONTEXT:-4 16 64}; do
  j=$c; [ "$j" -gt 2 ] && j=2
  t=$("$QW_PG_BIN/pgbench" -h "$QW_PG_SOCKET" -p "$QW_PG_PORT" -U quizwire -n -c "$c" -j "$j" -T 5 \
    -f "$TMP/insert.sql" qwbench 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
  echo "bench.sh: pgbench one-row INSERT at $c clients: ${t:-failed} tps (context)" >&2
  [ -n "$t" ] && printf '{"tool":"pgbench","clients":%s,"tps":%s,"context":true}\n' "$c" "$t" >>"$OUT"
done
echo "$NATS" >>"$OUT"
echo "bench.sh: pgbench one-row INSERT: $TPS tps at $PG_CLIENTS client(s), $COMMIT_MS ms/commit; NATS rtt p50 $NATS_P50 ms" >&2

# ---- load runs ---------------------------------------------------------------
status=0
for n in $SIZES; do
  echo "bench.sh: $n students x $QUESTIONS questions, burst" >&2
  timeout 300 "$LOADGEN" --gateways "$QW_GATEWAYS" --students "$n" --questions "$QUESTIONS" --mode burst \
    --pids "$QW_RUN_DIR" --label "bench-$n" >>"$OUT" || status=1
done
# the flood at 5,000 when that size ran (10,000 at once is the hall row's
# burst, not a capacity figure), else at the largest size
FLOOD_N=${SIZES##* }
case " $SIZES " in *" 5000 "*) FLOOD_N=5000 ;; esac
echo "bench.sh: $FLOOD_N students x $QUESTIONS questions, flood (saturating)" >&2
timeout 300 "$LOADGEN" --gateways "$QW_GATEWAYS" --students "$FLOOD_N" --questions "$QUESTIONS" --mode flood \
  --pids "$QW_RUN_DIR" --label "flood-$FLOOD_N" >>"$OUT" || status=1
if [ "$DISTRICT" != 0 ]; then
  # K sessions of S students, each driven by its own instructor socket, first
  # questions over DISTRICT_SPREAD s, every question closed by its 10 s timer
  DK=${DISTRICT%%x*} DS=${DISTRICT##*x}
  echo "bench.sh: district $DK sessions x $DS students x $DISTRICT_Q questions over ${DISTRICT_SPREAD} s" >&2
  timeout 300 "$LOADGEN" --gateways "$QW_GATEWAYS" --sessions "$DK" --students "$((DK * DS))" \
    --questions "$DISTRICT_Q" --time-limit 10 --spread "$DISTRICT_SPREAD" \
    --pids "$QW_RUN_DIR" --label "district-$DISTRICT" >>"$OUT" || status=1
fi
GW1=${QW_GATEWAYS%%,*}
# A gateway that served the runs above keeps their freed heap and would
# grow less: restart gateway1 (SIGTERM; the supervisor starts a fresh one)
# so the idle figure is what sockets cost a fresh process.
OLD=$(cat "$QW_RUN_DIR/gateway1.pid")
kill -TERM "$OLD"
for _ in $(seq 1 150); do
  NEW=$(cat "$QW_RUN_DIR/gateway1.pid" 2>/dev/null || true)
  if [ -n "$NEW" ] && [ "$NEW" != "$OLD" ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GW1/healthz")" = 200 ]; then
    break
  fi
  sleep 0.2
done
echo "bench.sh: $IDLE idle sockets on $GW1 (fresh gateway1, pid $NEW)" >&2
timeout 300 "$LOADGEN" --gateways "$GW1" --students "$IDLE" --idle 3 --pids "$QW_RUN_DIR" --label "idle-$IDLE" \
  >>"$OUT" || status=1

# ---- the table -----------------------------------------------------------------
python3 - "$OUT" "$TPS" "$COMMIT_MS" "$NATS_P50" <<'PY'
import json, sys
out, tps, commit, nats = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
floor = nats + commit
print(f"\nbaselines: pgbench {tps:.0f} tps (one-row INSERT, {commit:.2f} ms/commit); NATS rtt p50 {nats:.3f} ms; "
      f"floor for one ack = {floor:.2f} ms")
print("(f = --mode flood: every student submits at once; its acks/s is the capacity)")
print(f"{'N':>6} {'ok':3} {'joins/s':>8} {'conn s':>7} {'fan p50':>8} {'fan p99':>8} {'ack p50':>8} {'ack p99':>8} "
      f"{'ack max':>8} {'acks/s':>8} {'/pgbench':>8} {'p50/floor':>9} {'mism':>5} {'PSS MB':>7} {'lg cpu s':>8}")
for line in open(out):
    r = json.loads(line)
    if r.get("tool") == "pgbench" and r.get("context"):
        print(f"pgbench one-row INSERT at {r['clients']} clients: {r['tps']:.0f} tps (context)")
    if r.get("tool") != "qw-loadgen":
        continue
    if r["mode"] == "district":
        continue
    if r["mode"] == "idle":
        for gw, v in (r.get("idle") or {}).items():
            print(f"idle {r['students']} sockets on {gw}: rss +{v['rss_delta_kb']} kB = {v['kb_per_socket']:.2f} kB/socket "
                  f"(connect {r['connect_s']:.2f} s, {'ok' if r['ok'] else r.get('error')})")
        continue
    a, f = r.get("ack_ms", {}), r.get("open_fanout_ms", {})
    print(f"{r['students']:>6}{'f' if r['mode'] == 'flood' else ' '}{'yes' if r['ok'] else 'NO':3} {r['joins_per_s']:>8.0f} {r['connect_s']:>7.2f} "
          f"{f.get('p50', 0):>8.1f} {f.get('p99', 0):>8.1f} {a.get('p50', 0):>8.1f} {a.get('p99', 0):>8.1f} "
          f"{a.get('max', 0):>8.1f} {r.get('acks_per_s', 0):>8.0f} {r.get('acks_per_s', 0) / tps:>8.2f} "
          f"{a.get('p50', 0) / floor:>9.2f} {r.get('mismatches', 0):>5} {r.get('pss_total_kb', 0) / 1024:>7.0f} "
          f"{r.get('loadgen_cpu_s', 0):>8.2f}")
    if not r["ok"]:
        print(f"       error: {r.get('error')}")
for line in open(out):
    r = json.loads(line)
    if r.get("tool") != "qw-loadgen" or r.get("mode") != "district":
        continue
    c, f, a, sd = r.get("close_late_ms", {}), r.get("open_fanout_ms", {}), r.get("ack_ms", {}), r.get("session_daemon") or {}
    print(f"\ndistrict {r['sessions']}x{r['students'] // max(r['sessions'], 1)} ({r['questions']} questions of "
          f"{r['time_limit_s']} s each, first opens over {r['spread_s']} s): {'ok' if r['ok'] else 'FAILED'}")
    print(f"{'close-deadline p50/p99/max':>27} {'fan p50/p99':>13} {'ack p50/p99':>13} {'mism':>5} "
          f"{'session cpu s':>13} {'B/session rss/pss':>18} {'PSS MB':>7} {'lg cpu s':>8}")
    print(f"{c.get('p50', 0):>9.1f} {c.get('p99', 0):>8.1f} {c.get('max', 0):>8.1f} "
          f"{f.get('p50', 0):>6.1f} {f.get('p99', 0):>6.1f} {a.get('p50', 0):>6.1f} {a.get('p99', 0):>6.1f} "
          f"{r.get('mismatches', 0):>5} {sd.get('cpu_s_schedule', 0):>13.2f} "
          f"{sd.get('rss_bytes_per_session', 0):>9.0f} {sd.get('pss_bytes_per_session', 0):>8.0f} "
          f"{r.get('pss_total_kb', 0) / 1024:>7.0f} {r.get('loadgen_cpu_s', 0):>8.2f}")
    if not r["ok"]:
        print(f"       error: {r.get('error')}")
PY
# ---- the gateways' own share of each question_open (their fanout_written logs) ----
python3 - "$QW_LOG_DIR" <<'PY'
import glob, re, statistics, sys
rows = {}
for f in sorted(glob.glob(sys.argv[1] + "/gateway*.log")):
    for line in open(f, errors="replace"):
        m = re.search(r"fanout_written .*opens=[1-9]\d* sockets=(\d+) handoff_us=(-?\d+) render_us=(\d+) write_us=(\d+)", line)
        if m:
            rows.setdefault(int(m[1]), []).append([int(x) / 1000 for x in m.groups()[1:]])
if rows:
    print("\ngateway share of a question_open, by sockets per gateway (rows of one size merged, e.g. 5,000 burst and flood): median handoff / render / write ms")
for n, v in sorted(rows.items()):
    h, r, w = (statistics.median(x[i] for x in v) for i in range(3))
    print(f"{n:>6} sockets x {len(v):>2}: {h:.2f} / {r:.2f} / {w:.1f} ms (write {w * 1000 / n:.1f} us per socket)")
PY
exit $status
