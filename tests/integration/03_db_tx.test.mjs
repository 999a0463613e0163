// shared/db's transactions against the stack's real PostgreSQL: the C
// checker tests/db/db_tx_check.c commits, fails a transaction after an
// error, a backend killed between two statements (pg_terminate_backend), a
// silent reconnect in the middle and a stray COMMIT, and reads a snapshot
// while another connection writes, and its prepared-statement cache (forgotten
// at a reconnect, keyed by text, bounded), and a lobby snapshot reads no
// answers. Then the promise on the real daemon: a
// submit batch whose connection is killed between two of its statements
// is tried again on a new connection and acked once it committed there
// (03_batch_retry has the kill during COMMIT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { env, waitFor } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession, addStudents, answerRows } from '../lib/fixtures.mjs';

test('a transaction never goes on after an error, a kill or a reconnect; a snapshot sees one moment', async () => {
  const bin = path.join(env.buildDir, 'tests', 'db', 'db_tx_check');
  const out = await new Promise((resolve) => {
    execFile(bin, [], { env: { ...process.env, QW_DB_URL: env.dbUrl }, timeout: 60000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
  const summary = out.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  assert.ok(summary, `no summary line:\n${out.stdout}\n${out.stderr}`);
  assert.equal(Number(summary[2]), 0, out.stdout);
  assert.equal(Number(summary[1]), 14, out.stdout);
  assert.equal(out.code, 0, out.stdout + out.stderr);
});

// Holds LOCK TABLE answers IN SHARE MODE (or `mode`) in a psql of its own,
// so the scoring batch runs its first statements (session FOR SHARE,
// students) and then waits on its INSERT; resolves with a release function.
function lockAnswers(mode = 'SHARE') {
  const child = spawn(`${process.env.QW_PG_BIN}/psql`, [
    '-h', process.env.QW_PG_SOCKET, '-p', process.env.QW_PG_PORT, '-U', 'quizwire', '-d', 'quizwire',
    '-tA', '-v', 'ON_ERROR_STOP=1',
  ], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('locked')) resolve(() => { child.stdin.end('ROLLBACK;\n'); });
    });
    child.on('error', reject);
    child.on('exit', () => reject(new Error(`psql exited: ${out}`)));
    child.stdin.write(`BEGIN; LOCK TABLE answers IN ${mode} MODE; SELECT 'locked';\n`);
  });
}

test('a batch whose connection is killed between two statements is tried again on a new connection: acked accepted once, recorded once', { timeout: 60000 }, async () => {
  const bus = await Bus.open(env.natsUrl);
  let release = null;
  try {
    const sid = createSession(createQuiz([{ answer: 'B' }]));
    const epoch = addStudents(sid, ['cut1']);
    assert.equal((await bus.cmd(sid, 'next')).state, 'question');
    release = await lockAnswers();
    const submit = bus.submit({ sid, epoch, student_id: 'cut1', question_idx: 0, choice: 'B' }, 20000)
      .then((r) => ({ reply: r }), (e) => ({ error: e }));
    const [[pid]] = await waitFor('the batch waiting on its INSERT', async () => {
      const rows = sql("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO answers%'");
      return rows.length === 1 ? rows : null;
    }, { timeout: 10000 });
    sql(`SELECT pg_terminate_backend(${Number(pid)}, 5000)`);
    release();
    release = null;
    const got = await submit;
    assert.equal(got.reply?.status, 'accepted', `the retried batch acks: ${got.error || JSON.stringify(got.reply)}`);
    assert.equal(answerRows(sid, 0).length, 1, 'recorded exactly once');
    const again = await bus.submit({ sid, epoch, student_id: 'cut1', question_idx: 0, choice: 'C' }, 5000);
    assert.equal(again.status, 'duplicate', JSON.stringify(again));
    assert.equal(again.choice, 'B', 'the first answer stands');
    assert.equal(answerRows(sid, 0).length, 1);
  } finally {
    if (release) release();
    await bus.close();
  }
});

// A lobby's snapshot is the session row alone (handle_snapshot.c): nobody
// has an answer in a lobby, also after a reset that deleted some. With the
// answers table locked against every reader it still answers at once; one
// that read the answers would wait for the lock (the request times out).
test('a lobby snapshot reads no answers: it answers while the answers table is locked, after a reset too', { timeout: 60000 }, async () => {
  const bus = await Bus.open(env.natsUrl);
  let release = null;
  try {
    const sid = createSession(createQuiz([{ answer: 'B' }]));
    const epoch = addStudents(sid, ['lob1']);
    assert.equal((await bus.cmd(sid, 'next')).state, 'question');
    const acc = await bus.submit({ sid, epoch, student_id: 'lob1', question_idx: 0, choice: 'B' });
    assert.equal(acc.status, 'accepted', JSON.stringify(acc));
    assert.equal((await bus.cmd(sid, 'reset')).state, 'lobby');
    release = await lockAnswers('ACCESS EXCLUSIVE');
    const snap = await bus.request('qw.session.query.snapshot', { sid, student_id: 'lob1' }, 3000);
    assert.deepEqual([snap.ok, snap.state, snap.question, snap.my_choice, snap.score, snap.points],
      [true, 'lobby', null, null, 0, undefined]);
    release();
    release = null;
    assert.equal(answerRows(sid, 0).length, 0, 'the reset deleted the answer');
  } finally {
    if (release) release();
    await bus.close();
  }
});
