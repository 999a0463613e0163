// The stress tools against the real stack: stress/live drives a whole
// session of 50 students through the public API and its own checks pass; a
// stalled scoring daemon makes it fail within its bounds, naming the stalled
// step, instead of hanging; bad admin credentials stop it at the login.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, waitFor, pidOf, adminLogin } from '../lib/stack.mjs';

const LIVE = path.join(env.root, 'stress/live');

// Runs stress/live; resolves {code, json, stderr, ms}. Killed after `limit` ms.
function live(args, { limit = 90000, password = env.adminPassword } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(LIVE, ['--gateways', env.gateways.join(','), ...args], {
      env: { ...process.env, QW_BUILD_DIR: env.buildDir, QW_ADMIN_PASSWORD: password, QW_ADMIN_USER: 'admin' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop();
      let json = null;
      try { json = JSON.parse(last); } catch { /* no JSON line */ }
      resolve({ code, signal, json, stderr: err, ms: Date.now() - t0 });
    });
  });
}

test('stress/live with 50 students x 3 questions passes its own checks against the stack', async () => {
  const r = await live(['--students', '50', '--questions', '3', '--mode', 'burst']);
  assert.equal(r.signal, null, `killed after ${r.ms} ms:\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.ok, true, r.stderr);
  assert.equal(r.json.students, 50);
  assert.equal(r.json.questions, 3);
  assert.equal(r.json.acks.accepted, 150, JSON.stringify(r.json.acks));
  assert.equal(r.json.recorded, 150);
  assert.equal(r.json.mismatches, 0);
  assert.equal(r.json.accuracy, 1);
  assert.ok(r.json.ack_ms.p50 > 0 && r.json.ack_ms.max >= r.json.ack_ms.p99, JSON.stringify(r.json.ack_ms));
  assert.ok(r.json.open_fanout_ms.p99 >= r.json.open_fanout_ms.p50);
  assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/);
});

test('stress/live fails within its bounds naming the stalled submit when scoring is stopped', async () => {
  const pid = pidOf('scoring');
  assert.ok(pid, 'scoring.pid must exist');
  process.kill(pid, 'SIGSTOP');
  let r;
  try {
    r = await live(['--students', '10', '--questions', '1', '--mode', 'burst'], { limit: 60000 });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  for (const gw of env.gateways) {
    await waitFor(`${gw} /healthz 200 after SIGCONT`,
      async () => (await http(gw, 'GET', '/healthz', { timeout: 3000 })).status === 200, { timeout: 20000 });
  }
  assert.equal(r.signal, null, `stress/live hung until killed (${r.ms} ms):\n${r.stderr}`);
  assert.notEqual(r.code, 0, 'a stalled scoring daemon must fail the run');
  assert.ok(r.ms < 45000, `failed only after ${r.ms} ms`);
  assert.equal(r.json.ok, false);
  assert.match(r.json.error, /student lg[0-9a-f]+-\d+ .*submit_ack for question 0/, r.json.error);
  assert.match(r.stderr, /stalled while waiting for every submit_ack of question 0/);
});

test('stress/live with a wrong admin password stops at the login and says so', async () => {
  const r = await live(['--students', '5', '--questions', '1'], { password: 'not-the-password', limit: 30000 });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.json.ok, false);
  assert.match(r.json.error, /admin login at http:\/\/127\.0\.0\.1:\d+ answered 401/);
});

test('stress/live --sessions 3 drives three sessions at once, each closed by its own timer, and checks each record', async () => {
  const r = await live(['--sessions', '3', '--students', '12', '--questions', '2', '--time-limit', '5', '--spread', '2',
    '--pids', env.runDir]);
  assert.equal(r.signal, null, `killed after ${r.ms} ms:\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.ok, true, r.stderr);
  assert.equal(r.json.mode, 'district');
  assert.equal(r.json.sessions, 3);
  assert.equal(r.json.acks.accepted, 24, JSON.stringify(r.json.acks));
  assert.equal(r.json.recorded, 24);
  assert.equal(r.json.mismatches, 0);
  // every question of every session closed, by its timer: at or after its deadline
  assert.equal(r.json.close_late_ms.n, 6, JSON.stringify(r.json.close_late_ms));
  assert.ok(r.json.close_late_ms.min >= 0, JSON.stringify(r.json.close_late_ms));
  assert.equal(r.json.open_fanout_ms.n, 24);
  assert.equal(r.json.close_late_student_ms.n, 24);
  assert.ok(r.json.session_daemon.cpu_s_run > 0, JSON.stringify(r.json.session_daemon));
  assert.ok(r.json.session_daemon.rss_kb.before > 0 && r.json.session_daemon.pss_kb.end > 0, JSON.stringify(r.json.session_daemon));
  assert.ok(r.json.loadgen_cpu_s > 0);
  assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/);
});

test('stress/live --sessions fails within its bounds naming the late close when the session daemon stops', async () => {
  const pid = pidOf('session');
  assert.ok(pid, 'session.pid must exist');
  const log = path.join(env.logDir, 'session.log');
  const opened = () => [...fs.readFileSync(log, 'utf8').matchAll(/event=question_opened sid=(\S+)/g)].map((m) => m[1]);
  const before = opened().length;
  const cookie = await adminLogin();
  const run = live(['--sessions', '2', '--students', '4', '--questions', '1', '--time-limit', '5', '--spread', '1'], { limit: 60000 });
  let r;
  try {
    const sids = await waitFor('both questions of the run open', async () => {
      const s = opened().slice(before);
      return s.length >= 2 && s;
    }, { timeout: 30000 });
    // question_opened is logged before the daemon answers the instructor's
    // `next`: a stop right then would fail the run with the instructor's
    // "unavailable", not the late close. An `open` (a no-op on an open
    // question) of each session goes to the same lifecycle thread, which
    // answers commands one at a time on one NATS connection: once it is
    // answered, the `next`'s answer has left the daemon before it.
    for (const sid of sids) {
      const o = await http(env.gateways[0], 'POST', `/admin/api/sessions/${sid}/open`, { cookie, body: {}, timeout: 15000 });
      assert.equal(o.status, 200, o.text);
      assert.equal(o.json.state, 'question', o.text);
    }
    process.kill(pid, 'SIGSTOP');
    r = await run;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await waitFor('session /healthz 200 after SIGCONT',
    async () => (await http(env.ops.session, 'GET', '/healthz', { timeout: 3000 })).status === 200, { timeout: 20000 });
  assert.equal(r.signal, null, `qw-loadgen hung until killed (${r.ms} ms):\n${r.stderr}`);
  assert.notEqual(r.code, 0, 'a stopped session daemon must fail the run');
  assert.equal(r.json.ok, false);
  assert.match(r.json.error, /no question_closed for question 0 within 10000 ms of its deadline/, r.json.error);
  assert.ok(r.ms < 50000, `failed only after ${r.ms} ms`);
});

test('stress/live refuses --sessions with more sessions than students, or with --mode', async () => {
  for (const args of [['--sessions', '5', '--students', '4'], ['--sessions', '2', '--students', '4', '--mode', 'burst'], ['--sessions', '0x']]) {
    const r = await live(args, { limit: 20000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: qw-loadgen/);
    assert.equal(r.json, null);
  }
});
