// The session lease: a second qw-session instance stays a standby while the
// holder lives (exactly one driver), and when the holder is killed -9 some
// instance takes over the timers at their original deadlines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, waitFor, pidOf, alive, natsEnv } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession } from '../lib/fixtures.mjs';

let standby = null;
let bus = null;
after(async () => {
  if (standby && standby.exitCode === null) standby.kill('SIGKILL');
  if (bus) await bus.close();
});

test('a standby session instance never drives while the holder lives, and the sessions survive a kill -9 of the holder', async () => {
  bus = await Bus.open(env.natsUrl);
  let err = '';
  standby = spawn(path.join(env.buildDir, 'services/session/qw-session'), [], {
    env: { ...process.env, ...natsEnv('session'), QW_DB_URL: process.env.QW_DB_URL_SESSION, QW_OPS_PORT: '0', QW_INSTANCE: 'session-standby', QW_SESSION_LEASE_MS: '500' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  standby.stderr.on('data', (d) => { err += d.toString(); });
  await waitFor('the standby to start', () => /event=started/.test(err));
  // three lease periods of the standby: it must not take the lease
  await new Promise((r) => setTimeout(r, 1600));
  assert.doesNotMatch(err, /event=lease_taken/, 'the standby took the lease from a live holder');

  const sid = createSession(createQuiz([{ time_limit_s: 5 }, {}]));
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    const open = await log.next('question_open');
    const pid = pidOf('session');
    process.kill(pid, 'SIGKILL');
    const closed = await log.next('question_closed', { timeout: 10000 });
    assert.ok(closed._at - open.deadline_ms <= 1000, `closed ${closed._at - open.deadline_ms} ms after the deadline`);
    const lifecycle = log.lifecycle().map((e) => e.type);
    assert.deepEqual(lifecycle, ['question_open', 'question_closed'], 'closed exactly once');
    console.log(`# takeover by ${/event=lease_taken/.test(err) ? 'the standby' : 'the restarted holder'}`);
    await waitFor('the session daemon to be restarted', () => { const p = pidOf('session'); return p && p !== pid && alive(p); });
  } finally { log.close(); }

  standby.kill('SIGTERM');
  const code = await new Promise((r) => standby.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'the standby stops cleanly on SIGTERM');
  // the stack's own instance holds the lease again before the next test file
  const sid2 = createSession(createQuiz([{}]));
  const r = await bus.cmd(sid2, 'next', 15000);
  assert.equal(r.state, 'question');
});

test('a holder whose lock connection is cut stops driving, takes the lease again and still closes its questions', async () => {
  const b = await Bus.open(env.natsUrl);
  const sid = createSession(createQuiz([{ time_limit_s: 5 }, {}]));
  const log = b.events(sid);
  try {
    await b.cmd(sid, 'next', 15000);
    const open = await log.next('question_open');
    const cut = sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7157002 AND granted");
    assert.equal(cut.length, 1, 'exactly one connection holds the lease');
    const logFile = path.join(env.logDir, 'session.log');
    await waitFor('the holder to log lease_lost', () => /event=lease_lost reason=lock_connection_broken/.test(fs.readFileSync(logFile, 'utf8')));
    const closed = await log.next('question_closed', { timeout: 15000 });
    assert.equal(closed.question_idx, 0);
    assert.ok(closed._at >= open.deadline_ms - 20);
    const r = await b.cmd(sid, 'next', 15000);
    assert.equal(r.question_idx, 1, 'commands are driven again');
    assert.equal(log.lifecycle().filter((e) => e.type === 'question_closed').length, 1, 'closed exactly once');
  } finally { log.close(); await b.close(); }
});
