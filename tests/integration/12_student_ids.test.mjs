// A student id is 1..64 printable characters counted in code points, the
// same way at the join and at the socket (issue 12 item 6, SPEC §3): an id
// of 37 "é" (74 bytes) or 64 emoji (256 bytes) joins AND its /ws works on
// either gateway; 65 code points are refused with 400 at the join.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool, cookieFrom } from '../lib/stack.mjs';
import { newSession, connect } from '../lib/ws.mjs';

let session;
before(async () => { session = await newSession(await adminLogin(), makePool(1)); });

async function joinByCode(base, studentId) {
  return http(base, 'POST', '/api/join', { body: { join_code: session.join_code, student_id: studentId, name: 'x' } });
}

test('ids of up to 64 code points join and their sockets open on both gateways', async () => {
  const ids = ['é'.repeat(37), 'é'.repeat(64), '😀'.repeat(64), `${'a'.repeat(63)}é`];
  for (const [i, id] of ids.entries()) {
    const r = await joinByCode(env.gateways[i % 2], id);
    assert.equal(r.status, 200, `${[...id].length} code points, ${Buffer.byteLength(id)} bytes: ${r.text}`);
    assert.equal(r.json.student_id, id);
    const cookie = cookieFrom(r, 'qw_student');
    for (const gw of env.gateways) {
      const { ws, snap } = await connect(gw, cookie);
      try {
        assert.equal(snap.sid, session.sid);
        ws.send({ type: 'ping' });
        await ws.next('pong');
      } finally {
        ws.terminate();
      }
    }
  }
});

test('an id of 65 code points is refused with 400 at the join, however few bytes it is', async () => {
  for (const id of ['a'.repeat(65), 'é'.repeat(65), '😀'.repeat(65)]) {
    const r = await joinByCode(env.gateways[0], id);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'bad_field');
  }
});
