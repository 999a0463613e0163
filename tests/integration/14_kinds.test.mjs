// Kinds of question (issue 18, docs/API.md "Kinds of question") against the
// real stack: every validation rule of the pool format per kind (refused
// whole, naming the question and the field), the stored form, the events
// per kind (kind in question_open and the snapshot; answer, answers or no
// reveal in question_closed; counts per label), the multi submit
// (choices: a list) judged right only for exactly the right set, a poll
// counted and never scored, the results JSON and CSVs, and the abuse of the
// new `choices` field (oversize, junk, forged on a single question, flood).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin } from '../lib/stack.mjs';
import { newSession, join, adminWs, results, connect } from '../lib/ws.mjs';
import { sql } from '../lib/fixtures.mjs';

const [GW0, GW1] = env.gateways;
let admin = null;

before(async () => {
  admin = await adminLogin();
});

const q = (over) => ({ text: 'T?', choices: ['1', '2', '3', '4'], answer: 'B', time_limit_s: 30, ...over });

// One question of each kind, six choices on the multi.
const KINDS_POOL = {
  title: 'Kinds',
  questions: [
    { kind: 'multi', text: 'Which are prime?', choices: ['2', '4', '5', '9', '11', '15'], answers: ['E', 'A', 'C'], time_limit_s: 60 },
    { kind: 'truefalse', text: 'The sun is a star', choices: ['True', 'False'], answer: 'A', time_limit_s: 60 },
    { kind: 'poll', text: 'Lunch?', choices: ['Pizza', 'Soup', 'Salad'], time_limit_s: 60 },
    { text: 'Six choices, the last right', choices: ['a', 'b', 'c', 'd', 'e', 'f'], answer: 'F', time_limit_s: 60 },
  ],
};

test('each kind rule is refused whole with 400 invalid_pool naming the question and the field', async () => {
  const pool = (...qs) => ({ title: 'Broken kinds', questions: qs });
  const cases = [
    [pool(q({}), q({ kind: 'poll', answer: 'A' })), 2, 'answer', 'question 2: answer: a poll has no right answer'],
    [pool(q({ kind: 'poll', answer: undefined, answers: ['A'] })), 1, 'answers', 'question 1: answers: a poll has no right answers'],
    [pool(q({ kind: 'truefalse', choices: ['T', 'F'], answer: undefined, answers: ['A', 'B'] })), 1, 'answers',
      'question 1: answers: a truefalse question has one right answer, "answer"'],
    [pool(q({ kind: 'truefalse', choices: ['T', 'F', '?'], answer: 'A' })), 1, 'choices', 'question 1: choices: a truefalse question has exactly 2, got 3'],
    [pool(q({ choices: ['1', '2', '3', '4', '5', '6', '7'] })), 1, 'choices', 'question 1: choices must be a list of 2 to 6 entries'],
    [pool(q({}), q({}), q({ choices: ['1', '2', '3', '4', '5'], answer: 'F' })), 3, 'answer', 'question 3: answer "F" is not one of A, B, C, D, E'],
    [pool(q({ kind: 'multi', answer: undefined, answers: ['A', 'C', 'A'] })), 1, 'answers', 'question 1: answers must be a list of distinct labels of A, B, C, D'],
    [pool(q({ kind: 'multi', answer: undefined, answers: [] })), 1, 'answers', 'question 1: answers must be a list of distinct labels of A, B, C, D'],
    [pool(q({ kind: 'multi', answer: undefined, answers: ['E'] })), 1, 'answers', 'question 1: answers must be a list of distinct labels of A, B, C, D'],
    [pool(q({ kind: 'multi', answer: undefined, answers: 'AC' })), 1, 'answers', 'question 1: answers must be a list of distinct labels of A, B, C, D'],
    [pool(q({ kind: 'multi' })), 1, 'answer', 'question 1: answer: a multi question takes "answers", a list'],
    [pool(q({ answers: ['B'] })), 1, 'answers', 'question 1: answers: a single question has one right answer, "answer"'],
    [pool(q({ kind: 'essay' })), 1, 'kind', 'question 1: kind must be single, multi, truefalse or poll'],
    [pool(q({ kind: 7 })), 1, 'kind', 'question 1: kind must be single, multi, truefalse or poll'],
    [pool(q({ image: '../etc/passwd' })), 1, 'image', 'question 1: image must be a picture id (64 lowercase hex digits)'],
  ];
  const before = sql('SELECT count(*) FROM quizzes')[0][0] + '/' + sql('SELECT count(*) FROM questions')[0][0];
  for (const [body, question, field, message] of cases) {
    const res = await http(GW0, 'POST', '/admin/api/quizzes', { cookie: admin, body });
    assert.equal(res.status, 400, message);
    assert.deepEqual(res.json, { error: 'invalid_pool', message, question, field });
  }
  // about the pool, not a question: no `question`, the field
  const none = await http(GW1, 'POST', '/admin/api/quizzes', { cookie: admin, body: { title: 'x', questions: [] } });
  assert.deepEqual(none.json, { error: 'invalid_pool', message: 'questions must be a list of at least one question', field: 'questions' });
  assert.equal(sql('SELECT count(*) FROM quizzes')[0][0] + '/' + sql('SELECT count(*) FROM questions')[0][0], before,
    'nothing of a refused pool is stored');
});

test('a pool of every kind is stored with its kind; a multi answer sorted ("ACE"), a poll none', async () => {
  const res = await http(GW0, 'POST', '/admin/api/quizzes', { cookie: admin, body: KINDS_POOL });
  assert.equal(res.status, 200, res.text);
  const rows = sql(`SELECT kind, COALESCE(answer, 'NULL'), jsonb_array_length(choices) FROM questions WHERE quiz_id = ${res.json.quiz_id} ORDER BY idx`);
  assert.deepEqual(rows, [['multi', 'ACE', '6'], ['truefalse', 'A', '2'], ['poll', 'NULL', '3'], ['single', 'F', '6']]);
  // the database itself refuses what the format refuses
  assert.throws(() => sql(`INSERT INTO questions (quiz_id, idx, text, choices, answer, time_limit_s, kind) VALUES (${res.json.quiz_id}, 9, 't', '["a","b"]', 'A', 20, 'poll')`));
  assert.throws(() => sql(`INSERT INTO questions (quiz_id, idx, text, choices, answer, time_limit_s, kind) VALUES (${res.json.quiz_id}, 9, 't', '["a","b"]', 'CA', 20, 'multi')`));
  assert.throws(() => sql(`INSERT INTO questions (quiz_id, idx, text, choices, answer, time_limit_s, kind) VALUES (${res.json.quiz_id}, 9, 't', '["a","b"]', 'AB', 20, 'single')`));
});

// Plays KINDS_POOL with students right / wrong / superset on the multi.
test('one question of each kind: events carry the kind, the multi is right only for the exact set, a poll counts and scores 0', { timeout: 90000 }, async () => {
  const { sid } = await newSession(admin, KINDS_POOL);
  const host = adminWs(GW0, admin, sid);
  await host.opened;
  await host.next('snapshot');
  const names = ['right', 'subset', 'superset', 'junk'];
  const st = {};
  for (const [i, id] of names.entries()) {
    const { cookie } = await join(i % 2 ? GW1 : GW0, sid, `k-${id}`);
    st[id] = (await connect(i % 2 ? GW0 : GW1, cookie)).ws;
  }
  const openQ = async (idx) => {
    host.send({ type: 'next' });
    const h = await host.next('question_open', { pred: (m) => m.question_idx === idx });
    for (const ws of Object.values(st)) await ws.next('question_open', { pred: (m) => m.question_idx === idx });
    return h;
  };
  const submit = async (ws, idx, body) => {
    ws.send({ type: 'submit', question_idx: idx, ...body });
    return ws.next('submit_ack', { pred: (m) => m.question_idx === idx });
  };

  // q0, multi: the right set is A, C, E
  const o0 = await openQ(0);
  assert.equal(o0.kind, 'multi');
  assert.equal(o0.answers, undefined, 'no reveal while open');
  assert.equal(o0.choices.length, 6);
  let ack = await submit(st.right, 0, { choices: ['E', 'C', 'A'] });
  assert.deepEqual([ack.status, ack.choices, ack.choice], ['accepted', ['A', 'C', 'E'], undefined], 'the ack echoes the set, sorted');
  ack = await submit(st.subset, 0, { choices: ['A', 'C'] });
  assert.equal(ack.status, 'accepted');
  ack = await submit(st.superset, 0, { choices: ['A', 'B', 'C', 'E'] });
  assert.equal(ack.status, 'accepted');
  ack = await submit(st.junk, 0, { choice: 'A' });
  assert.equal(ack.status, 'invalid', 'a multi takes a list');
  ack = await submit(st.right, 0, { choices: ['B'] });
  assert.deepEqual([ack.status, ack.choices], ['duplicate', ['A', 'C', 'E']], 'the first answer stands');
  // a student's snapshot mid-question carries the kind, not the answer
  const mid = await connect(GW1, (await join(GW1, sid, 'k-late')).cookie);
  assert.equal(mid.snap.question.kind, 'multi');
  assert.equal(mid.snap.answers, undefined);
  mid.ws.close();
  host.send({ type: 'close' });
  const c0 = await host.next('question_closed', { pred: (m) => m.question_idx === 0 });
  assert.deepEqual(c0.answers, ['A', 'C', 'E']);
  assert.equal(c0.answer, undefined);
  assert.equal(c0.kind, 'multi');
  assert.deepEqual(c0.counts, { A: 3, B: 1, C: 3, D: 0, E: 2, F: 0 }, 'each label picked is counted');
  const mine0 = await st.right.next('question_closed', { pred: (m) => m.question_idx === 0 });
  assert.ok(mine0.points >= 500, `right set scores (${mine0.points})`);
  assert.equal(mine0.my_choice, 'ACE');
  assert.equal((await st.subset.next('question_closed')).points, 0, 'a subset scores 0');
  assert.equal((await st.superset.next('question_closed')).points, 0, 'a superset scores 0');

  // q1, truefalse
  const o1 = await openQ(1);
  assert.equal(o1.kind, 'truefalse');
  assert.equal((await submit(st.right, 1, { choice: 'A' })).status, 'accepted');
  assert.equal((await submit(st.subset, 1, { choice: 'B' })).status, 'accepted');
  ack = await submit(st.superset, 1, { choice: 'C' });
  assert.equal(ack.status, 'invalid', 'a truefalse has two labels');
  ack = await submit(st.junk, 1, { choices: ['A'] });
  assert.deepEqual([ack.status, ack.choices], ['invalid', ['A']], 'choices on a one-answer question is invalid');
  host.send({ type: 'close' });
  const c1 = await host.next('question_closed', { pred: (m) => m.question_idx === 1 });
  assert.deepEqual([c1.kind, c1.answer, c1.answers, c1.counts], ['truefalse', 'A', undefined, { A: 1, B: 1 }]);

  // q2, poll: counted, never scored, no reveal
  const o2 = await openQ(2);
  assert.equal(o2.kind, 'poll');
  for (const [id, l] of [['right', 'A'], ['subset', 'B'], ['superset', 'B']])
    assert.equal((await submit(st[id], 2, { choice: l })).status, 'accepted');
  host.send({ type: 'close' });
  const c2 = await host.next('question_closed', { pred: (m) => m.question_idx === 2 });
  assert.equal(c2.kind, 'poll');
  assert.ok(!('answer' in c2) && !('answers' in c2), 'a poll reveals nothing');
  assert.deepEqual(c2.counts, { A: 1, B: 2, C: 0 });
  const p2 = await st.right.next('question_closed', { pred: (m) => m.question_idx === 2 });
  assert.equal(p2.points, 0, 'a poll gives 0 points');
  // a reload after the poll closed: the snapshot has the counts, no answer
  const again = await connect(GW0, (await join(GW0, sid, 'k-reload')).cookie);
  assert.equal(again.snap.question.kind, 'poll');
  assert.deepEqual(again.snap.counts, { A: 1, B: 2, C: 0 });
  assert.ok(!('answer' in again.snap) && !('answers' in again.snap));
  again.ws.close();

  // q3, single with six choices: F right
  await openQ(3);
  assert.equal((await submit(st.right, 3, { choice: 'F' })).status, 'accepted');
  assert.equal((await submit(st.subset, 3, { choice: 'G' })).status, 'invalid');
  host.send({ type: 'close' });
  const c3 = await host.next('question_closed', { pred: (m) => m.question_idx === 3 });
  assert.deepEqual([c3.kind, c3.answer, c3.counts.F], ['single', 'F', 1]);
  host.send({ type: 'end' });
  await host.next('session_ended');

  // the record: poll rows 0 points and correct null; the multi as the set
  const r = await results(admin, sid);
  const by = Object.fromEntries(r.students.map((s) => [s.student_id, s]));
  const a0 = by['k-right'].answers.find((a) => a.question_idx === 0);
  assert.deepEqual([a0.choice, a0.choices, a0.correct], ['ACE', ['A', 'C', 'E'], true]);
  assert.equal(by['k-superset'].answers.find((a) => a.question_idx === 0).correct, false);
  for (const s of r.students)
    for (const a of s.answers.filter((x) => x.question_idx === 2)) assert.deepEqual([a.correct, a.points], [null, 0]);
  const rq = Object.fromEntries(r.questions.map((x) => [x.question_idx, x]));
  assert.deepEqual([rq[0].kind, rq[0].answers, rq[0].correct, rq[0].answered], ['multi', ['A', 'C', 'E'], 1, 3]);
  assert.deepEqual([rq[2].kind, rq[2].answer, rq[2].correct, rq[2].share_right, rq[2].answered], ['poll', undefined, null, null, 3]);
  assert.equal(r.questions.at(-1).kind, 'poll', 'a poll is never the hardest question');
  const csv = await http(GW1, 'GET', `/admin/api/sessions/${sid}/results.csv`, { cookie: admin });
  assert.ok(csv.text.includes('k-right,k-right,'), csv.text);
  assert.match(csv.text, /,0,A\+C\+E,true,\d+,\d+\r\n/, 'a multi choice is the set');
  assert.match(csv.text, /,2,A,,0,\d+\r\n/, 'a poll row has no correct');
  const rep = await http(GW0, 'GET', `/admin/api/sessions/${sid}/report.csv`, { cookie: admin });
  const lines = rep.text.split('\r\n');
  assert.equal(lines[0], 'question_idx,kind,text,answer,answered,correct,share_right,median_ms,A,B,C,D,E,F');
  assert.ok(lines.some((l) => l.startsWith('0,multi,Which are prime?,A+C+E,3,1,')), rep.text);
  assert.ok(lines.some((l) => /^2,poll,Lunch\?,,3,,,\d+,1,2,0,,,$/.test(l)), rep.text);
  for (const ws of Object.values(st)) ws.close();
  host.close();
});

test('choices abuse: junk, oversize and both fields get bad_field and record nothing; a flood closes 1008', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, KINDS_POOL);
  const host = adminWs(GW1, admin, sid);
  await host.opened;
  await host.next('snapshot');
  const { cookie } = await join(GW0, sid, 'k-abuser');
  const { ws } = await connect(GW0, cookie);
  host.send({ type: 'next' });
  await ws.next('question_open');
  const junk = [
    { choices: [] },
    { choices: ['A', 'A'] },
    { choices: ['A', 'B', 'C', 'D', 'E', 'F', 'A'] },
    { choices: Array.from({ length: 500 }, () => 'A') },
    { choices: ['G'] },
    { choices: ['a'] },
    { choices: ['AB'] },
    { choices: [1] },
    { choices: 'AC' },
    { choices: { A: true } },
    { choices: ['A'], choice: 'A' },
  ];
  for (const body of junk) {
    ws.send({ type: 'submit', question_idx: 0, ...body });
    const err = await ws.next('error');
    assert.equal(err.code, 'bad_field', JSON.stringify(body));
  }
  // a frame over the size limit closes 1009 (the existing bound covers a huge list)
  assert.equal(sql(`SELECT count(*) FROM answers WHERE sid = '${sid}'`)[0][0], '0', 'nothing recorded');
  // the socket still works
  ws.send({ type: 'submit', question_idx: 0, choices: ['C', 'A', 'E'] });
  assert.equal((await ws.next('submit_ack')).status, 'accepted');
  // a flood of bad lists closes the socket with 1008
  for (let i = 0; i < 60; i++) ws.send({ type: 'submit', question_idx: 0, choices: ['Z'] });
  assert.equal((await ws.waitClose()).code, 1008);
  const big = (await connect(GW1, cookie)).ws;
  big.send(JSON.stringify({ type: 'submit', question_idx: 0, choices: Array.from({ length: 5000 }, () => 'A') }));
  assert.equal((await big.waitClose()).code, 1009, 'an oversize list closes 1009');
  assert.equal(sql(`SELECT choice FROM answers WHERE sid = '${sid}'`)[0][0], 'ACE', 'only the good submit is recorded');
  host.close();
});
