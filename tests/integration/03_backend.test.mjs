// The live-session backend through its NATS contract only: the lifecycle
// commands and their events, timers (also across a kill -9 of the session
// daemon), every submit status, points, ack-means-durable against a racing
// close, reset, results ranks, snapshots, answer_stats, group commit and the
// statements of a batch over many sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, waitFor, pidOf, alive } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession, addStudents, sessionRow, answerRows } from '../lib/fixtures.mjs';

let bus;
before(async () => { bus = await Bus.open(env.natsUrl); });
after(async () => { await bus.close(); });

const ids = (n, p = 's') => Array.from({ length: n }, (_, i) => `${p}${i}`);

async function metric(base, name) {
  const res = await http(base, 'GET', '/metrics');
  const m = res.text.match(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('lifecycle lobby→question→closed→…→ended publishes events in order with increasing seq', async () => {
  const sid = createSession(createQuiz([{}, {}, {}]));
  const log = bus.events(sid);
  try {
    let r = await bus.cmd(sid, 'next');
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.state, 'question');
    assert.equal(r.question_idx, 0);
    const open0 = await log.next('question_open');
    assert.equal(open0.question_idx, 0);
    assert.equal(open0.question_count, 3);
    assert.equal(open0.deadline_ms - open0.opened_at_ms, 20000);
    assert.equal(open0.time_limit_ms, 20000);
    assert.equal(open0.answer, undefined, 'the answer is never in question_open');

    r = await bus.cmd(sid, 'open');
    assert.equal(r.ok, true);
    assert.equal(r.state, 'question', 'open while open is a no-op');
    assert.equal(sessionRow(sid).opened_at_ms, open0.opened_at_ms);

    r = await bus.cmd(sid, 'close');
    assert.equal(r.state, 'closed');
    const closed0 = await log.next('question_closed');
    assert.equal(closed0.question_idx, 0);
    assert.equal(closed0.answer, 'B');
    assert.deepEqual(closed0.counts, { A: 0, B: 0, C: 0, D: 0 });

    r = await bus.cmd(sid, 'open');
    assert.equal(r.state, 'closed', 'open after close re-opens nothing');
    r = await bus.cmd(sid, 'next');
    assert.equal(r.question_idx, 1);
    await log.next('question_open', { pred: (e) => e.question_idx === 1 });
    r = await bus.cmd(sid, 'next'); // next while open: closes 1, opens 2
    assert.equal(r.state, 'question');
    assert.equal(r.question_idx, 2);
    await log.next('question_closed', { pred: (e) => e.question_idx === 1 });
    await log.next('question_open', { pred: (e) => e.question_idx === 2 });
    r = await bus.cmd(sid, 'next'); // after the last question: close, then ended
    assert.equal(r.state, 'ended');
    await log.next('question_closed', { pred: (e) => e.question_idx === 2 });
    await log.next('session_ended');
    r = await bus.cmd(sid, 'next');
    assert.equal(r.ok, false);
    assert.equal(r.status, 409);
    assert.equal(r.error, 'bad_state');

    const types = log.lifecycle().map((e) => `${e.type}:${e.question_idx ?? ''}`);
    assert.deepEqual(types, ['question_open:0', 'question_closed:0', 'question_open:1', 'question_closed:1',
      'question_open:2', 'question_closed:2', 'session_ended:']);
    const seqs = log.lifecycle().map((e) => e.seq);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq increases: ${seqs}`);
  } finally { log.close(); }
});

test('commands on an unknown session answer 404 and a bad cmd 400', async () => {
  const r = await bus.cmd('no-such-session', 'next');
  assert.equal(r.status, 404);
  const sid = createSession(createQuiz([{}]));
  const b = await bus.cmd(sid, 'jump');
  assert.equal(b.status, 400);
  const c = await bus.cmd(sid, 'close');
  assert.equal(c.status, 409, 'close in the lobby is a bad state');
});

test('every submit status: accepted, duplicate with the first choice, wrong_question, not_open, invalid, closed', async () => {
  const sid = createSession(createQuiz([{ choices: 3, answer: 'B' }, {}]));
  const epoch = addStudents(sid, ids(4));
  const sub = (s) => bus.submit({ sid, epoch, question_idx: 0, ...s });
  let r = await sub({ student_id: 's0', choice: 'B' });
  assert.equal(r.status, 'not_open');
  await bus.cmd(sid, 'next');
  const row = sessionRow(sid);
  r = await sub({ student_id: 's0', choice: 'B' });
  assert.deepEqual([r.ok, r.status, r.choice, r.question_idx], [true, 'accepted', 'B', 0]);
  r = await sub({ student_id: 's0', choice: 'C' });
  assert.deepEqual([r.status, r.choice], ['duplicate', 'B'], 'the first answer stands');
  r = await sub({ student_id: 's1', choice: 'A', question_idx: 1 });
  assert.equal(r.status, 'wrong_question');
  for (const choice of ['D', 'E', 'b', '', 'AB']) {
    r = await sub({ student_id: 's1', choice });
    assert.equal(r.status, 'invalid', `choice ${JSON.stringify(choice)}`);
  }
  r = await sub({ student_id: 's1', choice: 'A', received_at_ms: row.deadline_ms });
  assert.equal(r.status, 'closed', 'received at the deadline is closed');
  r = await sub({ student_id: 's1', choice: 'A', received_at_ms: row.deadline_ms - 1 });
  assert.equal(r.status, 'accepted', 'received 1 ms before the deadline is accepted');
  r = await sub({ student_id: 'stranger', choice: 'A' });
  assert.deepEqual([r.ok, r.status, r.error], [false, 401, 'unauthorized']);
  r = await sub({ student_id: 's2', choice: 'A', epoch: epoch + 1 });
  assert.equal(r.error, 'unauthorized', 'a token of another epoch is refused');
  r = await sub({ student_id: 's2', choice: 7 });
  assert.deepEqual([r.status, r.error], [400, 'bad_field']);
  await bus.cmd(sid, 'close');
  r = await sub({ student_id: 's2', choice: 'A' });
  assert.equal(r.status, 'closed', 'after a manual close');
  r = await sub({ student_id: 's3', choice: 'A', question_idx: 1 });
  assert.equal(r.status, 'not_open', 'no question is open');
  assert.deepEqual(answerRows(sid, 0).map((a) => a.student_id).sort(), ['s0', 's1']);
});

test('points are round(1000*(1 - elapsed/limit/2)) for a right answer, 0 for a wrong one', async () => {
  const sid = createSession(createQuiz([{ answer: 'B', time_limit_s: 20 }]));
  const epoch = addStudents(sid, ids(6));
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    const cases = [['s0', 'B', 0], ['s1', 'B', 5000], ['s2', 'B', 7777], ['s3', 'B', 30000], ['s4', 'A', 100], ['s5', 'B', -50]];
    for (const [student_id, choice, elapsed_ms] of cases) {
      const r = await bus.submit({ sid, epoch, student_id, question_idx: 0, choice, elapsed_ms });
      assert.equal(r.status, 'accepted');
      assert.equal(r.points, undefined, 'an ack never reveals correctness');
    }
    await bus.cmd(sid, 'close');
    const closed = await log.next('question_closed');
    const expect = { s0: 1000, s1: 875, s2: Math.round(1000 * (1 - 7777 / 20000 / 2)), s3: 500, s4: 0, s5: 1000 };
    assert.equal(expect.s2, 806);
    for (const [id, pts] of Object.entries(expect)) {
      assert.equal(closed.results[id][1], pts, id);
      assert.equal(closed.results[id][2], pts, `${id} running score`);
    }
    assert.deepEqual(closed.counts, { A: 1, B: 5, C: 0, D: 0 });
    assert.deepEqual(Object.fromEntries(answerRows(sid, 0).map((a) => [a.student_id, a.points])), expect);
  } finally { log.close(); }
});

test('30 submits racing a close: every reply agrees with the record (accepted ⇔ row exists)', async () => {
  const sid = createSession(createQuiz([{}]));
  const students = ids(30);
  const epoch = addStudents(sid, students);
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    // submits spread over ~60 ms; the close is sent in the middle of them
    const replies = students.map((student_id, i) => new Promise((r) => setTimeout(r, 2 * i)).then(() =>
      bus.submit({ sid, epoch, student_id, question_idx: 0, choice: 'B' })));
    await new Promise((r) => setTimeout(r, 25));
    const closeReply = await bus.cmd(sid, 'close');
    assert.equal(closeReply.state, 'closed');
    const got = await Promise.all(replies);
    const closed = await log.next('question_closed');
    const rows = new Set(answerRows(sid, 0).map((a) => a.student_id));
    let accepted = 0;
    got.forEach((r, i) => {
      assert.ok(['accepted', 'closed'].includes(r.status), JSON.stringify(r));
      assert.equal(r.status === 'accepted', rows.has(students[i]), `${students[i]}: ${r.status}`);
      if (r.status === 'accepted') accepted++;
      assert.equal(closed.results[students[i]][0] !== null, r.status === 'accepted', 'question_closed agrees too');
    });
    assert.equal(closed.counts.B, accepted);
    console.log(`# race: ${accepted} accepted, ${30 - accepted} closed`);
  } finally { log.close(); }
});

test('a 5 s question closes by itself within 1 s of its deadline', async () => {
  const sid = createSession(createQuiz([{ time_limit_s: 5 }, {}]));
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    const open = await log.next('question_open');
    const closed = await log.next('question_closed', { timeout: 8000 });
    assert.ok(closed._at >= open.deadline_ms - 20, 'not before the deadline');
    assert.ok(closed._at - open.deadline_ms <= 1000, `closed ${closed._at - open.deadline_ms} ms after the deadline`);
    assert.equal(sessionRow(sid).state, 'closed');
  } finally { log.close(); }
});

test('kill -9 of the session daemon mid-question: the question closes at its original deadline, or at once when the restart takes its shard after it', async (t) => {
  const sid = createSession(createQuiz([{ time_limit_s: 5 }, {}]));
  const events = bus.events(sid);
  const log = path.join(env.logDir, 'session.log');
  try {
    await bus.cmd(sid, 'next');
    const open = await events.next('question_open');
    const pid = pidOf('session');
    const logFrom = fs.statSync(log).size;
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor('the session daemon to be restarted', () => { const p = pidOf('session'); return p && p !== pid && alive(p); });
    const closed = await events.next('question_closed', { timeout: 30000 });
    // This stack runs one session daemon, so no other instance takes the
    // killed one's shards: its restart does (the supervisor's backoff, the
    // start, then its first lease tick, logged `lease_taken`), re-arming the
    // timer at the stored deadline and closing at once a question whose
    // deadline already passed (ARCHITECTURE "The path of a close"). That
    // is the promise: the close comes within 1 s of the later of the
    // deadline and the taking. The taking itself is not bounded: on a
    // loaded machine the restart can take longer than the 5 s left.
    const lines = fs.readFileSync(log, 'utf8').slice(logFrom).split('\n');
    const at = (event) => lines.filter((l) => l.includes(` event=${event} `)).map((l) => Date.parse(l.split(' ')[0]));
    const taken = at('lease_taken').filter((ms) => ms <= closed._at);
    assert.ok(taken.length > 0, `no lease_taken before the close in the restarted daemon's log:\n${lines.join('\n')}`);
    const due = Math.max(open.deadline_ms, taken[taken.length - 1]);
    const rel = (ms) => `${ms >= open.deadline_ms ? '+' : ''}${ms - open.deadline_ms} ms`;
    const timeline = `from the deadline: killed ${rel(killedAt)}, restarted daemon started ${rel(at('started')[0])},` +
      ` ready ${rel(at('ready')[0])}, shard taken ${rel(taken[taken.length - 1])}, closed ${rel(closed._at)}`;
    t.diagnostic(timeline);
    assert.ok(closed._at >= open.deadline_ms - 20, `closed before its deadline: ${timeline}`);
    assert.ok(closed._at - due <= 1000, `closed ${closed._at - due} ms after it was due: ${timeline}`);
    const row = sessionRow(sid);
    assert.equal(row.state, 'closed');
    assert.ok(row.closed_at_ms >= open.deadline_ms && row.closed_at_ms - due <= 1000, `closed_at_ms: ${timeline}`);
    assert.ok(closed.seq > open.seq);
    const r = await bus.cmd(sid, 'next', 10000);
    assert.equal(r.question_idx, 1, 'the new instance drives commands');
  } finally { events.close(); }
});

test('reset returns to the lobby, deletes students and answers, bumps epoch and publishes session_reset', async () => {
  const sid = createSession(createQuiz([{}]));
  const epoch = addStudents(sid, ids(3));
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    assert.equal((await bus.submit({ sid, epoch, student_id: 's0', question_idx: 0, choice: 'B' })).status, 'accepted');
    const r = await bus.cmd(sid, 'reset');
    assert.equal(r.state, 'lobby');
    assert.equal(r.question_idx, -1);
    assert.equal(r.players, 0);
    const ev = await log.next('session_reset');
    assert.ok(ev.seq > 0);
    const row = sessionRow(sid);
    assert.equal(row.epoch, epoch + 1);
    assert.equal(row.deadline_ms, null);
    assert.equal(sql(`SELECT count(*) FROM students WHERE sid = '${sid}'`)[0][0], '0');
    assert.equal(sql(`SELECT count(*) FROM answers WHERE sid = '${sid}'`)[0][0], '0');
    // a student of the old epoch is refused even after re-adding the id at the new epoch
    addStudents(sid, ['s0']);
    await bus.cmd(sid, 'next');
    const old = await bus.submit({ sid, epoch, student_id: 's0', question_idx: 0, choice: 'B' });
    assert.equal(old.error, 'unauthorized');
  } finally { log.close(); }
});

test('results rank students by score with shared ranks for ties, students without answers included', async () => {
  const sid = createSession(createQuiz([{ answer: 'B' }, { answer: 'C' }]));
  const epoch = addStudents(sid, ['ann', 'bob', 'cat', 'dan', 'eve']);
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    for (const [s, c, e] of [['bob', 'B', 0], ['ann', 'B', 0], ['cat', 'B', 5000], ['dan', 'A', 0]]) {
      assert.equal((await bus.submit({ sid, epoch, student_id: s, question_idx: 0, choice: c, elapsed_ms: e })).status, 'accepted');
    }
    await bus.cmd(sid, 'end');
    const ended = await log.next('session_ended');
    assert.deepEqual(ended.results, { ann: [1000, 1], bob: [1000, 1], cat: [875, 3], dan: [0, 4], eve: [0, 4] });
    assert.equal(ended.players, 5);
    const r = await bus.request('qw.scoring.query.results', { sid });
    assert.equal(r.ok, true);
    assert.equal(r.state, 'ended');
    assert.deepEqual(r.students.map((s) => [s.student_id, s.score, s.rank]),
      [['ann', 1000, 1], ['bob', 1000, 1], ['cat', 875, 3], ['dan', 0, 4], ['eve', 0, 4]]);
    assert.equal(r.students[0].name, 'name ann');
    assert.deepEqual(r.students[2].answers, [{ question_idx: 0, choice: 'B', correct: true, points: 875, latency_ms: 5000 }]);
    assert.deepEqual(r.students[4].answers, []);
    const none = await bus.request('qw.scoring.query.results', { sid: 'nope' });
    assert.equal(none.status, 404);
  } finally { log.close(); }
});

test('snapshot shows the session clock, the question without its answer, my_choice and a score that hides the open question', async () => {
  const sid = createSession(createQuiz([{ answer: 'B' }, { answer: 'A' }]));
  const epoch = addStudents(sid, ['s0', 's1']);
  let snap = await bus.request('qw.session.query.snapshot', { sid, student_id: 's0' });
  assert.equal(snap.ok, true);
  assert.deepEqual([snap.state, snap.question, snap.my_choice, snap.score, snap.players, snap.question_count], ['lobby', null, null, 0, 2, 2]);
  await bus.cmd(sid, 'next');
  await bus.submit({ sid, epoch, student_id: 's0', question_idx: 0, choice: 'B' });
  await bus.cmd(sid, 'next');
  await bus.submit({ sid, epoch, student_id: 's0', question_idx: 1, choice: 'A' });
  const t0 = Date.now();
  snap = await bus.request('qw.session.query.snapshot', { sid, student_id: 's0' });
  const row = sessionRow(sid);
  assert.equal(snap.state, 'question');
  assert.equal(snap.question_idx, 1);
  assert.ok(Math.abs(snap.now_ms - t0) < 1000);
  assert.equal(snap.deadline_ms, row.deadline_ms);
  assert.equal(snap.opened_at_ms, row.opened_at_ms);
  assert.deepEqual(Object.keys(snap.question).sort(), ['choices', 'kind', 'text', 'time_limit_ms']);
  assert.equal(snap.answer, undefined);
  assert.equal(snap.my_choice, 'A');
  assert.equal(snap.score, 1000, 'the open question is not counted yet');
  const other = await bus.request('qw.session.query.snapshot', { sid, student_id: 's1' });
  assert.equal(other.my_choice, null);
  await bus.cmd(sid, 'close');
  snap = await bus.request('qw.session.query.snapshot', { sid, student_id: 's0' });
  assert.equal(snap.state, 'closed');
  assert.equal(snap.answer, 'A');
  assert.equal(snap.score, 2000);
  const missing = await bus.request('qw.session.query.snapshot', { sid: 'no-such' });
  assert.equal(missing.status, 404);
});

test('answer_stats are published while a question is open, the last change included', async () => {
  const sid = createSession(createQuiz([{ choices: 3 }]));
  const epoch = addStudents(sid, ids(5));
  const log = bus.events(sid);
  try {
    await bus.cmd(sid, 'next');
    await Promise.all(ids(5).map((student_id, i) => bus.submit({ sid, epoch, student_id, question_idx: 0, choice: i < 3 ? 'A' : 'C' })));
    const st = await log.next('answer_stats', { pred: (e) => e.answered === 5 });
    assert.deepEqual(st.counts, { A: 3, B: 0, C: 2 });
    assert.equal(st.players, 5);
    assert.equal(st.question_idx, 0);
  } finally { log.close(); }
});

test('group commit: 200 concurrent submits take well under 200 batches', async () => {
  const sid = createSession(createQuiz([{}]));
  const students = ids(200);
  const epoch = addStudents(sid, students);
  await bus.cmd(sid, 'next');
  const before = await metric(env.ops.scoring, 'qw_submit_batches_total');
  const t0 = performance.now();
  const got = await Promise.all(students.map((student_id) => bus.submit({ sid, epoch, student_id, question_idx: 0, choice: 'B' }, 10000)));
  const ms = performance.now() - t0;
  assert.ok(got.every((r) => r.status === 'accepted'));
  const batches = (await metric(env.ops.scoring, 'qw_submit_batches_total')) - before;
  console.log(`# 200 submits: ${batches} batches in ${ms.toFixed(0)} ms`);
  assert.ok(batches > 0 && batches <= 50, `batches=${batches}`);
  assert.equal(answerRows(sid, 0).length, 200);
});

test('a batch over many sessions is judged with the statements of one, every verdict per session', async () => {
  // 8 sessions (half on question 1), 10 students each, one student answering
  // twice, one stranger each and one unknown session, all at once: the
  // batches span sessions, yet each costs BEGIN, 3 or 4 statements (the read of what stands only when a candidate was not inserted) and COMMIT
  // (issue 17: a district batch used to cost 4 statements per session)
  const quiz = createQuiz([{}, {}]);
  const sessions = Array.from({ length: 8 }, () => createSession(quiz));
  const students = ids(10);
  const epochs = sessions.map((sid) => addStudents(sid, students));
  const logs = sessions.map((sid) => bus.events(sid));
  try {
    for (const [k, sid] of sessions.entries()) {
      await bus.cmd(sid, 'next');
      if (k % 2) await bus.cmd(sid, 'next');
    }
    const m0 = await Promise.all(['qw_submit_batches_total', 'qw_submit_batch_items_total',
      'qw_submit_batch_statements_total', 'qw_answer_stats_reads_total']
      .map((n) => metric(env.ops.scoring, n)));
    const sends = [];
    for (const student_id of students) {
      for (const [k, sid] of sessions.entries()) {
        const s = { sid, epoch: epochs[k], student_id, question_idx: k % 2 };
        sends.push(bus.submit({ ...s, choice: student_id === 's0' ? 'A' : 'B' }, 10000));
        if (student_id === 's9') sends.push(bus.submit({ ...s, choice: 'C' }, 10000));
        if (student_id === 's5') sends.push(bus.submit({ ...s, student_id: 'stranger', choice: 'B' }, 10000));
      }
    }
    sends.push(bus.submit({ sid: 'no-such-session', epoch: 1, student_id: 's0', question_idx: 0, choice: 'A' }, 10000));
    const got = await Promise.all(sends);
    const m1 = await Promise.all(['qw_submit_batches_total', 'qw_submit_batch_items_total',
      'qw_submit_batch_statements_total', 'qw_answer_stats_reads_total']
      .map((n) => metric(env.ops.scoring, n)));
    const [batches, items, statements] = m1.map((v, i) => v - m0[i]);
    console.log(`# ${items} submits over 8 sessions: ${batches} batches, ${statements} statements`);
    assert.equal(got.at(-1).status, 404);
    assert.equal(got.filter((r) => r.status === 401).length, 8, 'each stranger refused');
    const acks = got.filter((r) => r.status === 'accepted');
    assert.equal(acks.length, 80, JSON.stringify(got.filter((r) => r.status !== 'accepted').slice(0, 3)));
    const dups = got.filter((r) => r.status === 'duplicate');
    assert.equal(dups.length, 8);
    assert.ok(dups.every((r) => r.choice === 'B'), 'the first answer stands');
    for (const [k, sid] of sessions.entries()) {
      const rows = answerRows(sid, k % 2);
      assert.equal(rows.length, 10, `session ${k} on question ${k % 2}`);
      assert.equal(answerRows(sid, 1 - (k % 2)).length, 0);
      for (const r of rows) assert.equal(r.points > 0, r.student_id !== 's0', JSON.stringify(r));
      const st = await logs[k].next('answer_stats', { pred: (e) => e.answered === 10 });
      assert.deepEqual(st.counts, { A: 1, B: 9, C: 0, D: 0 });
      assert.equal(st.question_idx, k % 2);
    }
    assert.ok(batches > 0 && batches <= items / 4, `batched: ${items} submits in ${batches} batches`);
    assert.ok(statements >= 2 * batches && statements <= 6 * batches, `${statements} statements for ${batches} batches`);
    const reads = (await metric(env.ops.scoring, 'qw_answer_stats_reads_total')) - m0[3];
    assert.ok(reads > 0, `answer_stats reads: ${reads}`);
  } finally { for (const l of logs) l.close(); }
});
