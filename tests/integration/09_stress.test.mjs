// The stress tools against the real stack: stress/live drives a whole
// session of 50 students through the public API and its own checks pass; a
// stalled scoring daemon makes it fail within its bounds, naming the stalled
// step, instead of hanging; bad admin credentials stop it at the login.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { env, http, waitFor, pidOf } from '../lib/stack.mjs';

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
