// The session lease, per shard (ARCHITECTURE "The lease"): with a second
// qw-session instance sharing the shards, a kill -9 of the stack's instance
// leaves no timer behind (whoever takes its shards closes at the original
// deadline), and a holder whose lock connection is cut stops driving.
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

test('the sessions of a daemon killed -9 survive: its shards are taken and the question closes at its deadline once', async () => {
  bus = await Bus.open(env.natsUrl);
  let err = '';
  standby = spawn(path.join(env.buildDir, 'services/session/qw-session'), [], {
    env: { ...process.env, ...natsEnv('session'), QW_DB_URL: process.env.QW_DB_URL_SESSION, QW_OPS_PORT: '0', QW_INSTANCE: 'session-standby', QW_SESSION_LEASE_MS: '500' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  standby.stderr.on('data', (d) => { err += d.toString(); });
  await waitFor('the second instance to take its share', () => /event=lease_taken/.test(err), { timeout: 15000 });

  // a session on a shard of the stack's instance, the one killed
  let sid = null;
  for (let i = 0; i < 60 && !sid; i++) {
    const s = createSession(createQuiz([{ time_limit_s: 5 }, {}]));
    if ((sql(`SELECT instance FROM session_shards WHERE shard = quiz_shard('${s}')`)[0] || [])[0] === 'session-1') sid = s;
  }
  assert.ok(sid, 'a session on a shard of session-1');
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
    console.log(`# shard taken by ${sql(`SELECT instance FROM session_shards WHERE shard = quiz_shard('${sid}')`)[0][0]}`);
    await waitFor('the session daemon to be restarted', () => { const p = pidOf('session'); return p && p !== pid && alive(p); });
  } finally { log.close(); }

  standby.kill('SIGTERM');
  const code = await new Promise((r) => standby.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'the standby stops cleanly on SIGTERM');
  // the stack's own instance drives again before the next test file
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
    await waitFor('the stack instance to hold every shard', () => Number(sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7157003 AND granted")[0][0]) === 64, { timeout: 15000 });
    const cut = sql("SELECT pg_terminate_backend(pid) FROM (SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 7157003 AND granted) p");
    assert.equal(cut.length, 1, 'exactly one connection holds the shards');
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
