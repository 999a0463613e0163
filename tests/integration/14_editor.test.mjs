// The quiz editor's routes (issue 18, docs/API.md "Quiz editor"): one
// quiz's pool, replace, duplicate, delete, validate, export. A version a
// session has used is never changed: saving it stores a new quiz that
// replaces it in the list, and the old session's results stay as they were;
// a deleted quiz leaves the list and its played sessions keep their
// results. Every route needs the admin token; writes follow the Origin and
// JSON rules of every admin write; a refused pool changes nothing.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool } from '../lib/stack.mjs';
import { newSession, join, studentWs, command, results } from '../lib/ws.mjs';
import { sql } from '../lib/fixtures.mjs';

const GW = env.gateways[0];
const GW2 = env.gateways[1] || env.gateways[0];
let admin;

const req = (method, p, body, extra = {}) => http(GW, method, p, { cookie: admin, body, ...extra });

async function store(pool) {
  const r = await req('POST', '/admin/api/quizzes', pool);
  assert.equal(r.status, 200, r.text);
  return r.json.quiz_id;
}

async function listed() {
  const r = await req('GET', '/admin/api/quizzes');
  assert.equal(r.status, 200, r.text);
  return r.json.quizzes;
}

async function getQuiz(id, base = GW) {
  const r = await http(base, 'GET', `/admin/api/quizzes/${id}`, { cookie: admin });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

before(async () => { admin = await adminLogin(); });

test('every editor route answers 401 without the admin token, and nothing changes', async () => {
  const id = await store(makePool(2, { title: 'Locked away' }));
  const routes = [
    ['GET', `/admin/api/quizzes/${id}`], ['PUT', `/admin/api/quizzes/${id}`, makePool(1)],
    ['DELETE', `/admin/api/quizzes/${id}`], ['POST', `/admin/api/quizzes/${id}/duplicate`],
    ['POST', '/admin/api/quizzes/validate', makePool(1)], ['GET', `/admin/api/quizzes/${id}/export.csv`],
    ['GET', `/admin/api/quizzes/${id}/export.json`],
  ];
  for (const cookie of [undefined, 'qw_admin=forged.token.value']) {
    for (const [method, p, body] of routes) {
      const r = await http(GW, method, p, { cookie, body });
      assert.equal(r.status, 401, `${method} ${p}: ${r.text}`);
      assert.equal(r.json.error, 'unauthorized');
      assert.ok(!r.text.includes('Question 1'), 'no data in a 401');
    }
  }
  const q = await getQuiz(id);
  assert.equal(q.version, 1);
  assert.equal(q.questions.length, 2);
  assert.ok((await listed()).some((x) => x.quiz_id === id));
});

test('an unknown or malformed id is 404 on every route', async () => {
  for (const id of ['999999999', 'abc', '0', '-1', '1e3', '12345678901234567890']) {
    for (const [method, p, body] of [['GET', `/admin/api/quizzes/${id}`], ['PUT', `/admin/api/quizzes/${id}`, makePool(1)],
      ['DELETE', `/admin/api/quizzes/${id}`], ['POST', `/admin/api/quizzes/${id}/duplicate`],
      ['GET', `/admin/api/quizzes/${id}/export.csv`], ['GET', `/admin/api/quizzes/${id}/export.json`]]) {
      const r = await req(method, p, body);
      assert.equal(r.status, 404, `${method} ${p}: ${r.text}`);
      assert.equal(r.json.error, 'unknown_quiz');
    }
  }
});

test('list, get, edit in place, duplicate, export and delete a quiz nobody played', async () => {
  const id = await store({ title: 'Capitals', questions: [
    { text: 'Capital of France?', choices: ['Paris', 'Rome'], answer: 'A' },
    { text: '=1+1 is a formula?', choices: ['yes, "quoted"', 'no, it is text'], answer: 'B', time_limit_s: 30 }] });
  let row = (await listed()).find((x) => x.quiz_id === id);
  assert.deepEqual([row.title, row.question_count, row.version, row.played], ['Capitals', 2, 1, false]);
  assert.match(row.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const got = await getQuiz(id, GW2);
  assert.equal(got.title, 'Capitals');
  assert.deepEqual(got.questions[0], { kind: 'single', text: 'Capital of France?', choices: ['Paris', 'Rome'], answer: 'A', time_limit_s: 20 });
  assert.equal(got.questions[1].time_limit_s, 30);

  // the exported pool goes back in as it is: PUT edits it in place (same id)
  const exported = await req('GET', `/admin/api/quizzes/${id}/export.json`);
  assert.equal(exported.status, 200);
  assert.match(exported.headers.get('content-disposition'), new RegExp(`attachment; filename="quiz-${id}\\.json"`));
  const pool = JSON.parse(exported.text);
  assert.deepEqual(Object.keys(pool).sort(), ['questions', 'title']);
  pool.title = 'Capitals of Europe';
  pool.questions.reverse();
  pool.questions.push({ text: 'Capital of Spain?', choices: ['Lisbon', 'Madrid', 'Porto'], answer: 'B' });
  const put = await req('PUT', `/admin/api/quizzes/${id}`, pool);
  assert.equal(put.status, 200, put.text);
  assert.deepEqual([put.json.quiz_id, put.json.version, put.json.new_version, put.json.question_count], [id, 2, false, 3]);
  const after = await getQuiz(id);
  assert.equal(after.title, 'Capitals of Europe');
  assert.deepEqual(after.questions.map((q) => q.text), ['=1+1 is a formula?', 'Capital of France?', 'Capital of Spain?']);
  row = (await listed()).find((x) => x.quiz_id === id);
  assert.deepEqual([row.title, row.question_count, row.version], ['Capitals of Europe', 3, 2]);

  // the CSV template: formula cells defused, quotes doubled, the answer letters
  const csv = await req('GET', `/admin/api/quizzes/${id}/export.csv`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  const lines = csv.text.split('\r\n');
  assert.equal(lines[0], 'question,kind,choice A,choice B,choice C,choice D,choice E,choice F,right answer(s),time limit (s),image');
  assert.equal(lines[1], '\'=1+1 is a formula?,single,"yes, ""quoted""","no, it is text",,,,,B,30,');
  assert.equal(lines[3], 'Capital of Spain?,single,Lisbon,Madrid,Porto,,,,B,20,');

  const dup = await req('POST', `/admin/api/quizzes/${id}/duplicate`);
  assert.equal(dup.status, 200, dup.text);
  assert.notEqual(dup.json.quiz_id, id);
  assert.equal(dup.json.title, 'Capitals of Europe (copy)');
  const copy = await getQuiz(dup.json.quiz_id);
  assert.deepEqual(copy.questions, after.questions);
  assert.equal(copy.version, 1);

  const del = await req('DELETE', `/admin/api/quizzes/${id}`);
  assert.equal(del.status, 200, del.text);
  assert.ok(!(await listed()).some((x) => x.quiz_id === id), 'a deleted quiz leaves the list');
  assert.equal((await req('GET', `/admin/api/quizzes/${id}`)).status, 404);
  assert.equal((await req('DELETE', `/admin/api/quizzes/${id}`)).status, 404, 'deleted once');
  const s = await req('POST', '/admin/api/sessions', { quiz_id: id });
  assert.equal(s.status, 404, 'no new session of a deleted quiz');
  assert.ok((await listed()).some((x) => x.quiz_id === dup.json.quiz_id), 'the copy stays');
});

test('editing a played quiz stores a new version; the played session keeps its questions and results', async () => {
  const pool = makePool(2, { title: 'Played once' });
  const id = await store(pool);
  const s = await http(GW, 'POST', '/admin/api/sessions', { cookie: admin, body: { quiz_id: id } });
  assert.equal(s.status, 200, s.text);
  const sid = s.json.sid;
  const st = await join(GW, sid, 'ed-1', 'Ada');
  const ws = studentWs(GW, st.cookie);
  await ws.opened;
  await ws.next('snapshot');
  await command(admin, sid, 'next');
  await ws.next('question_open');
  ws.send({ type: 'submit', question_idx: 0, choice: 'B' });
  assert.equal((await ws.next('submit_ack')).status, 'accepted');
  await command(admin, sid, 'end');
  ws.close();
  const before = await results(admin, sid);
  assert.equal(before.students[0].answers[0].correct, true);

  assert.equal((await listed()).find((x) => x.quiz_id === id).played, true);
  const edited = makePool(3, { title: 'Played once, edited', answers: ['A'] });
  edited.questions[0].text = 'A new first question';
  const put = await req('PUT', `/admin/api/quizzes/${id}`, edited);
  assert.equal(put.status, 200, put.text);
  const nid = put.json.quiz_id;
  assert.notEqual(nid, id);
  assert.deepEqual([put.json.version, put.json.new_version, put.json.replaces], [2, true, id]);

  const list = await listed();
  assert.ok(!list.some((x) => x.quiz_id === id), 'the played version leaves the list');
  const row = list.find((x) => x.quiz_id === nid);
  assert.deepEqual([row.title, row.version, row.played, row.question_count], ['Played once, edited', 2, false, 3]);

  const old = await getQuiz(id);
  assert.equal(old.replaced_by, nid);
  assert.deepEqual(old.questions, pool.questions.map((q) => ({ kind: 'single', ...q })));
  const after = await results(admin, sid);
  assert.deepEqual(after, before, 'the old session\'s results do not change');
  const info = await req('GET', `/admin/api/sessions/${sid}`);
  assert.equal(info.json.quiz_id, id);
  assert.equal(info.json.question_count, 2);

  // a second tab still on the old version is told, and nothing changes
  const stale = await req('PUT', `/admin/api/quizzes/${id}`, makePool(1));
  assert.equal(stale.status, 409, stale.text);
  assert.deepEqual([stale.json.error, stale.json.replaced_by], ['quiz_replaced', nid]);
  assert.equal((await getQuiz(nid)).questions.length, 3);
  // ... and cannot start a class on the old questions either
  const sessionsBefore = sql(`SELECT count(*) FROM sessions WHERE quiz_id = ${Number(id)}`)[0][0];
  const start = await req('POST', '/admin/api/sessions', { quiz_id: id });
  assert.equal(start.status, 409, start.text);
  assert.deepEqual([start.json.error, start.json.replaced_by], ['quiz_replaced', nid]);
  assert.match(start.json.message, new RegExp(`quiz ${nid}`));
  assert.equal(sql(`SELECT count(*) FROM sessions WHERE quiz_id = ${Number(id)}`)[0][0], sessionsBefore);
  const fresh = await req('POST', '/admin/api/sessions', { quiz_id: nid });
  assert.equal(fresh.status, 200, fresh.text);

  // delete hides every version; the played session's results stay
  assert.equal((await req('DELETE', `/admin/api/quizzes/${nid}`)).status, 200);
  assert.equal((await req('GET', `/admin/api/quizzes/${id}`)).status, 404);
  assert.deepEqual(await results(admin, sid), before);
  const report = await req('GET', `/admin/api/sessions/${sid}/report.csv`);
  assert.equal(report.status, 200);
});

test('validate runs the upload\'s check and names the question and the field; nothing is stored', async () => {
  const count = (await listed()).length;
  const ok = await req('POST', '/admin/api/quizzes/validate', makePool(3));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.question_count, 3);
  const q = (over) => ({ text: 'Q?', choices: ['a', 'b'], answer: 'A', ...over });
  const cases = [
    [{ questions: [q(), q({ text: '' })] }, 2, 'text'],
    [{ questions: [q({ choices: ['only one'] })] }, 1, 'choices'],
    [{ questions: [q(), q(), q({ choices: ['a', ''] })] }, 3, 'choices'],
    [{ questions: [q({ answer: undefined })] }, 1, 'answer'],
    [{ questions: [q({ answer: 'C' })] }, 1, 'answer'],
    [{ questions: [q({ time_limit_s: 4 })] }, 1, 'time_limit_s'],
    [{ questions: [q({ time_limit_s: '20' })] }, 1, 'time_limit_s'],
    [{ questions: [q(), 'not an object'] }, 2, 'question'],
    [{ title: 7, questions: [q()] }, undefined, 'title'],
    [{ title: 'x'.repeat(201), questions: [q()] }, undefined, 'title'],
    [{ questions: [] }, undefined, 'questions'],
    [{ questions: Array.from({ length: 501 }, () => q()) }, undefined, 'questions'],
  ];
  for (const [pool, question, field] of cases) {
    for (const [method, p] of [['POST', '/admin/api/quizzes/validate'], ['POST', '/admin/api/quizzes']]) {
      const r = await req(method, p, pool);
      assert.equal(r.status, 400, `${p} ${JSON.stringify(pool).slice(0, 80)}: ${r.text}`);
      assert.equal(r.json.error, 'invalid_pool');
      assert.equal(r.json.question, question, r.text);
      assert.equal(r.json.field, field, r.text);
      if (question) assert.match(r.json.message, new RegExp(`^question ${question}: `));
    }
  }
  // a refused PUT changes nothing either
  const id = await store(makePool(2, { title: 'Kept' }));
  const bad = await req('PUT', `/admin/api/quizzes/${id}`, { questions: [q({ answer: 'Z' })] });
  assert.equal(bad.status, 400);
  assert.deepEqual([bad.json.question, bad.json.field], [1, 'answer']);
  const kept = await getQuiz(id);
  assert.deepEqual([kept.title, kept.version, kept.questions.length], ['Kept', 1, 2]);
  assert.equal((await listed()).length, count + 1, 'validate stored nothing');
});

test('editor writes follow the Origin and JSON rules of every admin write', async () => {
  const id = await store(makePool(1, { title: 'Origin' }));
  const writes = [['PUT', `/admin/api/quizzes/${id}`, makePool(2)], ['DELETE', `/admin/api/quizzes/${id}`],
    ['POST', `/admin/api/quizzes/${id}/duplicate`], ['POST', '/admin/api/quizzes/validate', makePool(1)]];
  const count = (await listed()).length;
  for (const [method, p, body] of writes) {
    const foreign = await req(method, p, body, { headers: { origin: 'http://evil.example', 'content-type': 'application/json' } });
    assert.equal(foreign.status, 403, `${method} ${p}: ${foreign.text}`);
    assert.equal(foreign.json.error, 'forbidden_origin');
    const own = new URL(GW).origin;
    if (body) {
      const plain = await req(method, p, JSON.stringify(body), { headers: { origin: own, 'content-type': 'text/plain' } });
      assert.equal(plain.status, 415, `${method} ${p}: ${plain.text}`);
    }
    const notJson = body ? await req(method, p, '{"questions": [', { headers: { 'content-type': 'application/json' } }) : null;
    if (notJson) assert.equal(notJson.status, 400);
  }
  const q = await getQuiz(id);
  assert.deepEqual([q.version, q.questions.length], [1, 1]);
  assert.equal((await listed()).length, count, 'nothing was duplicated or deleted');
});

test('a pool over 1 MiB is refused with 413 on PUT and validate, and a flood of saves stays consistent', async () => {
  const id = await store(makePool(1, { title: 'Flood' }));
  const big = { title: 'big', questions: [{ text: 'x'.repeat(1024 * 1024 + 10), choices: ['a', 'b'], answer: 'A' }] };
  for (const p of [`/admin/api/quizzes/${id}`, '/admin/api/quizzes/validate']) {
    const r = await req(p.endsWith('validate') ? 'POST' : 'PUT', p, big);
    assert.equal(r.status, 413, `${p}: ${r.text}`);
  }
  assert.equal((await getQuiz(id)).version, 1);

  // 40 saves at once of a quiz nobody played: each is whole, in turn
  const saves = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    req('PUT', `/admin/api/quizzes/${id}`, makePool(1 + (i % 5), { title: `Flood ${i}` }))));
  for (const r of saves) assert.equal(r.status, 200, r.text);
  const q = await getQuiz(id);
  assert.equal(q.version, 41);
  const winner = saves.find((r) => r.json.version === 41).json;
  assert.deepEqual([q.title, q.questions.length], [winner.title, winner.question_count]);

  // 20 saves at once of a played quiz: one new version, the rest told 409
  const s = await req('POST', '/admin/api/sessions', { quiz_id: id });
  assert.equal(s.status, 200, s.text);
  const racing = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    req('PUT', `/admin/api/quizzes/${id}`, makePool(2, { title: `Race ${i}` }))));
  const won = racing.filter((r) => r.status === 200);
  assert.equal(won.length, 1, racing.map((r) => r.status).join(','));
  assert.ok(racing.every((r) => r.status === 200 || (r.status === 409 && r.json.replaced_by === won[0].json.quiz_id)));
  assert.equal((await listed()).filter((x) => x.title.startsWith('Race ')).length, 1);

  // 200 validations at once: every one answered
  const checks = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    req('POST', '/admin/api/quizzes/validate', i % 2 ? makePool(2) : { questions: [] })));
  assert.ok(checks.every((r, i) => r.status === (i % 2 ? 200 : 400)), checks.map((r) => r.status).join(','));
});

test('each kind goes out and back: GET gives the pool format (multi as answers), PUT takes it back, the CSV writes A;C', async () => {
  const pool = { title: 'Kinds round trip', questions: [
    { kind: 'multi', text: 'Primes?', choices: ['2', '4', '7', '9', '11', '15'], answers: ['A', 'C', 'E'], time_limit_s: 30 },
    { kind: 'truefalse', text: 'The sun is a star.', choices: ['True', 'False'], answer: 'A' },
    { kind: 'poll', text: 'Next topic?', choices: ['Fractions', 'Geometry', 'Equations'] }] };
  const id = await store(pool);
  const got = await getQuiz(id);
  assert.deepEqual(got.questions.map((q) => [q.kind, q.answer, q.answers]),
    [['multi', undefined, ['A', 'C', 'E']], ['truefalse', 'A', undefined], ['poll', undefined, undefined]]);
  const put = await req('PUT', `/admin/api/quizzes/${id}`, { title: got.title, questions: got.questions });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual((await getQuiz(id)).questions, got.questions);
  const csv = (await req('GET', `/admin/api/quizzes/${id}/export.csv`)).text.split('\r\n');
  assert.equal(csv[1], 'Primes?,multi,2,4,7,9,11,15,A;C;E,30,');
  assert.equal(csv[2], 'The sun is a star.,truefalse,True,False,,,,,A,20,');
  assert.equal(csv[3], 'Next topic?,poll,Fractions,Geometry,Equations,,,,,20,');
});
