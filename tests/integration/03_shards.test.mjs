// Sessions spread over session daemons (issue 14, ARCHITECTURE "Shards"):
// two daemons share the 64 shards fairly and both drive their sessions; a
// third started later takes its share while questions are open, and no
// timer is lost or doubled; a daemon killed -9 mid-question has its
// questions closed by the others at their deadlines and its students go on;
// a command forged onto another shard's subject is refused, answered once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, waitFor, natsEnv } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession, addStudents, quizShard, cmdSubject } from '../lib/fixtures.mjs';
import { StringCodec } from 'nats';

const sc = StringCodec();
const EXTRA_LEASE_MS = 500;
const STACK_LEASE_MS = 3000; // scripts/stack.sh leaves QW_SESSION_LEASE_MS at its default
const extra = {};
let bus = null;
after(async () => {
  for (const [name, p] of Object.entries(extra)) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    fs.writeFileSync(path.join(env.logDir, `${name}.log`), p.log); // kept by run.sh with the stack's
  }
  if (bus) await bus.close();
});

function startDaemon(name) {
  const p = spawn(`${env.buildDir}/services/session/qw-session`, [], {
    env: { ...process.env, ...natsEnv('session'), QW_DB_URL: process.env.QW_DB_URL_SESSION, QW_OPS_PORT: '0', QW_INSTANCE: name, QW_SESSION_LEASE_MS: String(EXTRA_LEASE_MS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d.toString(); });
  extra[name] = p;
  return p;
}

// shards held per instance, from session_shards (only rows whose lock is held)
function split() {
  const rows = sql(`SELECT s.instance, count(*) FROM session_shards s WHERE EXISTS (SELECT 1 FROM pg_locks k
    WHERE k.locktype = 'advisory' AND k.classid = 7157003 AND k.objid = s.shard::oid AND k.objsubid = 2
    AND k.granted AND k.pid = s.lock_pid) GROUP BY s.instance`);
  return Object.fromEntries(rows.map(([i, n]) => [i, Number(n)]));
}
// when the question was closed, by the daemon's clock (the test's own
// receipt of the event lags on a loaded machine: psql calls block it)
const closedAt = (sid) => Number(sql(`SELECT closed_at_ms FROM sessions WHERE sid = '${sid}'`)[0][0]);
const ownerOf = (sid) => (sql(`SELECT instance FROM session_shards WHERE shard = quiz_shard('${sid}')`)[0] || [])[0];
const fair = (s, names, lo, hi) => names.every((n) => s[n] >= lo && s[n] <= hi) && Object.values(s).reduce((a, b) => a + b, 0) === 64
  && Object.keys(s).length === names.length;

// A session on a shard `instance` owns, in its lobby, with one student.
function sessionOn(instance, questions) {
  for (let i = 0; i < 60; i++) {
    const sid = createSession(createQuiz(questions));
    if (ownerOf(sid) === instance) { addStudents(sid, ['st1']); return sid; }
  }
  throw new Error(`no session landed on ${instance}`);
}

// Sends one command with its own reply inbox and counts the replies that come within `ms`.
async function repliesTo(subject, obj, ms = 1500) {
  const inbox = `_INBOX.shards${Date.now()}${Math.random().toString(36).slice(2)}`;
  const sub = bus.nc.subscribe(inbox);
  const got = [];
  (async () => { for await (const m of sub) got.push(JSON.parse(sc.decode(m.data))); })();
  bus.nc.publish(subject, sc.encode(JSON.stringify(obj)), { reply: inbox });
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return got;
}

test('two daemons split the shards, a third takes its share mid-question, a killed one\'s questions close at their deadlines, forged commands are refused once', async () => {
  bus = await Bus.open(env.natsUrl);
  // the formula is one: SQL, C (unit test) and the tests' copy agree
  for (const sid of ['main', 'a', 'foobar', 'abc123xyz789', 'të§t']) {
    assert.equal(Number(sql(`SELECT quiz_shard('${sid}')`)[0][0]), quizShard(sid), `shard of ${sid}`);
  }
  assert.equal(quizShard('main'), 24);

  // 1. two daemons: both hold shards, 31..33 each
  startDaemon('session-b');
  const two = await waitFor('two daemons to split the shards', () => { const s = split(); return fair(s, ['session-1', 'session-b'], 31, 33) && s; }, { timeout: 20000, interval: 200 });
  console.log(`# split over two daemons: ${JSON.stringify(two)}`);
  const health = await http(env.ops.session, 'GET', '/healthz');
  assert.equal(health.json.shards, split()['session-1'], '/healthz counts the shards of session-1');

  // sessions on both daemons run; the third daemon joins while their questions are open
  const sA = sessionOn('session-1', [{ time_limit_s: 8 }, {}]);
  const sB = sessionOn('session-b', [{ time_limit_s: 8 }, {}]);
  const logs = { [sA]: bus.events(sA), [sB]: bus.events(sB) };
  try {
    const opens = {};
    for (const sid of [sA, sB]) {
      const r = await bus.cmd(sid, 'next');
      assert.equal(r.state, 'question');
      opens[sid] = await logs[sid].next('question_open');
    }
    startDaemon('session-c');
    const three = await waitFor('three daemons to split the shards', () => { const s = split(); return fair(s, ['session-1', 'session-b', 'session-c'], 18, 23) && s; }, { timeout: 20000, interval: 200 });
    console.log(`# split over three daemons: ${JSON.stringify(three)}; ${sA} on ${ownerOf(sA)}, ${sB} on ${ownerOf(sB)}`);
    for (const sid of [sA, sB]) {
      await logs[sid].next('question_closed', { timeout: 20000 });
      const late = closedAt(sid) - opens[sid].deadline_ms;
      console.log(`# ${sid} closed ${late} ms after its deadline`);
      assert.ok(late >= 0 && late <= 1500, `${sid}: closed ${late} ms after its deadline`);
    }
    await new Promise((r) => setTimeout(r, 1000)); // a doubled close would come now
    for (const sid of [sA, sB]) {
      assert.deepEqual(logs[sid].lifecycle().map((e) => e.type), ['question_open', 'question_closed'], `${sid}: closed exactly once`);
    }

    // 2. a forged command: sA's sid on another shard's subject is refused
    // by that shard's owner, once, and changes nothing; on its own subject
    // it is answered once
    const other = (quizShard(sA) + 1) % 64;
    const forged = await repliesTo(`qw.session.cmd.${other}`, { sid: sA, cmd: 'next' });
    assert.equal(forged.length, 1, 'one answer to a forged command');
    assert.equal(forged[0].error, 'wrong_shard');
    assert.equal(sql(`SELECT state, question_idx FROM sessions WHERE sid = '${sA}'`)[0].join(), 'closed,0', 'the forged command changed nothing');
    const right = await repliesTo(cmdSubject(sA), { sid: sA, cmd: 'end' });
    assert.equal(right.length, 1, 'one answer to a command');
    assert.equal(right[0].state, 'ended');
  } finally { Object.values(logs).forEach((l) => l.close()); }

  // 3. kill -9 a daemon mid-question: its question closes at the deadline
  // (within the lease of whoever takes the shard) and its student goes on
  const sK = sessionOn('session-b', [{ time_limit_s: 5 }, { time_limit_s: 30 }]);
  const epoch = Number(sql(`SELECT epoch FROM sessions WHERE sid = '${sK}'`)[0][0]);
  const log = bus.events(sK);
  try {
    await bus.cmd(sK, 'next');
    const open = await log.next('question_open');
    extra['session-b'].kill('SIGKILL');
    await log.next('question_closed', { timeout: 20000 });
    const late = closedAt(sK) - open.deadline_ms;
    console.log(`# killed daemon's question closed ${late} ms after its deadline by ${ownerOf(sK)}`);
    assert.ok(late >= 0 && late <= STACK_LEASE_MS + 1500, `closed ${late} ms after the deadline`);
    assert.notEqual(ownerOf(sK), 'session-b');
    const r = await bus.cmd(sK, 'next', 10000);
    assert.equal(r.question_idx, 1);
    const ack = await bus.submit({ sid: sK, epoch, student_id: 'st1', question_idx: 1, choice: 'A' });
    assert.equal(ack.status, 'accepted', 'the student answers the next question');
    await waitFor('the two left to share every shard', () => fair(split(), ['session-1', 'session-c'], 31, 33), { timeout: 20000, interval: 200 });
    assert.deepEqual(log.lifecycle().map((e) => `${e.type}:${e.question_idx}`), ['question_open:0', 'question_closed:0', 'question_open:1'], 'each step exactly once');
  } finally { log.close(); }

  extra['session-c'].kill('SIGTERM');
  const code = await new Promise((r) => extra['session-c'].once('exit', (c) => r(c)));
  assert.equal(code, 0, 'a daemon stops cleanly on SIGTERM');
  await waitFor('the stack daemon to hold every shard again', () => fair(split(), ['session-1'], 64, 64), { timeout: 20000, interval: 200 });
});
