// The shard lease against a holder that hangs without dying (SIGSTOP): the
// other instance ends the hung holder's connections once its heartbeat is
// older than the bound it promised, takes its shards and their timers at
// their original deadlines, and the holder, let go again, steps down before
// it acts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, waitFor, pidOf, alive, natsEnv } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession } from '../lib/fixtures.mjs';

const STANDBY_LEASE_MS = 500;
let standby = null;
let stopped = null;
let bus = null;
after(async () => {
  if (stopped && alive(stopped)) process.kill(stopped, 'SIGCONT');
  if (standby && standby.exitCode === null) standby.kill('SIGKILL');
  if (bus) await bus.close();
});

// The heartbeat row of a shard (that of `sid`, or shard 0) and whether its
// lock_pid holds the shard's lock right now.
function leaseRow(sid) {
  const shard = sid ? `quiz_shard('${sid}')` : '0';
  const rows = sql(`SELECT l.instance, l.stale_after_ms, EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory'
    AND k.classid = 7157003 AND k.objid = l.shard::oid AND k.objsubid = 2 AND k.granted AND k.pid = l.lock_pid)
    FROM session_shards l WHERE l.shard = ${shard}`);
  if (!rows.length) return null;
  return { instance: rows[0][0], stale_after_ms: Number(rows[0][1]), held: rows[0][2] === 't' };
}
const heldBy = (instance) => Number(sql(`SELECT count(*) FROM session_shards s WHERE s.instance = '${instance}' AND EXISTS (SELECT 1
  FROM pg_locks k WHERE k.locktype = 'advisory' AND k.classid = 7157003 AND k.objid = s.shard::oid AND k.granted AND k.pid = s.lock_pid)`)[0][0]);

test('a standby takes over from a SIGSTOPped holder, closes its question at the original deadline exactly once, and the holder steps down when let go', async () => {
  bus = await Bus.open(env.natsUrl);
  await waitFor('the stack instance to hold every shard', () => heldBy('session-1') === 64, { timeout: 15000 });
  const holder = leaseRow();

  let err = '';
  standby = spawn(path.join(env.buildDir, 'services/session/qw-session'), [], {
    env: { ...process.env, ...natsEnv('session'), QW_DB_URL: process.env.QW_DB_URL_SESSION, QW_OPS_PORT: '0', QW_INSTANCE: 'session-standby-hung', QW_SESSION_LEASE_MS: String(STANDBY_LEASE_MS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  standby.stderr.on('data', (d) => { err += d.toString(); });
  await waitFor('the two instances to share the shards', () => heldBy('session-standby-hung') >= 31 && heldBy('session-1') >= 31, { timeout: 20000, interval: 200 });

  // the question's deadline lies after the latest takeover the settings allow;
  // its session is on a shard of the stack's instance (which keeps the
  // lowest ones when it gives back, and the standby keeps those in turn)
  const bound = holder.stale_after_ms + STANDBY_LEASE_MS + 2000;
  let sid = null;
  for (let i = 0; i < 60 && !sid; i++) {
    const s = createSession(createQuiz([{ time_limit_s: Math.ceil(bound / 1000) + 1 }, {}]));
    if (leaseRow(s)?.instance === 'session-1') sid = s;
  }
  assert.ok(sid, 'a session on a shard of session-1');
  const log = bus.events(sid);
  const logFile = path.join(env.logDir, 'session.log');
  try {
    await bus.cmd(sid, 'next');
    const open = await log.next('question_open');
    assert.doesNotMatch(err, /event=lease_taken_over_from_hung/, 'the standby took shards from a live holder');

    const pid = pidOf('session');
    const logFrom = fs.statSync(logFile).size;
    process.kill(pid, 'SIGSTOP');
    stopped = pid;
    const t0 = Date.now();
    await waitFor('the standby to take over from the hung holder',
      () => /event=lease_taken_over_from_hung instance=session-standby-hung old_instance=session-1/.test(err),
      { timeout: bound + 2000, interval: 20 });
    const takeoverMs = Date.now() - t0;
    console.log(`# takeover from a SIGSTOPped holder in ${takeoverMs} ms (heartbeat bound ${holder.stale_after_ms} ms)`);
    assert.ok(takeoverMs < bound, `takeover took ${takeoverMs} ms, bound ${bound} ms`);
    assert.equal(leaseRow(sid).instance, 'session-standby-hung');

    const closed = await log.next('question_closed', { timeout: open.deadline_ms - Date.now() + 5000 });
    assert.equal(closed.question_idx, 0);
    assert.ok(closed._at >= open.deadline_ms - 20, `closed ${open.deadline_ms - closed._at} ms before the deadline`);
    assert.ok(closed._at - open.deadline_ms <= 1000, `closed ${closed._at - open.deadline_ms} ms after the deadline`);

    process.kill(pid, 'SIGCONT');
    stopped = null;
    const tail = () => fs.readFileSync(logFile, 'utf8').slice(logFrom);
    await waitFor('the woken holder to step down', () => /event=lease_lost reason=lock_connection_broken/.test(tail()), { timeout: 10000 });

    const r = await bus.cmd(sid, 'next', 10000);
    assert.equal(r.question_idx, 1);
    await log.next('question_open', { pred: (e) => e.question_idx === 1 });
    // the standby still holds the shard: a command round trip orders every
    // event of the `next` before this reply on the bus
    const r2 = await bus.cmd(sid, 'open', 10000);
    assert.equal(r2.question_idx, 1);
    const lifecycle = log.lifecycle();
    assert.deepEqual(lifecycle.map((e) => `${e.type}:${e.question_idx}`),
      ['question_open:0', 'question_closed:0', 'question_open:1'], 'each step happened exactly once');
    lifecycle.forEach((e, i) => { if (i) assert.equal(e.seq, lifecycle[i - 1].seq + 1, 'consecutive seqs'); });
    assert.doesNotMatch(tail(), new RegExp(`event=(question_closed|question_opened|session_cmd) sid=${sid}`), 'the woken holder acted');
    assert.equal((err.match(new RegExp(`event=question_opened sid=${sid} question_idx=1`, 'g')) || []).length, 1);
  } finally { log.close(); }

  standby.kill('SIGTERM');
  const code = await new Promise((res) => standby.once('exit', (c) => res(c)));
  assert.equal(code, 0, 'the standby stops cleanly on SIGTERM');
  // the stack's own instance holds every shard again before the next test file
  await waitFor('the stack instance to hold every shard again', () => heldBy('session-1') === 64, { timeout: 20000, interval: 200 });
});
