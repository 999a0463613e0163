// Extra time for a student (issue 18, "Accommodations"): the instructor
// gives a student id a time factor (POST /admin/api/sessions/{sid}/time_factor)
// in the lobby, before that student joins, or later; that student's
// question_open and snapshot carry their own time_limit_ms and remaining_ms,
// scoring judges their submits on their own deadline and scores them on
// their own limit, and the question stays open for them after everybody
// else's deadline, while everybody else's submits are closed at theirs.
// Every bad request (no token, foreign Origin, bad factor, bad or unknown
// id, too many, oversize) gets a clear error and changes nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool } from '../lib/stack.mjs';
import { newSession, join, connect as openSocket, adminWs as openAdminWs, command, results, sleep } from '../lib/ws.mjs';

const [gw1, gw2] = env.gateways;

const sockets = [];
after(() => { for (const ws of sockets) ws.terminate(); });
async function connect(base, cookie) {
  const r = await openSocket(base, cookie);
  sockets.push(r.ws);
  return r;
}
function adminWs(base, admin, sid) {
  const ws = openAdminWs(base, admin, sid);
  sockets.push(ws);
  return ws;
}

function setFactor(admin, sid, body, opts = {}) {
  return http(opts.base || gw1, 'POST', `/admin/api/sessions/${encodeURIComponent(sid)}/time_factor`, {
    cookie: admin, body, headers: opts.headers,
  });
}

async function factors(admin, sid) {
  const r = await http(gw1, 'GET', `/admin/api/sessions/${sid}`, { cookie: admin });
  assert.equal(r.status, 200, r.text);
  return r.json.time_factors;
}

test('the time_factor route refuses what is not a documented factor, an id or an instructor, and changes nothing', async () => {
  const admin = await adminLogin(gw1);
  const { sid } = await newSession(admin, makePool(2, { timeLimit: 5 }));
  assert.deepEqual(await factors(admin, sid), {});

  const noToken = await http(gw1, 'POST', `/admin/api/sessions/${sid}/time_factor`, { body: { student_id: 'a', factor: 2 } });
  assert.equal(noToken.status, 401, noToken.text);
  const foreign = await setFactor(admin, sid, { student_id: 'a', factor: 2 }, { headers: { origin: 'http://evil.example' } });
  assert.equal(foreign.status, 403, foreign.text);
  assert.equal(foreign.json.error, 'forbidden_origin');

  for (const factor of [0, -2, 0.5, 1.75, 4, 2.0001, 150, '2', null, true, [2], { x: 2 }, 1e308]) {
    const r = await setFactor(admin, sid, { student_id: 'a', factor });
    assert.equal(r.status, 400, `factor ${JSON.stringify(factor)}: ${r.text}`);
    assert.equal(r.json.error, 'bad_field');
    assert.match(r.json.message, /factor must be one of 1, 1\.25, 1\.5, 2, 3/);
  }
  const missing = await setFactor(admin, sid, { student_id: 'a' });
  assert.equal(missing.status, 400, missing.text);
  for (const id of ['', 'x'.repeat(65), 7, null, 'tab\there', 'nul\u0000']) {
    const r = await setFactor(admin, sid, { student_id: id, factor: 2 });
    assert.equal(r.status, 400, `id ${JSON.stringify(id)}: ${r.text}`);
    assert.match(r.json.message, /student_id|JSON/);
  }
  const notJson = await http(gw1, 'POST', `/admin/api/sessions/${sid}/time_factor`, {
    cookie: admin, body: 'student_id=a&factor=2', headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.ok(notJson.status === 400 || notJson.status === 415, notJson.text);
  const oversize = await setFactor(admin, sid, { student_id: 'a', factor: 2, pad: 'x'.repeat(70 * 1024) });
  assert.equal(oversize.status, 413, oversize.text);
  const unknownSession = await setFactor(admin, 'nosuchsession', { student_id: 'a', factor: 2 });
  assert.equal(unknownSession.status, 404, unknownSession.text);
  assert.equal(unknownSession.json.error, 'unknown_session');
  assert.deepEqual(await factors(admin, sid), {}, 'no refused request stored anything');

  // in the lobby any id may be given time before it joins; sent again it is
  // the same; factor 1 takes it away; 64 printable code points are an id
  const long = 'é'.repeat(64);
  for (const body of [{ student_id: 'pre', factor: 2 }, { student_id: 'pre', factor: 2 }, { student_id: long, factor: 1.5 }]) {
    const r = await setFactor(admin, sid, body, { base: gw2 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.factor, body.factor);
  }
  assert.deepEqual(await factors(admin, sid), { pre: 2, [long]: 1.5 });
  const off = await setFactor(admin, sid, { student_id: long, factor: 1 });
  assert.equal(off.status, 200, off.text);
  assert.deepEqual(off.json.time_factors, { pre: 2 });

  // once the game runs, only a student who joined can be given time
  const { cookie } = await join(gw1, sid, 'joined');
  assert.ok(cookie);
  await command(admin, sid, 'next');
  const stranger = await setFactor(admin, sid, { student_id: 'never-joined', factor: 2 });
  assert.equal(stranger.status, 404, stranger.text);
  assert.equal(stranger.json.error, 'unknown_student');
  const joined = await setFactor(admin, sid, { student_id: 'joined', factor: 3 });
  assert.equal(joined.status, 200, joined.text);
  assert.deepEqual(await factors(admin, sid), { pre: 2, joined: 3 });
  await command(admin, sid, 'end');
  const ended = await setFactor(admin, sid, { student_id: 'joined', factor: 2 });
  assert.equal(ended.status, 409, ended.text);
  assert.deepEqual(await factors(admin, sid), { pre: 2, joined: 3 });
});

test('a flood of time factors stops at 200 students a session with 409 and stores nothing more', async () => {
  const admin = await adminLogin(gw1);
  const { sid } = await newSession(admin, makePool(1));
  const ids = Array.from({ length: 200 }, (_, i) => `flood-${i}`);
  for (let i = 0; i < ids.length; i += 20) {
    const rs = await Promise.all(ids.slice(i, i + 20).map((id) => setFactor(admin, sid, { student_id: id, factor: 1.25 })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
  }
  const over = await setFactor(admin, sid, { student_id: 'one-too-many', factor: 2 });
  assert.equal(over.status, 409, over.text);
  assert.equal(over.json.error, 'too_many_factors');
  // changing one already there is still fine, and nothing was added
  const change = await setFactor(admin, sid, { student_id: 'flood-7', factor: 3 });
  assert.equal(change.status, 200, change.text);
  const all = await factors(admin, sid);
  assert.equal(Object.keys(all).length, 200);
  assert.equal(all['one-too-many'], undefined);
  assert.equal(all['flood-7'], 3);
});

test('a student with 2x time gets their own limit, is accepted after the others\' deadline and scored on their limit; the others are closed at theirs', async () => {
  const admin = await adminLogin(gw1);
  const { sid } = await newSession(admin, makePool(2, { timeLimit: 5 }));
  // given before that student joins
  assert.equal((await setFactor(admin, sid, { student_id: 'slow', factor: 2 })).status, 200);
  const ext = await join(gw1, sid, 'slow');
  const norm = await join(gw2, sid, 'quick');
  const extWs = (await connect(gw1, ext.cookie)).ws;
  const normWs = (await connect(gw2, norm.cookie)).ws;
  const host = adminWs(gw1, admin, sid);
  await host.opened;
  await host.next('snapshot');

  await command(admin, sid, 'next');
  const [eo, no, ho] = await Promise.all([extWs.next('question_open'), normWs.next('question_open'), host.next('question_open')]);
  assert.equal(no.time_limit_ms, 5000);
  assert.equal(no.time_factors, undefined, 'a student never sees who has extra time');
  assert.equal(no.time_factor, undefined);
  assert.equal(eo.time_limit_ms, 10000);
  assert.equal(eo.time_factor, 2);
  assert.equal(eo.time_factors, undefined);
  assert.deepEqual(ho.time_factors, { slow: 2 }, 'the console sees who has extra time');
  assert.equal(ho.time_limit_ms, 5000);
  assert.equal(eo.deadline_ms - no.deadline_ms, 5000);
  // remaining_ms is computed at send time on each gateway: about twice
  assert.ok(eo.remaining_ms > 1.6 * no.remaining_ms, `remaining ${eo.remaining_ms} vs ${no.remaining_ms}`);
  assert.ok(eo.remaining_ms - no.remaining_ms > 4000 && eo.remaining_ms - no.remaining_ms <= 5500,
    `remaining ${eo.remaining_ms} vs ${no.remaining_ms}`);

  // after the common deadline: the normal student is closed, the question
  // is still open for the extended one (no question_closed yet)
  const wait = no.deadline_ms - Date.now() + 400;
  if (wait > 0) await sleep(wait);
  normWs.send({ type: 'submit', question_idx: 0, choice: 'B' });
  const nack = await normWs.next('submit_ack');
  assert.equal(nack.status, 'closed');
  // a late look (reconnect) shows each their own time left
  const { ws: again, snap } = await connect(gw2, ext.cookie);
  assert.equal(snap.state, 'question');
  assert.equal(snap.question.time_limit_ms, 10000);
  assert.ok(snap.remaining_ms > 2500, `extended snapshot remaining ${snap.remaining_ms}`);
  const { ws: normAgain, snap: nsnap } = await connect(gw1, norm.cookie);
  assert.equal(nsnap.question.time_limit_ms, 5000);
  assert.equal(nsnap.remaining_ms, 0);
  again.close();
  normAgain.close();
  assert.equal(extWs.messages.filter((m) => m.type === 'question_closed').length, 0, 'held open for the extended student');

  extWs.send({ type: 'submit', question_idx: 0, choice: 'B' });
  const eack = await extWs.next('submit_ack');
  assert.equal(eack.status, 'accepted');
  // the held question closes soon after the last extended student answered
  const closed = await normWs.next('question_closed', { timeout: 8000 });
  assert.equal(closed.points, 0);
  const eclosed = await extWs.next('question_closed');
  const res = await results(admin, sid);
  const slow = res.students.find((s) => s.student_id === 'slow');
  const a = slow.answers.find((x) => x.question_idx === 0);
  assert.ok(a.latency_ms > 5000 && a.latency_ms < 10000, `latency ${a.latency_ms}`);
  assert.equal(a.points, Math.round(1000 * (1 - a.latency_ms / 10000 / 2)), 'points on the 10 s limit');
  assert.ok(a.points > 500 && a.points < 750, `points ${a.points}`);
  assert.equal(eclosed.points, a.points);

  // question 2: the extended student answers at once, so the question
  // closes at the common deadline as if nobody had extra time
  await command(admin, sid, 'next');
  const [eo2, no2] = await Promise.all([extWs.next('question_open'), normWs.next('question_open')]);
  assert.equal(eo2.time_limit_ms, 10000);
  extWs.send({ type: 'submit', question_idx: 1, choice: 'B' });
  assert.equal((await extWs.next('submit_ack')).status, 'accepted');
  const c2 = await normWs.next('question_closed', { timeout: 10000 });
  assert.equal(c2.question_idx, 1);
  const late = Date.now() - no2.deadline_ms;
  assert.ok(late < 3000, `closed ${late} ms after the common deadline`);
});

test('a manual close closes the question for a student with extra time too', async () => {
  const admin = await adminLogin(gw1);
  const { sid } = await newSession(admin, makePool(1, { timeLimit: 30 }));
  const ext = await join(gw1, sid, 'slow');
  // given in the lobby after joining
  assert.equal((await setFactor(admin, sid, { student_id: 'slow', factor: 3 })).status, 200);
  const ws = (await connect(gw2, ext.cookie)).ws;
  await command(admin, sid, 'next');
  const open = await ws.next('question_open');
  assert.equal(open.time_limit_ms, 90000);
  await command(admin, sid, 'close');
  await ws.next('question_closed');
  ws.send({ type: 'submit', question_idx: 0, choice: 'B' });
  assert.equal((await ws.next('submit_ack')).status, 'closed');
});
