// The scoring batch against a PostgreSQL connection that dies during
// COMMIT: the outcome is unknown to the daemon, which must read the record
// (answers carry their batch's id) rather than guess, ack only what is known
// committed, and never record an answer twice. First the exact moment: a
// COMMIT held waiting for a synchronous standby (committed locally, as on a
// primary that dies before its standby confirms) whose backend is ended;
// then a storm of backend kills under many submits, every ack checked
// against the record.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, waitFor } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession, addStudents, answerRows } from '../lib/fixtures.mjs';

let syncHeld = false;
function holdCommits(on) {
  sql(on ? "ALTER SYSTEM SET synchronous_standby_names = 'qw_no_such_standby'" : 'ALTER SYSTEM RESET synchronous_standby_names');
  sql('SELECT pg_reload_conf()');
  syncHeld = on;
}
after(() => { if (syncHeld) holdCommits(false); });

test('a COMMIT whose connection dies while it waits (committed locally) is resolved from the record and acked accepted once', { timeout: 60000 }, async () => {
  const bus = await Bus.open(env.natsUrl);
  const logFile = path.join(env.logDir, 'scoring.log');
  const logFrom = fs.statSync(logFile).size;
  try {
    const sid = createSession(createQuiz([{ answer: 'B', time_limit_s: 60 }]));
    const epoch = addStudents(sid, ['held1']);
    assert.equal((await bus.cmd(sid, 'next')).state, 'question');
    holdCommits(true);
    const submit = bus.submit({ sid, epoch, student_id: 'held1', question_idx: 0, choice: 'B' }, 20000)
      .then((r) => ({ reply: r }), (e) => ({ error: e }));
    const [[pid]] = await waitFor('the batch COMMIT waiting for the standby', () => {
      const rows = sql("SELECT pid FROM pg_stat_activity WHERE usename = 'qw_scoring' AND wait_event = 'SyncRep'");
      return rows.length === 1 ? rows : null;
    }, { timeout: 10000 });
    sql(`SELECT pg_terminate_backend(${Number(pid)}, 5000)`);
    holdCommits(false);
    const got = await submit;
    assert.equal(got.reply?.status, 'accepted', `the commit happened, so it is acked: ${got.error || JSON.stringify(got.reply)}`);
    assert.equal(answerRows(sid, 0).length, 1, 'recorded exactly once');
    const log = fs.readFileSync(logFile, 'utf8').slice(logFrom);
    assert.match(log, /event=batch_commit_unknown .*resolved=committed/);
    const again = await bus.submit({ sid, epoch, student_id: 'held1', question_idx: 0, choice: 'A' }, 5000);
    assert.equal(again.status, 'duplicate');
    assert.equal(again.choice, 'B');
  } finally {
    if (syncHeld) holdCommits(false);
    await bus.close();
  }
});

test('under a storm of killed scoring backends every accepted ack is in the record once and every recorded answer was acked accepted', { timeout: 90000 }, async () => {
  const bus = await Bus.open(env.natsUrl);
  try {
    const N = 150;
    const students = Array.from({ length: N }, (_, i) => `storm${i}`);
    const sid = createSession(createQuiz([{ answer: 'C', time_limit_s: 120 }]));
    const epoch = addStudents(sid, students);
    assert.equal((await bus.cmd(sid, 'next')).state, 'question');
    let storming = true;
    let kills = 0;
    const storm = (async () => {
      while (storming) {
        kills += sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'qw_scoring' AND pid <> pg_backend_pid()").map((r) => Number(r[0]))[0];
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    // each student submits once, spread over the storm; its first reply is what it was told
    const first = await Promise.all(students.map(async (s, i) => {
      await new Promise((r) => setTimeout(r, (i % 50) * 30));
      try { return (await bus.submit({ sid, epoch, student_id: s, question_idx: 0, choice: i % 2 ? 'C' : 'A' }, 25000)).status; } catch { return 'no_reply'; }
    }));
    storming = false;
    await storm;
    const rows = new Map(answerRows(sid, 0).map((r) => [r.student_id, r]));
    const counts = {};
    for (const st of first) counts[st] = (counts[st] || 0) + 1;
    console.log(`# ${kills} backends killed; first replies ${JSON.stringify(counts)}`);
    const total = Number(sql(`SELECT count(*) FROM answers WHERE sid = '${sid}'`)[0][0]);
    assert.equal(total, rows.size, 'no answer twice');
    students.forEach((s, i) => {
      if (first[i] === 'accepted') assert.ok(rows.has(s), `${s} was acked accepted but is not in the record`);
      else assert.ok(!rows.has(s), `${s} is in the record but was told ${first[i]}`);
    });
    assert.ok(kills > 0, 'the storm killed backends');
    assert.equal(counts.accepted, N, 'every submit came through the storm accepted');
  } finally {
    await bus.close();
  }
});
