// Session `main` follows the file QUIZ_POOL_PATH names (tests/run.sh points
// it at a copy of the demo pool): a changed file becomes main's quiz at its
// next reset and at a restart while main is in its lobby, as a new quiz
// (the old one stays as it was); a bad file leaves main as it was and says
// why in one log line; an unchanged file changes nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, adminLogin, waitFor, pidOf, alive, makePool } from '../lib/stack.mjs';

const GW = env.gateways[0];
const poolPath = process.env.QUIZ_POOL_PATH;
const demo = fs.readFileSync(path.join(env.root, 'examples/demo10_pool.json'), 'utf8');
const sessionLog = () => fs.readFileSync(path.join(env.logDir, 'session.log'), 'utf8');

async function mainSession(admin) {
  const res = await http(GW, 'GET', '/admin/api/sessions/main', { cookie: admin });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function reset(admin) {
  const res = await http(GW, 'POST', '/admin/api/reset', { cookie: admin, body: {} });
  assert.equal(res.status, 200, res.text);
}

after(async () => {
  // leave main on the demo pool for the files after this one
  fs.writeFileSync(poolPath, demo);
  await reset(await adminLogin());
});

test('a changed pool file becomes main\'s quiz at its reset; the old quiz keeps its questions', async () => {
  assert.ok(poolPath && poolPath.startsWith(process.env.QW_TEST_TMP), 'QUIZ_POOL_PATH is the test copy');
  const admin = await adminLogin();
  await reset(admin);
  const before = await mainSession(admin);
  assert.equal(before.question_count, JSON.parse(demo).questions.length);

  await reset(admin); // unchanged file: same quiz
  assert.equal((await mainSession(admin)).quiz_id, before.quiz_id, 'an unchanged file keeps the quiz');

  fs.writeFileSync(poolPath, JSON.stringify(makePool(3, { title: 'Pool of the day v2' })));
  await reset(admin);
  const after2 = await mainSession(admin);
  assert.equal(after2.title, 'Pool of the day v2');
  assert.equal(after2.question_count, 3);
  assert.notEqual(after2.quiz_id, before.quiz_id, 'a new quiz, not the old one edited');
  assert.equal(after2.join_code, before.join_code, 'the join code stays');
  const list = await http(GW, 'GET', '/admin/api/quizzes', { cookie: admin });
  const old = list.json.quizzes.find((q) => String(q.quiz_id) === String(before.quiz_id));
  assert.equal(old.question_count, before.question_count, 'the old quiz is as it was');
});

test('a bad pool file leaves main as it was and says why in one log line', async () => {
  const admin = await adminLogin();
  const was = await mainSession(admin);
  const pool = makePool(2, { title: 'Broken' });
  pool.questions[1].answer = 'Q';
  const lines = sessionLog().split('\n').length;
  fs.writeFileSync(poolPath, JSON.stringify(pool));
  await reset(admin);
  const now = await mainSession(admin);
  assert.equal(now.quiz_id, was.quiz_id);
  assert.equal(now.title, was.title);
  const fresh = await waitFor('the pool_load_failed line', () => {
    const hits = sessionLog().split('\n').slice(lines - 1).filter((l) => /event=pool_load_failed/.test(l));
    return hits.length ? hits : null;
  });
  assert.equal(fresh.length, 1, fresh.join('\n'));
  assert.match(fresh[0], /var=QUIZ_POOL_PATH .*question/, fresh[0]);

  fs.writeFileSync(poolPath, '{"title": "cut off');
  await reset(admin);
  assert.equal((await mainSession(admin)).quiz_id, was.quiz_id, 'unparsable file: main unchanged');
});

test('a session daemon started with a changed file gives main the new pool while main is in its lobby', async () => {
  const admin = await adminLogin();
  fs.writeFileSync(poolPath, JSON.stringify(makePool(4, { title: 'Pool after restart' })));
  const pid = pidOf('session');
  process.kill(pid, 'SIGKILL');
  await waitFor('the session daemon to be restarted', () => { const p = pidOf('session'); return p && p !== pid && alive(p); }, { timeout: 15000 });
  const now = await waitFor('main to hold the new pool', async () => {
    const res = await http(GW, 'GET', '/admin/api/sessions/main', { cookie: admin });
    return res.status === 200 && res.json.title === 'Pool after restart' && res.json;
  }, { timeout: 20000 });
  assert.equal(now.question_count, 4);
  assert.equal(now.state, 'lobby');
});
