// A join is idempotent per browser (the join key): the student page sends
// the same random key with every join, so a join retried after its answer
// was lost (no answer, 502, 504) is admitted as the same student with a
// fresh token: not a new student, players not counted twice. Another
// browser's key, or none, still gets 409 student_id_taken; the lobby rules
// hold (a locked lobby admits the returning student, a removed one is
// refused); a malformed or oversize key is 400 and changes nothing; the key
// never appears in an answer or a log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, adminLogin, makePool, cookieFrom } from '../lib/stack.mjs';
import { sql } from '../lib/fixtures.mjs';
import { newSession } from '../lib/ws.mjs';

const [gw1, gw2] = env.gateways;
let admin;
async function session() {
  if (!admin) admin = await adminLogin(gw1);
  return newSession(admin, makePool(1));
}
async function players(sid) {
  const r = await http(gw1, 'GET', `/admin/api/sessions/${sid}`, { cookie: admin });
  assert.equal(r.status, 200, r.text);
  return r.json.players;
}
const one = (q) => String(sql(q)[0][0]);
const newKey = () => crypto.randomBytes(16).toString('hex');
const keysSent = [];
function join(base, body) {
  if (body.join_key) keysSent.push(body.join_key);
  return http(base, 'POST', '/api/join', { body });
}

test('a join retried with the same key and no cookie is the same student; another key is 409', async () => {
  const s = await session();
  const key = newKey();
  const first = await join(gw1, { join_code: s.join_code, student_id: 'k1', name: 'First', join_key: key });
  assert.equal(first.status, 200, first.text);
  assert.equal(await players(s.sid), 1);
  // the answer was lost: the page sends the same join again, maybe to the other gateway
  const retry = await join(gw2, { join_code: s.join_code, student_id: 'k1', name: 'Renamed', join_key: key });
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.json.student_id, 'k1');
  assert.equal(retry.json.sid, s.sid);
  assert.equal(retry.json.name, 'First', 'the first name stands');
  assert.ok(cookieFrom(retry, 'qw_student'), 'a fresh token');
  assert.equal(await players(s.sid), 1, 'players not counted twice');
  assert.equal(one(`SELECT count(*) FROM students WHERE sid = '${s.sid}'`), '1', 'not a new student');

  const other = await join(gw1, { join_code: s.join_code, student_id: 'k1', name: 'Impostor', join_key: newKey() });
  assert.equal(other.status, 409, other.text);
  assert.equal(other.json.error, 'student_id_taken');
  assert.equal(cookieFrom(other, 'qw_student'), null);
  const none = await join(gw2, { join_code: s.join_code, student_id: 'k1', name: 'Impostor' });
  assert.equal(none.status, 409);
  assert.equal(none.json.error, 'student_id_taken');
  // a key joined for one id does not unlock another id
  const b = await join(gw1, { sid: s.sid, student_id: 'k2', name: 'B', join_key: newKey() });
  assert.equal(b.status, 200, b.text);
  const cross = await join(gw1, { sid: s.sid, student_id: 'k2', name: 'B', join_key: key });
  assert.equal(cross.status, 409);
  assert.equal(await players(s.sid), 2);
});

test('joins with the same key at once admit one student, counted once', async () => {
  const s = await session();
  const key = newKey();
  const body = { sid: s.sid, student_id: 'twin', name: 'Twin', join_key: key };
  const got = await Promise.all([join(gw1, body), join(gw2, body), join(gw1, body), join(gw2, body)]);
  for (const r of got) assert.equal(r.status, 200, r.text);
  assert.equal(await players(s.sid), 1);
  assert.equal(one(`SELECT count(*) FROM students WHERE sid = '${s.sid}'`), '1');
});

test('the lobby rules hold for the key: locked admits the returning student, removed is refused', async () => {
  const s = await session();
  const key = newKey();
  assert.equal((await join(gw1, { sid: s.sid, student_id: 'back', name: 'Back', join_key: key })).status, 200);
  assert.equal((await http(gw1, 'POST', `/admin/api/sessions/${s.sid}/lock`, { cookie: admin, body: {} })).status, 200);
  const locked = await join(gw2, { sid: s.sid, student_id: 'back', name: 'Back', join_key: key });
  assert.equal(locked.status, 200, locked.text);
  const newcomer = await join(gw2, { sid: s.sid, student_id: 'new', name: 'New', join_key: newKey() });
  assert.equal(newcomer.status, 409);
  assert.equal(newcomer.json.error, 'session_locked');
  const rm = await http(gw1, 'POST', `/admin/api/sessions/${s.sid}/remove`, { cookie: admin, body: { student_id: 'back' } });
  assert.equal(rm.status, 200, rm.text);
  const removed = await join(gw1, { sid: s.sid, student_id: 'back', name: 'Back', join_key: key });
  assert.equal(removed.status, 409);
  assert.equal(removed.json.error, 'student_removed');
  assert.equal(cookieFrom(removed, 'qw_student'), null);
});

test('a malformed or oversize join key is 400 and changes nothing; no key reaches an answer or a log', async () => {
  const s = await session();
  const bad = ['x'.repeat(129), 'short', 'a'.repeat(15), 'ü'.repeat(20), 'abc def ghi jkl mno', "0123456789abcdef'--", 'a'.repeat(20) + '\u0000', 42, true, ['a'.repeat(32)], { k: 'a'.repeat(32) }];
  for (const join_key of bad) {
    const r = await http(gw1, 'POST', '/api/join', { body: { sid: s.sid, student_id: 'bad', name: 'Bad', join_key } });
    assert.equal(r.status, 400, JSON.stringify(join_key) + r.text);
    // a NUL is already refused by the gateway's JSON parser (bad_json)
    if (r.json.error !== 'bad_json') {
      assert.equal(r.json.error, 'bad_field');
      assert.match(r.json.message, /join_key/);
    }
    assert.equal(cookieFrom(r, 'qw_student'), null);
  }
  const huge = await http(gw1, 'POST', '/api/join', { body: { sid: s.sid, student_id: 'bad', name: 'Bad', join_key: 'a'.repeat(60 * 1024) } });
  assert.equal(huge.status, 400);
  assert.equal(one(`SELECT count(*) FROM students WHERE sid = '${s.sid}'`), '0', 'no bad join was stored');
  assert.equal(await players(s.sid), 0);

  const key = newKey();
  const ok = await join(gw2, { sid: s.sid, student_id: 'good', name: 'Good', join_key: key });
  assert.equal(ok.status, 200);
  assert.ok(!ok.text.includes(key), 'not in the answer');
  assert.ok(!JSON.stringify([...ok.headers]).includes(key), 'not in a header');
  const stored = one(`SELECT join_key_hash FROM students WHERE sid = '${s.sid}' AND student_id = 'good'`);
  assert.equal(stored, crypto.createHash('sha256').update(key).digest('hex'), 'only the hash is stored');
  const logs = fs.readdirSync(env.logDir).filter((f) => f.endsWith('.log'));
  assert.ok(logs.length > 0);
  for (const f of logs) {
    const text = fs.readFileSync(path.join(env.logDir, f), 'utf8');
    for (const k of keysSent) assert.ok(!text.includes(k), `a join key in ${f}`);
  }
});
