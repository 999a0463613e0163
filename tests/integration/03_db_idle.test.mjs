// A daemon's connection that the server closed while it sat idle (a
// terminated backend, a restart, a failover) is noticed before the next
// statement is sent on it (shared/db.c db_ensure reads the waiting FATAL
// and EOF), so the first request after it is served on a new connection
// instead of failing with 503 db_unavailable. auth is the case that shows
// it: a join runs its statements once, with no retry of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool, waitFor } from '../lib/stack.mjs';
import { sql } from '../lib/fixtures.mjs';
import { newSession } from '../lib/ws.mjs';

const gw = env.gateways[0];
const idleAuth = () => sql("SELECT pid FROM pg_stat_activity WHERE usename = 'qw_auth' AND state = 'idle'")
  .map((r) => Number(r[0]));

test('the first join after auth\'s idle connection was terminated is served, not 503', { timeout: 60000 }, async () => {
  const admin = await adminLogin(gw);
  const s = await newSession(admin, makePool(1));
  const warm = await http(gw, 'POST', '/api/join', { body: { join_code: s.join_code, student_id: 'idle0', name: 'Warm' } });
  assert.equal(warm.status, 200, warm.text);
  for (let round = 1; round <= 3; round++) {
    const pids = await waitFor('auth\'s idle connection', () => (idleAuth().length ? idleAuth() : null), { timeout: 10000 });
    for (const pid of pids) sql(`SELECT pg_terminate_backend(${pid}, 5000)`);
    await waitFor('the backends gone', () => (idleAuth().some((p) => pids.includes(p)) ? null : true), { timeout: 10000 });
    const r = await http(gw, 'POST', '/api/join', { body: { join_code: s.join_code, student_id: `idle${round}`, name: `Idle ${round}` } });
    assert.equal(r.status, 200, `join ${round} after the kill: ${r.status} ${r.text}`);
  }
  const n = Number(sql(`SELECT count(*) FROM students WHERE sid = '${s.sid}'`)[0][0]);
  assert.equal(n, 4, 'every join recorded once');
});
