// faults.mjs: the crash-safety proof (run by tests/faults/run.sh against its
// own stack). 200 simulated students, spread over both gateways, answer a
// stream of questions while, one question each, we kill -9 the scoring
// daemon, the session daemon driving the session's shard, one gateway, nats-server,
// and restart PostgreSQL. After each fault it checks against the results
// API that every `accepted` ack is in the record exactly once with the acked
// choice, that no ack contradicts the record, that a resubmit gets
// `duplicate`, that the question closed within 1 s of its original deadline
// and that both /healthz answer 200 again within 15 s. Prints a table and
// `faults: N passed, M failed`; exits non-zero on any failed check.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { adminLogin, env, http, makePool, pidOf, wsUrl } from '../lib/stack.mjs';
import { join, newSession } from '../lib/ws.mjs';
import { sql } from '../lib/fixtures.mjs';

const STUDENTS = Number(process.env.QW_FAULT_STUDENTS || 200);
const TIME_LIMIT_S = 12;          // each question's timer
const ANSWER_WINDOW_MS = 8000;    // students answer at random within this
const FAULT_AFTER_ACKS = 40;      // the fault comes once this many were accepted
const HEALTH_BOUND_MS = 15000;    // both /healthz 200 again within this
const CLOSE_BOUND_MS = 1000;      // question_closed within this of the deadline
const ALL_CLOSED_GRACE_MS = 5000; // every student learns the close within this

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[faults +${((Date.now() - T_START) / 1000).toFixed(1)}s]`, ...a);
const T_START = Date.now();

// Awaits `fn()` truthy, polling every `interval` ms, for at most `timeout` ms.
async function until(what, fn, timeout, interval = 100) {
  const end = Date.now() + timeout;
  for (;;) {
    let v;
    try { v = await fn(); } catch { v = null; }
    if (v) return v;
    if (Date.now() >= end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

// ---- a simulated student, reconnecting like the real page ----------------

class Student {
  constructor(id, cookie, home) {
    this.id = id;
    this.cookie = cookie;
    this.gw = home;            // index of the gateway it is on (or trying)
    this.ws = null;
    this.ready = false;        // snapshot received on the current socket
    this.backoff = 100;
    this.planned = new Set();  // question indexes it has decided to answer
    this.sent = new Map();     // idx -> choice it submitted
    this.acks = [];            // {idx, sent, status, choice, at, probe}
    this.pending = null;       // {idx, choice, sentAt, probe} awaiting its ack
    this.resend = null;        // a submit to send again once ready
    this.closed = new Map();   // idx -> my_choice seen in question_closed / snapshot
    this.noAck = 0;
    this.resent = new Map();   // idx -> submits sent again (unavailable, socket lost)
    this.reconnects = 0;
    this.stopped = false;
  }

  connect() {
    const base = env.gateways[this.gw];
    const ws = new WebSocket(wsUrl(base, '/ws'), { headers: { cookie: this.cookie }, origin: base });
    this.ws = ws;
    this.ready = false;
    ws.on('message', (d) => { if (this.ws === ws) this.onMessage(JSON.parse(d.toString())); });
    ws.on('error', () => {}); // 'close' follows
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.pending) { this.resend = this.pending; this.pending = null; this.countResend(this.resend.idx); }
      if (this.stopped) return;
      // back off (jittered, doubling to 2 s); every other try the other gateway
      const delay = this.backoff * (0.5 + Math.random());
      this.backoff = Math.min(this.backoff * 2, 2000);
      this.gw = (this.gw + 1) % env.gateways.length;
      this.reconnects++;
      setTimeout(() => { if (!this.stopped) this.connect(); }, delay);
    });
  }

  onMessage(m) {
    switch (m.type) {
      case 'snapshot':
        this.ready = true;
        this.backoff = 100;
        if (m.state === 'question') this.plan(m.question_idx, m.remaining_ms);
        if ((m.state === 'closed' || m.state === 'ended') && m.question_idx >= 0 && !this.closed.has(m.question_idx))
          this.closed.set(m.question_idx, m.my_choice ?? null);
        if (this.resend) { const r = this.resend; this.resend = null; this.submit(r.idx, r.choice, r.probe); }
        break;
      case 'question_open':
        this.plan(m.question_idx, m.remaining_ms);
        break;
      case 'submit_ack': {
        const p = this.pending;
        if (!p) break;
        this.pending = null;
        this.acks.push({ idx: p.idx, sent: p.choice, status: m.status, choice: m.choice, ackIdx: m.question_idx, at: Date.now(), sentAt: p.sentAt, probe: p.probe });
        break;
      }
      case 'error':
        // `unavailable`: nothing was recorded, send it again shortly
        if (m.code === 'unavailable' && this.pending) {
          const p = this.pending;
          this.pending = null;
          this.countResend(p.idx);
          setTimeout(() => this.submit(p.idx, p.choice, p.probe), 200);
        }
        break;
      case 'question_closed':
        this.closed.set(m.question_idx, m.my_choice ?? null);
        break;
      default:
        break;
    }
  }

  // Decides once per question to answer at a random time with a random pick.
  plan(idx, remainingMs) {
    if (this.planned.has(idx)) return;
    this.planned.add(idx);
    const window = Math.max(0, Math.min(ANSWER_WINDOW_MS, (remainingMs ?? 0) - 3000));
    if (window <= 0) return;
    const choice = 'ABCD'[Math.floor(Math.random() * 4)];
    setTimeout(() => this.submit(idx, choice, false), 100 + Math.random() * window);
  }

  submit(idx, choice, probe) {
    if (this.stopped) return;
    if (this.pending) { // one in flight at a time: this one goes after it
      setTimeout(() => this.submit(idx, choice, probe), 100);
      return;
    }
    if (!probe) this.sent.set(idx, choice);
    if (!this.ready || !this.ws) { this.resend = { idx, choice, probe }; return; }
    const p = { idx, choice, sentAt: Date.now(), probe };
    this.pending = p;
    this.ws.send(JSON.stringify({ type: 'submit', question_idx: idx, choice }));
    // the gateway answers within its request timeout; no answer at all is
    // counted and the submit sent again (as the page does)
    setTimeout(() => {
      if (this.pending === p) { this.noAck++; this.pending = null; this.submit(idx, choice, probe); }
    }, 8000);
  }

  countResend(idx) { this.resent.set(idx, (this.resent.get(idx) || 0) + 1); }
  accepted(idx) { return this.acks.find((a) => a.idx === idx && a.status === 'accepted' && !a.probe); }
  stop() { this.stopped = true; if (this.ws) this.ws.terminate(); }
}

// ---- the instructor socket (on gateway 1, which is never killed) ---------

class Instructor {
  constructor(admin, sid) {
    this.admin = admin;
    this.sid = sid;
    this.messages = [];
    this.waiters = [];
  }
  connect() {
    const base = env.gateways[0];
    this.ws = new WebSocket(wsUrl(base, `/admin/ws?sid=${encodeURIComponent(this.sid)}`), { headers: { cookie: this.admin }, origin: base });
    this.ws.on('message', (d) => { const m = JSON.parse(d.toString()); m._at = Date.now(); this.messages.push(m); this.waiters.forEach((w) => w()); });
    this.ws.on('error', () => {});
    this.ws.on('close', () => { if (!this.stopped) setTimeout(() => this.connect(), 200); });
  }
  next(type, pred, timeout) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.messages.find((x) => x.type === type && pred(x));
        if (!m) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(m);
      };
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== check); reject(new Error(`instructor: no ${type} within ${timeout} ms`)); }, timeout);
      this.waiters.push(check);
      check();
    });
  }
  send(o) { this.ws.send(JSON.stringify(o)); }
  stop() { this.stopped = true; this.ws.terminate(); }
}

// ---- the faults -------------------------------------------------------------

function killPid(name) {
  const pid = pidOf(name);
  if (!pid) throw new Error(`no pid file for ${name}`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

// The session daemon driving the shard of session `sid` (its row in
// session_shards): session-1 is the stack's `session`, session-2 `session2`.
function leaseHolder(sid) {
  const rows = sql(`SELECT instance FROM session_shards WHERE shard = quiz_shard('${sid.replace(/'/g, "''")}')`);
  const name = { 'session-1': 'session', 'session-2': 'session2' }[rows.length ? rows[0][0] : ''];
  if (!name) throw new Error(`cannot tell the daemon driving ${sid} (row: ${rows.length ? rows[0][0] : 'none'})`);
  return name;
}

function asPg(args) {
  const bin = `${process.env.QW_PG_BIN}/pg_ctl`;
  const full = [bin, ...args];
  if (process.getuid() === 0) execFileSync('runuser', ['-u', process.env.QW_PG_OS_USER, '--', ...full], { stdio: 'ignore' });
  else execFileSync(full[0], full.slice(1), { stdio: 'ignore' });
}

const FAULTS = [
  { name: 'kill -9 scoring', daemon: 'scoring', run: () => `pid ${killPid('scoring')}` },
  { name: 'kill -9 session (shard owner)', run: (sid) => { const h = leaseHolder(sid); return `${h} pid ${killPid(h)}`; }, daemonFn: () => null },
  { name: 'kill -9 gateway2', daemon: 'gateway2', run: () => `pid ${killPid('gateway2')}` },
  {
    // held down (run/hold.nats) until both gateways say 503, then let go
    name: 'restart nats-server',
    daemon: 'nats',
    run: async () => {
      const hold = path.join(env.runDir, 'hold.nats');
      fs.writeFileSync(hold, '');
      const pid = killPid('nats');
      try { await bothUnhealthy(); } finally { fs.rmSync(hold, { force: true }); }
      return `pid ${pid}, 503 seen`;
    },
  },
  {
    // stopped until both gateways say 503, then started again
    name: 'restart postgresql',
    run: async () => {
      const data = process.env.QW_PG_DATA;
      asPg(['-D', data, '-m', 'fast', '-w', 'stop']);
      try { await bothUnhealthy(); } finally {
        asPg(['-D', data, '-l', path.join(env.logDir, 'postgres.log'), '-w', '-t', '60',
          '-o', `-k ${process.env.QW_PG_SOCKET} -p ${process.env.QW_PG_PORT}`, 'start']);
      }
      return 'fast stop, 503 seen, start';
    },
  },
];

// ---- the run ----------------------------------------------------------------

// Awaits 503 from both gateways' /healthz (a backend is down): 5 s at most.
async function bothUnhealthy() {
  await until('both /healthz to answer 503 while a backend is down', async () => {
    const r = await Promise.all([0, 1].map((i) => http(env.gateways[i], 'GET', '/healthz', { timeout: 2000 }).then((x) => x.status, () => 0)));
    return r.every((st) => st === 503);
  }, 5000, 50);
}

async function healthy(i) {
  const r = await http(env.gateways[i], 'GET', '/healthz', { timeout: 2000 });
  return r.status === 200;
}

// Resolves with the time both gateways' /healthz answer 200 and the lease
// holder answers a command (`open` is a no-op in every state).
async function recovered(admin, sid, t0) {
  const done = { h0: 0, h1: 0, cmd: 0 };
  const end = t0 + HEALTH_BOUND_MS;
  const probe = async (key, fn) => {
    while (!done[key] && Date.now() < end) {
      const at = Date.now();
      let ok = false;
      try { ok = await fn(); } catch { ok = false; }
      if (ok) { done[key] = Date.now(); break; }
      await sleep(Math.max(0, 100 - (Date.now() - at)));
    }
  };
  // A command sent in the very instant of a kill can be routed to the dying
  // holder and is then lost (its sender gets 503 after QW_REQUEST_TIMEOUT_MS
  // and sends again, as the console does). So commands are sent every
  // 100 ms without waiting for the one before: the first answer marks the
  // recovery, not the timeout of a command lost in the kill window.
  // (A lost one finishes on its own within its 4 s timeout; nothing waits
  // for it.)
  const commands = async () => {
    while (!done.cmd && Date.now() < end) {
      (async () => {
        try {
          const r = await http(env.gateways[0], 'POST', `/admin/api/sessions/${sid}/open`, { cookie: admin, body: {}, timeout: 4000 });
          if (r.status === 200 && !done.cmd) done.cmd = Date.now();
        } catch { /* not yet */ }
      })();
      await sleep(100);
    }
  };
  await Promise.all([
    probe('h0', () => healthy(0)),
    probe('h1', () => healthy(1)),
    commands(),
  ]);
  return done;
}

async function results(admin, sid) {
  return until('the results API', async () => {
    const r = await http(env.gateways[0], 'GET', `/admin/api/sessions/${sid}/results`, { cookie: admin, timeout: 5000 });
    return r.status === 200 ? r.json : null;
  }, 15000, 200);
}

async function main() {
  const admin = await adminLogin();
  const pool = makePool(FAULTS.length + 1, { title: 'fault run', timeLimit: TIME_LIMIT_S });
  const { sid } = await newSession(admin, pool);
  log(`session ${sid}, ${STUDENTS} students, ${TIME_LIMIT_S} s per question`);

  const students = [];
  for (let i = 0; i < STUDENTS; i += 20) {
    const batch = [];
    for (let j = i; j < Math.min(STUDENTS, i + 20); j++) {
      const home = j % env.gateways.length;
      batch.push(join(env.gateways[home], sid, `s${String(j).padStart(3, '0')}`).then(({ cookie }) => new Student(`s${String(j).padStart(3, '0')}`, cookie, home)));
    }
    students.push(...await Promise.all(batch));
  }
  students.forEach((s) => s.connect());
  await until('every student socket to get its snapshot', () => students.every((s) => s.ready), 30000);
  const instructor = new Instructor(admin, sid);
  instructor.connect();
  await instructor.next('snapshot', () => true, 10000);
  log('all sockets ready');

  const rows = [];
  const failures = [];
  for (let k = 0; k < FAULTS.length; k++) {
    const fault = FAULTS[k];
    const fail = (what) => { failures.push(`${fault.name}: ${what}`); row.failed.push(what); log(`FAIL ${fault.name}: ${what}`); };
    const row = { fault: fault.name, acks: 0, recorded: 0, mismatches: 0, recoveryMs: NaN, closeLateMs: NaN, resent: 0, failed: [] };
    rows.push(row);

    instructor.send({ type: 'next' });
    const open = await instructor.next('question_open', (m) => m.question_idx === k, 10000);
    const deadline = open.deadline_ms;
    await until(`${FAULT_AFTER_ACKS} accepted acks`, () => students.filter((s) => s.accepted(k)).length >= FAULT_AFTER_ACKS, 8000, 20);

    const pidBefore = fault.daemon ? pidOf(fault.daemon) : null;
    const t0 = Date.now();
    let what;
    try { what = await fault.run(sid); } catch (e) { what = 'failed'; fail(e.message); }
    log(`fault ${k + 1}: ${fault.name} (${what}) at ${t0 - open.opened_at_ms} ms into question ${k}`);

    const rec = await recovered(admin, sid, t0);
    if (!rec.h0 || !rec.h1) fail(`/healthz not 200 on both gateways within ${HEALTH_BOUND_MS} ms`);
    if (!rec.cmd) fail(`no session instance answered a command within ${HEALTH_BOUND_MS} ms`);
    if (fault.daemon && pidOf(fault.daemon) === pidBefore) fail(`${fault.daemon} was not restarted by the supervisor`);

    // a resubmit after the fault: students holding an `accepted` send the
    // same answer again and must get `duplicate` with that choice
    const probes = students.filter((s) => s.accepted(k)).slice(0, 20);
    if (Date.now() > deadline - 2500) fail('recovered too late to probe resubmits before the deadline');
    else probes.forEach((s) => s.submit(k, s.accepted(k).sent, true));
    let moving = 0;
    try {
      await until('a resubmit after the fault to be answered', () => probes.some((s) => s.acks.some((a) => a.probe && a.idx === k)), Math.max(100, deadline - Date.now()), 10);
      moving = Math.min(...probes.flatMap((s) => s.acks.filter((a) => a.probe && a.idx === k).map((a) => a.at)));
    } catch (e) { fail(e.message); }
    row.recoveryMs = Math.max(rec.h0, rec.h1, rec.cmd, moving) - t0;
    row.recoveryParts = `health ${Math.max(rec.h0, rec.h1) - t0} ms, command ${rec.cmd - t0} ms, resubmit ${moving - t0} ms`;

    // the close: at the original deadline, within CLOSE_BOUND_MS
    let closedEv = null;
    try {
      closedEv = await instructor.next('question_closed', (m) => m.question_idx === k, Math.max(1000, deadline - Date.now() + 5000));
      row.closeLateMs = closedEv._at - deadline;
      if (row.closeLateMs < -50 || row.closeLateMs > CLOSE_BOUND_MS) fail(`question_closed arrived ${row.closeLateMs} ms from the deadline`);
    } catch (e) { fail(e.message); }
    try {
      await until('every student to learn the close', () => students.every((s) => s.closed.has(k)), Math.max(500, deadline + ALL_CLOSED_GRACE_MS - Date.now()), 50);
    } catch {
      fail(`${students.filter((s) => !s.closed.has(k)).length} students never saw question ${k} close`);
    }
    await until('every submit of the question to be answered', () => students.every((s) => !s.pending && !s.resend), 10000, 50).catch((e) => fail(e.message));

    // the record against the acks
    const res = await results(admin, sid);
    const record = new Map();
    for (const st of res.students) {
      const mine = st.answers.filter((a) => a.question_idx === k);
      if (mine.length > 1) { row.mismatches++; fail(`${st.student_id} has ${mine.length} answers to question ${k}`); }
      if (mine.length) record.set(st.student_id, mine[0].choice);
    }
    row.recorded = record.size;
    for (const s of students) {
      const acks = s.acks.filter((a) => a.idx === k);
      const acc = acks.filter((a) => a.status === 'accepted');
      row.acks += acc.length;
      row.resent += s.resent.get(k) || 0;
      const bad = (why) => { row.mismatches++; if (row.mismatches <= 5) fail(`${s.id}: ${why}`); };
      if (acc.length > 1) bad(`accepted ${acc.length} times`);
      for (const a of acks) {
        if (a.ackIdx !== k) bad(`ack for question ${a.ackIdx} to a submit for ${k}`);
        if ((a.status === 'accepted' || a.status === 'duplicate') && record.get(s.id) !== a.choice)
          bad(`acked ${a.status} ${a.choice}, record holds ${record.get(s.id) ?? 'nothing'}`);
        if (a.probe && a.status !== 'duplicate') bad(`resubmit after the fault got ${a.status}, not duplicate`);
      }
      if (record.has(s.id) && s.sent.get(k) !== record.get(s.id)) bad(`record holds ${record.get(s.id)}, it sent ${s.sent.get(k) ?? 'nothing'}`);
      if (s.closed.has(k) && (s.closed.get(k) ?? null) !== (record.get(s.id) ?? null))
        bad(`question_closed said my_choice ${s.closed.get(k)}, record holds ${record.get(s.id) ?? 'nothing'}`);
    }
    if (closedEv) {
      const counted = Object.values(closedEv.counts || {}).reduce((a, b) => a + b, 0);
      if (counted !== record.size) { row.mismatches++; fail(`question_closed counted ${counted}, record holds ${record.size}`); }
    }
    log(`question ${k}: acks ${row.acks}, recorded ${row.recorded}, mismatches ${row.mismatches}, recovery ${row.recoveryMs} ms (${row.recoveryParts}), close +${row.closeLateMs} ms`);
  }

  students.forEach((s) => s.stop());
  instructor.stop();

  const pad = (v, n) => String(v).padEnd(n);
  console.log('');
  console.log(`${pad('fault', 32)}${pad('acks', 7)}${pad('recorded', 10)}${pad('mismatches', 12)}${pad('resent', 8)}${pad('recovery_ms', 13)}${pad('close_vs_deadline_ms', 22)}result`);
  for (const r of rows)
    console.log(`${pad(r.fault, 32)}${pad(r.acks, 7)}${pad(r.recorded, 10)}${pad(r.mismatches, 12)}${pad(r.resent, 8)}${pad(r.recoveryMs, 13)}${pad(r.closeLateMs, 22)}${r.failed.length ? 'FAIL' : 'ok'}`);
  const reconnects = students.reduce((a, s) => a + s.reconnects, 0);
  const noAck = students.reduce((a, s) => a + s.noAck, 0);
  console.log(`student reconnects: ${reconnects}; submits with no answer at all: ${noAck}`);
  for (const f of failures) console.log(`failed: ${f}`);
  const failed = rows.filter((r) => r.failed.length).length;
  console.log(`faults: ${rows.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then((rc) => process.exit(rc), (e) => {
  console.log(`faults: error: ${e.stack || e}`);
  console.log('faults: 0 passed, 1 failed');
  process.exit(1);
});
