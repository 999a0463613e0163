// The instructor controls who plays (issue 12 item 4): locking the lobby,
// removing a player (its token dies on every gateway, its socket closes,
// its id cannot join again), the optional two-step join with the shapes
// the projector shows, and the per-IP limit on failed join tries (a
// script walking join codes gets 429; the class behind the same address
// still joins its own session). Every route's bad input changes nothing.
// The rate-limit test sends from its own loopback address (127.0.1.x) so
// that it never limits the other tests' joins from 127.0.0.1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import httpMod from 'node:http';
import { env, http, adminLogin, makePool, wsUrl, cookieFrom } from '../lib/stack.mjs';
import { sql } from '../lib/fixtures.mjs';
import { newSession, connect as openSocket, adminWs as openAdminWs, refusedStatus, results } from '../lib/ws.mjs';

const [gw1, gw2] = env.gateways;
const SHAPES = ['triangle', 'diamond', 'circle', 'square'];

// Every socket a test opens is closed at the end, even when an assertion
// failed first, so a failing file never hangs on open sockets.
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

function studentCookie(res) {
  return cookieFrom(res, 'qw_student');
}

async function joinReq(base, body, cookie) {
  return http(base, 'POST', '/api/join', { body, cookie });
}

async function state(admin, sid) {
  const r = await http(gw1, 'GET', `/admin/api/sessions/${sid}`, { cookie: admin });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// The sequence of window `w` as shared/shapes.c derives it.
function shapesAt(secret, w) {
  const mac = crypto.createHmac('sha256', secret).update(`two-step:${w}`).digest();
  return Array.from({ length: 6 }, (_, i) => SHAPES[mac[i] & 3]);
}

// A request from a chosen loopback source address: {status, headers, json}.
function fromAddress(base, method, p, body, localAddress) {
  const u = new URL(base + p);
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpMod.request({
      host: u.hostname, port: u.port, path: u.pathname, method, localAddress, timeout: 10000,
      headers: { 'content-type': 'application/json', 'content-length': data.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

test('a locked lobby refuses new students with 409 session_locked; students already in rejoin; unlock admits again', async () => {
  const admin = await adminLogin(gw1);
  const { sid, join_code } = await newSession(admin, makePool(2));
  const first = await joinReq(gw1, { join_code, student_id: 'in-1', name: 'In' });
  assert.equal(first.status, 200, first.text);
  const mine = studentCookie(first);

  const lock = await http(gw2, 'POST', `/admin/api/sessions/${sid}/lock`, { cookie: admin, body: {} });
  assert.equal(lock.status, 200, lock.text);
  assert.equal(lock.json.locked, true);
  assert.equal((await state(admin, sid)).locked, true, 'every gateway reads the same lock');

  for (const [base, body] of [[gw1, { join_code }], [gw2, { sid }]]) {
    const late = await joinReq(base, { ...body, student_id: 'late', name: 'Late' });
    assert.equal(late.status, 409, late.text);
    assert.equal(late.json.error, 'session_locked');
    assert.match(late.json.message, /locked/);
    assert.equal(studentCookie(late), null);
  }
  const back = await joinReq(gw2, { join_code, student_id: 'in-1', name: 'In' }, mine);
  assert.equal(back.status, 200, 'the same browser rejoins a locked lobby');
  const { ws, snap } = await connect(gw2, studentCookie(back));
  assert.equal(snap.players, 1);
  ws.close();
  const st = await state(admin, sid);
  assert.equal(st.players, 1, 'the refused joins added no player');
  assert.ok(st.joins_refused >= 2, `joins_refused ${st.joins_refused}`);

  const unlock = await http(gw1, 'POST', `/admin/api/sessions/${sid}/unlock`, { cookie: admin, body: {} });
  assert.equal(unlock.status, 200, unlock.text);
  assert.equal(unlock.json.locked, false);
  assert.equal((await joinReq(gw1, { sid, student_id: 'late', name: 'Late' })).status, 200);
});

test('main is joinable by its sid only while it is not locked', async () => {
  const admin = await adminLogin(gw1);
  if ((await http(gw1, 'GET', '/admin/api/sessions/main', { cookie: admin })).status === 404) return; // no main here
  const r = await http(gw1, 'POST', '/admin/api/sessions/main/lock', { cookie: admin, body: {} });
  try {
    assert.equal(r.status, 200, r.text);
    const j = await joinReq(gw2, { sid: 'main', student_id: `bot-${process.pid}`, name: 'Bot' });
    assert.equal(j.status, 409, j.text);
    assert.equal(j.json.error, 'session_locked');
  } finally {
    assert.equal((await http(gw1, 'POST', '/admin/api/sessions/main/unlock', { cookie: admin, body: {} })).status, 200);
  }
  assert.equal((await joinReq(gw2, { sid: 'main', student_id: `bot-${process.pid}`, name: 'Bot' })).status, 200);
});

test('lock, unlock, two_step and remove refuse bad input clearly and change nothing', async () => {
  const admin = await adminLogin(gw1);
  const { sid, join_code } = await newSession(admin, makePool(1));
  assert.equal((await joinReq(gw1, { join_code, student_id: 'keep', name: 'Keep' })).status, 200);
  const before = await state(admin, sid);
  const cases = [
    ['POST', '/admin/api/sessions/nosuchsid000/lock', {}, 404, 'unknown_session'],
    ['POST', '/admin/api/sessions/nosuchsid000/unlock', {}, 404, 'unknown_session'],
    ['POST', '/admin/api/sessions/nosuchsid000/two_step', { on: true }, 404, 'unknown_session'],
    ['GET', '/admin/api/sessions/nosuchsid000/shapes', undefined, 404, 'unknown_session'],
    ['POST', '/admin/api/sessions/nosuchsid000/remove', { student_id: 'keep' }, 404, 'unknown_session'],
    ['POST', `/admin/api/sessions/${sid}/remove`, { student_id: 'nobody' }, 404, 'unknown_student'],
    ['POST', `/admin/api/sessions/${sid}/remove`, { student_id: 5 }, 400, 'bad_field'],
    ['POST', `/admin/api/sessions/${sid}/remove`, {}, 400, 'bad_field'],
    ['POST', `/admin/api/sessions/${sid}/remove`, { student_id: 'x'.repeat(300) }, 400, 'bad_field'],
    ['POST', `/admin/api/sessions/${sid}/remove`, '[1,2]', 400, 'bad_json'],
    ['POST', `/admin/api/sessions/${sid}/remove`, 'student_id=keep', 400, 'bad_json'],
    ['POST', `/admin/api/sessions/${sid}/remove`, { student_id: 'keep', pad: 'x'.repeat(70 * 1024) }, 413, null],
    ['POST', `/admin/api/sessions/${sid}/two_step`, { on: 'yes' }, 400, 'bad_field'],
    ['POST', `/admin/api/sessions/${sid}/two_step`, {}, 400, 'bad_field'],
    ['POST', `/admin/api/sessions/${sid}/two_step`, { on: 1 }, 400, 'bad_field'],
  ];
  for (const [method, p, body, status, error] of cases) {
    const r = await http(gw2, method, p, { cookie: admin, body });
    assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)?.slice(0, 60)}: ${r.text.slice(0, 200)}`);
    if (error) {
      assert.equal(r.json.error, error, p);
      assert.ok(r.json.message && r.json.message.length > 5, 'a message says what is wrong');
    }
  }
  for (const [method, p] of [['POST', 'lock'], ['POST', 'unlock'], ['POST', 'two_step'], ['POST', 'remove'], ['GET', 'shapes']]) {
    const r = await http(gw1, method, `/admin/api/sessions/${sid}/${p}`, { body: method === 'POST' ? { on: true, student_id: 'keep' } : undefined });
    assert.equal(r.status, 401, `${p} without the admin cookie`);
  }
  const after = await state(admin, sid);
  for (const k of ['players', 'locked', 'two_step', 'state']) assert.equal(after[k], before[k], k);
  assert.equal((await results(admin, sid)).students.length, 1);
  const create = await http(gw1, 'POST', '/admin/api/sessions', { cookie: admin, body: { quiz_id: before.quiz_id, two_step: 'on' } });
  assert.equal(create.status, 400);
  assert.equal(create.json.error, 'bad_field');
});

test('a removed player: socket closed with the reason, token refused on both gateways, rejoin refused, count falls', async () => {
  const admin = await adminLogin(gw1);
  const { sid, join_code } = await newSession(admin, makePool(2));
  const a = await joinReq(gw1, { join_code, student_id: 'bot-7', name: 'Bot' });
  const b = await joinReq(gw2, { join_code, student_id: 'honest', name: 'Honest' });
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  const aCookie = studentCookie(a), bCookie = studentCookie(b);
  const aWs1 = (await connect(gw1, aCookie)).ws;
  const aWs2 = (await connect(gw2, aCookie)).ws;
  const bWs = (await connect(gw1, bCookie)).ws;
  const host = adminWs(gw2, admin, sid);
  await host.opened;
  await host.next('snapshot');

  const rm = await http(gw1, 'POST', `/admin/api/sessions/${sid}/remove`, { cookie: admin, body: { student_id: 'bot-7' } });
  assert.equal(rm.status, 200, rm.text);
  assert.equal(rm.json.players, 1);
  for (const ws of [aWs1, aWs2]) {
    const closed = await ws.waitClose();
    assert.equal(closed.code, 4003);
    assert.equal(closed.reason, 'You were removed by the instructor');
  }
  const upd = await bWs.next('lobby_update', { pred: (m) => m.players === 1 });
  assert.equal(upd.players, 1);
  assert.equal((await host.next('student_removed')).student_id, 'bot-7');
  assert.equal(bWs.closed, null, 'the other student plays on');

  for (const base of [gw1, gw2]) {
    assert.equal(await refusedStatus(wsUrl(base, '/ws'), { cookie: aCookie }), 401, `old token on ${base}`);
    const tok = aCookie.slice('qw_student='.length);
    assert.equal(await refusedStatus(wsUrl(base, `/ws?token=${encodeURIComponent(tok)}`)), 401);
  }
  for (const cookie of [aCookie, undefined]) {
    const again = await joinReq(gw2, { join_code, student_id: 'bot-7', name: 'Bot' }, cookie);
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error, 'student_removed');
  }
  const twice = await http(gw2, 'POST', `/admin/api/sessions/${sid}/remove`, { cookie: admin, body: { student_id: 'bot-7' } });
  assert.equal(twice.status, 409);
  assert.equal(twice.json.error, 'student_removed');
  assert.equal((await state(admin, sid)).players, 1);
  assert.deepEqual((await results(admin, sid)).students.map((s) => s.student_id), ['honest']);
  // the game goes on for the rest
  const open = await http(gw1, 'POST', `/admin/api/sessions/${sid}/next`, { cookie: admin, body: {} });
  assert.equal(open.status, 200);
  await bWs.next('question_open');
  bWs.send({ type: 'submit', question_idx: 0, choice: 'B' });
  assert.equal((await bWs.next('submit_ack')).status, 'accepted');
  bWs.close();
  host.close();
});

test('two-step join: missing, wrong, old and malformed shapes refused; current and previous window admitted; off again', async () => {
  const admin = await adminLogin(gw1);
  const q = await http(gw1, 'POST', '/admin/api/quizzes', { cookie: admin, body: makePool(1) });
  const s = await http(gw1, 'POST', '/admin/api/sessions', { cookie: admin, body: { quiz_id: q.json.quiz_id, two_step: true } });
  assert.equal(s.status, 200, s.text);
  const { sid, join_code } = s.json;
  assert.equal((await state(admin, sid)).two_step, true);
  const shown = await http(gw2, 'GET', `/admin/api/sessions/${sid}/shapes`, { cookie: admin });
  assert.equal(shown.status, 200, shown.text);
  assert.equal(shown.json.two_step, true);
  assert.equal(shown.json.shapes.length, 6);
  assert.equal(shown.json.window_ms, 20000);
  assert.ok(shown.json.changes_in_ms > 0 && shown.json.changes_in_ms <= 20000);
  for (const x of shown.json.shapes) assert.ok(SHAPES.includes(x), x);

  const [[secret]] = sql(`SELECT two_step_key FROM sessions WHERE sid = '${sid}'`);
  const w = Math.floor(Date.now() / 20000);
  assert.deepEqual(shapesAt(secret, w), shown.json.shapes, 'the console shows the current window');
  const old = shapesAt(secret, w - 2);
  const wrong = shapesAt(secret, w).map((x, i) => (i === 5 ? SHAPES[(SHAPES.indexOf(x) + 1) % 4] : x));

  const none = await joinReq(gw1, { join_code, student_id: 'p1', name: 'P' });
  assert.equal(none.status, 403);
  assert.equal(none.json.error, 'two_step_required');
  for (const bad of [wrong, old]) {
    if (JSON.stringify(bad) === JSON.stringify(shapesAt(secret, w - 1))) continue; // 1 in 4096
    const r = await joinReq(gw2, { join_code, student_id: 'p1', name: 'P', shapes: bad });
    assert.equal(r.status, 403, JSON.stringify(bad));
    assert.equal(r.json.error, 'two_step_wrong');
  }
  for (const bad of ['triangle', shown.json.shapes.slice(0, 5), [...shown.json.shapes, 'circle'], shown.json.shapes.map((x) => x.toUpperCase()), [1, 2, 3, 4, 5, 6]]) {
    const r = await joinReq(gw1, { join_code, student_id: 'p1', name: 'P', shapes: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.json.error, 'bad_field');
  }
  assert.equal((await state(admin, sid)).players, 0, 'nothing refused was admitted');

  const now = Math.floor(Date.now() / 20000);
  const ok = await joinReq(gw2, { join_code, student_id: 'p1', name: 'P', shapes: shapesAt(secret, now) });
  assert.equal(ok.status, 200, ok.text);
  const prev = await joinReq(gw1, { join_code, student_id: 'p2', name: 'P2', shapes: shapesAt(secret, Math.floor(Date.now() / 20000) - 1) });
  assert.equal(prev.status, 200, 'the previous window still counts (typing takes time)');
  const back = await joinReq(gw1, { join_code, student_id: 'p1', name: 'P' }, studentCookie(ok));
  assert.equal(back.status, 200, 'a returning browser needs no shapes');
  const st = await state(admin, sid);
  assert.equal(st.players, 2);
  assert.ok(st.joins_refused >= 1);

  const off = await http(gw1, 'POST', `/admin/api/sessions/${sid}/two_step`, { cookie: admin, body: { on: false } });
  assert.equal(off.status, 200, off.text);
  assert.equal(off.json.two_step, false);
  assert.equal((await http(gw1, 'GET', `/admin/api/sessions/${sid}/shapes`, { cookie: admin })).json.shapes, null);
  assert.equal((await joinReq(gw2, { join_code, student_id: 'p3', name: 'P3' })).status, 200);
  const on = await http(gw2, 'POST', `/admin/api/sessions/${sid}/two_step`, { cookie: admin, body: { on: true } });
  assert.equal(on.json.two_step, true);
  assert.equal((await joinReq(gw2, { join_code, student_id: 'p4', name: 'P4' })).status, 403);
});

test('failed join tries are limited per IP (429 + Retry-After); that IP still joins the session it already joined, learns no other code', async () => {
  const admin = await adminLogin(gw1);
  const ip = `127.0.1.${10 + (process.pid % 200)}`;
  const mine = await newSession(admin, makePool(1));
  const other = await newSession(admin, makePool(1));
  const first = await fromAddress(gw1, 'POST', '/api/join', { join_code: mine.join_code, student_id: 'class-1', name: 'C1' }, ip);
  assert.equal(first.status, 200, 'the class joins first');

  const live = new Set(sql("SELECT join_code FROM sessions WHERE state <> 'ended'").map((r) => r[0]));
  let code = 0;
  const nextWrong = () => {
    for (;;) {
      const c = String(code++).padStart(6, '0');
      if (!live.has(c)) return c;
    }
  };
  const limit = 100; // QW_JOIN_FAIL_LIMIT's default
  for (let i = 1; i <= limit; i++) {
    const r = await fromAddress(i % 2 ? gw1 : gw2, 'POST', '/api/join', { join_code: nextWrong(), student_id: `g${i}`, name: 'G' }, ip);
    assert.equal(r.status, 404, `guess ${i}`);
  }
  const over = await fromAddress(gw2, 'POST', '/api/join', { join_code: nextWrong(), student_id: 'g-over', name: 'G' }, ip);
  assert.equal(over.status, 429);
  assert.equal(over.json.error, 'rate_limited');
  const ra = Number(over.headers['retry-after']);
  assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${over.headers['retry-after']}`);
  const sidGuess = await fromAddress(gw1, 'POST', '/api/join', { sid: 'nosuchsid999', student_id: 'g', name: 'G' }, ip);
  assert.equal(sidGuess.status, 429, 'unknown sids count too');

  const classmate = await fromAddress(gw1, 'POST', '/api/join', { join_code: mine.join_code, student_id: 'class-2', name: 'C2' }, ip);
  assert.equal(classmate.status, 200, 'the class behind the same address still joins its own session');
  const found = await fromAddress(gw1, 'POST', '/api/join', { join_code: other.join_code, student_id: 'g-right', name: 'G' }, ip);
  assert.equal(found.status, 429, 'a right code of a session this address never joined looks like a miss: the walk learns nothing');
  assert.equal((await state(admin, other.sid)).players, 0);
  assert.ok((await state(admin, other.sid)).joins_refused >= 1, 'the console sees the refused join');

  const elsewhere = await fromAddress(gw1, 'POST', '/api/join', { join_code: nextWrong(), student_id: 'x', name: 'X' }, `127.0.2.${10 + (process.pid % 200)}`);
  assert.equal(elsewhere.status, 404, 'another address is not limited');
  const ok = await http(gw2, 'POST', '/api/join', { body: { join_code: other.join_code, student_id: 'x', name: 'X' } });
  assert.equal(ok.status, 200, 'nor is 127.0.0.1');
});

test('lobby_update names the newcomer\'s id to the console only, never to the class', async () => {
  const admin = await adminLogin(gw1);
  const { sid, join_code } = await newSession(admin, makePool(1));
  const first = await joinReq(gw1, { join_code, student_id: 'first-id', name: 'First' });
  const { ws } = await connect(gw2, studentCookie(first));
  const host = adminWs(gw1, admin, sid);
  await host.opened;
  await host.next('snapshot');
  assert.equal((await joinReq(gw2, { join_code, student_id: 'second-id', name: 'Second' })).status, 200);
  const toHost = await host.next('lobby_update');
  assert.equal(toHost.student_id, 'second-id');
  assert.equal(toHost.name, 'Second');
  const toClass = await ws.next('lobby_update');
  assert.equal(toClass.name, 'Second');
  assert.equal(toClass.players, 2);
  assert.equal('student_id' in toClass, false);
  ws.close();
  host.close();
});
