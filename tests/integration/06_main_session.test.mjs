// The default session `main`: loaded at start-up from QUIZ_POOL_PATH (the
// demo pool), joinable by its code, and reset by POST /admin/api/reset to
// its lobby with every student and answer cleared and old tokens dead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, adminLogin, wsUrl } from '../lib/stack.mjs';
import { join, connect, command, refusedStatus } from '../lib/ws.mjs';

const [GW0, GW1] = env.gateways;

test('session main holds the demo pool loaded from QUIZ_POOL_PATH', async () => {
  const admin = await adminLogin();
  const demo = JSON.parse(fs.readFileSync(path.join(env.root, 'examples/demo10_pool.json'), 'utf8'));
  const res = await http(GW1, 'GET', '/admin/api/sessions/main', { cookie: admin });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.sid, 'main');
  assert.equal(res.json.title, demo.title);
  assert.equal(res.json.question_count, demo.questions.length);
  assert.match(res.json.join_code, /^[0-9]{6}$/);
});

test('POST /admin/api/reset returns main to its lobby, clears its students and kills their tokens', async () => {
  const admin = await adminLogin();
  await http(GW0, 'POST', '/admin/api/reset', { cookie: admin, body: {} });
  const before = await http(GW0, 'GET', '/admin/api/sessions/main', { cookie: admin });
  const byCode = await http(GW1, 'POST', '/api/join', { body: { join_code: before.json.join_code, student_id: 'main-1', name: 'Main One' } });
  assert.equal(byCode.status, 200, byCode.text);
  assert.equal(byCode.json.sid, 'main');
  const student = await join(GW0, 'main', 'main-2', 'Main Two');
  const a = await connect(GW1, student.cookie);
  assert.equal(a.snap.state, 'lobby');
  await command(admin, 'main', 'next');
  const open = await a.ws.next('question_open');
  a.ws.send({ type: 'submit', question_idx: open.question_idx, choice: 'A' });
  assert.equal((await a.ws.next('submit_ack')).status, 'accepted');

  const reset = await http(GW1, 'POST', '/admin/api/reset', { cookie: admin, body: {} });
  assert.equal(reset.status, 200, reset.text);
  assert.equal((await a.ws.waitClose()).code, 4001, 'the student is told the session was reset');

  const after = await http(GW0, 'GET', '/admin/api/sessions/main', { cookie: admin });
  assert.equal(after.json.state, 'lobby');
  assert.equal(after.json.question_idx, -1);
  assert.equal(after.json.players, 0);
  const results = await http(GW0, 'GET', '/admin/api/sessions/main/results', { cookie: admin });
  assert.deepEqual(results.json.students, []);
  // the old token is no longer honoured; joining again works
  assert.equal(await refusedStatus(wsUrl(GW0, '/ws'), { cookie: student.cookie }), 401);
  const again = await join(GW1, 'main', 'main-2', 'Main Two');
  const b = await connect(GW0, again.cookie);
  assert.equal(b.snap.state, 'lobby');
  assert.equal(b.snap.my_choice, null);
  assert.equal(b.snap.score, 0);
  b.ws.close();
  await http(GW0, 'POST', '/admin/api/reset', { cookie: admin, body: {} });
});
