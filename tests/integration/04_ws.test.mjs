// The WebSocket side of live sessions (SPEC §4, §6) against the real stack,
// students spread over both gateways: upgrade refusals, snapshots with the
// true time left, fan-out, fair acks that agree with the record, reconnects,
// and junk that never hurts a socket's neighbour.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool, wsUrl, waitFor, metric } from '../lib/stack.mjs';
import {
  liveBackend, newSession, join, studentWs, adminWs, command, results, connect, refusedStatus,
  percentile, sleep,
} from '../lib/ws.mjs';

const [GW0, GW1] = env.gateways;
const gwOf = (i) => env.gateways[i % env.gateways.length];
const CHOICES = ['A', 'B', 'C', 'D'];
const pick = () => CHOICES[Math.floor(Math.random() * 4)];
let admin = null;

before(async () => {
  admin = await adminLogin();
  // every part is in main: a backend that does not answer must fail these
  // tests, never skip them
  assert.ok(await liveBackend(admin), 'the live backend serves snapshots and submits');
});

test('cross-origin upgrade is refused with 403 and no socket', async () => {
  for (const gw of env.gateways) {
    assert.equal(await refusedStatus(wsUrl(gw, '/ws'), { origin: 'http://evil.example' }), 403);
    assert.equal(await refusedStatus(wsUrl(gw, '/admin/ws?sid=main'), { origin: 'https://evil.example' }), 403);
    // a look-alike of the gateway's own origin on another port is not its own
    const u = new URL(gw);
    assert.equal(await refusedStatus(wsUrl(gw, '/ws'), { origin: `http://${u.hostname}:1` }), 403);
  }
});

test('upgrade without credentials is refused with 401', async () => {
  assert.equal(await refusedStatus(wsUrl(GW0, '/ws')), 401);
  assert.equal(await refusedStatus(wsUrl(GW1, '/ws?sid=main')), 401);
  assert.equal(await refusedStatus(wsUrl(GW0, '/admin/ws?sid=main')), 401);
});

test('a plain GET on /ws is not an upgrade and gets 400', async () => {
  const r = await http(GW0, 'GET', '/ws');
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'not_websocket');
});

test('the ops port counts open sockets, messages and dropped sockets', async () => {
  for (const ops of env.gatewayOps) {
    for (const name of ['qw_ws_open_sockets', 'qw_ws_messages_in_total', 'qw_ws_messages_out_total',
      'qw_ws_dropped_slow_total', 'qw_ws_pongs_ignored_total']) {
      assert.ok(Number.isFinite(await metric(ops, name)), `${ops} lacks ${name}`);
    }
  }
});

test('tampered, missing and forged student cookies are refused with 401', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const { cookie, token } = await join(GW0, sid, 'cookie-owner');
  const flip = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
  for (const gw of env.gateways) {
    assert.equal(await refusedStatus(wsUrl(gw, '/ws'), { cookie: `qw_student=${flip}` }), 401);
    assert.equal(await refusedStatus(wsUrl(gw, '/ws'), { cookie: 'qw_student=' }), 401);
    assert.equal(await refusedStatus(wsUrl(gw, '/ws'), { cookie: 'qw_student=eyJ0eXAiOiJzdHVkZW50In0.forged' }), 401);
    assert.equal(await refusedStatus(wsUrl(gw, `/ws?token=${encodeURIComponent(flip)}`)), 401);
    assert.equal(await refusedStatus(wsUrl(gw, '/admin/ws?sid=' + sid), { cookie: 'qw_admin=forged' }), 401);
    // the real cookie still opens (and, with snapshots served, gets one)
    const { ws, snap } = await connect(gw, cookie);
    assert.equal(snap.sid, sid);
    ws.close();
  }
});

test('a token is never honoured for another session nor for a made-up sid', { timeout: 30000 }, async () => {
  const a = await newSession(admin, makePool(1));
  const b = await newSession(admin, makePool(1));
  const { cookie, token } = await join(GW1, a.sid, 'one-session-only');
  for (const gw of env.gateways) {
    assert.equal(await refusedStatus(wsUrl(gw, `/ws?sid=${b.sid}`), { cookie }), 401);
    assert.equal(await refusedStatus(wsUrl(gw, `/ws?sid=${b.sid}&token=${encodeURIComponent(token)}`)), 401);
    assert.equal(await refusedStatus(wsUrl(gw, '/ws?sid=no-such-session'), { cookie }), 401);
    assert.notEqual(await refusedStatus(wsUrl(gw, '/admin/ws?sid=no-such-session'), { cookie: admin }), 101);
    const { ws, snap } = await connect(gw, cookie, `?sid=${a.sid}`);
    assert.equal(snap.sid, a.sid);
    ws.close();
  }
});

test('20 students play 3 questions with random picks and the results agree with every pick', { timeout: 90000 }, async () => {
  const pool = makePool(3, { timeLimit: 30, answers: ['B', 'D', 'A'] });
  const { sid } = await newSession(admin, pool);
  const host = adminWs(GW0, admin, sid);
  await host.opened;
  await host.next('snapshot');
  const students = [];
  for (let i = 0; i < 20; i++) {
    const id = `s20-${i}`;
    const { cookie } = await join(gwOf(i), sid, id);
    const { ws, snap } = await connect(gwOf(i + 1), cookie); // socket on the other gateway than the join
    assert.equal(snap.state, 'lobby');
    students.push({ id, ws, picks: [], score: 0 });
  }
  for (let q = 0; q < 3; q++) {
    host.send({ type: 'next' });
    await host.next('question_open', { pred: (m) => m.question_idx === q });
    await Promise.all(students.map(async (s) => {
      const open = await s.ws.next('question_open', { pred: (m) => m.question_idx === q });
      assert.ok(open.remaining_ms > 25000 && open.remaining_ms <= 30000, `remaining ${open.remaining_ms}`);
      assert.equal(open.results, undefined);
      const choice = pick();
      s.picks.push(choice);
      s.ws.send({ type: 'submit', question_idx: q, choice });
      const ack = await s.ws.next('submit_ack', { pred: (m) => m.question_idx === q });
      assert.equal(ack.status, 'accepted');
      assert.equal(ack.choice, choice);
    }));
    const stats = await host.next('answer_stats', { pred: (m) => m.question_idx === q && m.answered === 20, timeout: 10000 });
    assert.equal(Object.values(stats.counts).reduce((a, b) => a + b, 0), 20);
    host.send({ type: 'close' });
    const hostClosed = await host.next('question_closed', { pred: (m) => m.question_idx === q });
    const answer = pool.questions[q].answer;
    for (const c of CHOICES) assert.equal(hostClosed.counts[c] ?? 0, students.filter((s) => s.picks[q] === c).length);
    await Promise.all(students.map(async (s) => {
      const closed = await s.ws.next('question_closed', { pred: (m) => m.question_idx === q });
      assert.equal(closed.answer, answer);
      assert.equal(closed.my_choice, s.picks[q]);
      assert.equal(closed.results, undefined, 'results never reach a student');
      if (s.picks[q] === answer) assert.ok(closed.points >= 500 && closed.points <= 1000, `points ${closed.points}`);
      else assert.equal(closed.points, 0);
      s.score += closed.points;
      assert.equal(closed.score, s.score);
    }));
  }
  host.send({ type: 'next' });
  await host.next('session_ended');
  const ranks = [];
  await Promise.all(students.map(async (s) => {
    const end = await s.ws.next('session_ended');
    assert.equal(end.score, s.score);
    ranks.push([s.score, end.rank]);
  }));
  for (const [score, rank] of ranks) assert.equal(rank, 1 + ranks.filter(([o]) => o > score).length);
  const res = await results(admin, sid);
  for (const s of students) {
    const row = res.students.find((r) => r.student_id === s.id);
    assert.ok(row, `${s.id} in results`);
    assert.equal(row.score, s.score);
    for (let q = 0; q < 3; q++) {
      const a = row.answers.find((x) => x.question_idx === q);
      assert.equal(a.choice, s.picks[q], `${s.id} q${q}`);
    }
  }
  for (const s of students) s.ws.close();
  host.close();
});

test('a late joiner 3 s into a 10 s question sees 6.5..7.5 s left', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(1, { timeLimit: 10 }));
  const early = await join(GW0, sid, 'early');
  const { ws: e } = await connect(GW0, early.cookie);
  await command(admin, sid, 'next');
  await e.next('question_open');
  await sleep(3000); // the scenario: joining three seconds late
  const late = await join(GW1, sid, 'late');
  const { ws, snap } = await connect(GW1, late.cookie);
  assert.equal(snap.state, 'question');
  assert.equal(snap.question_idx, 0);
  assert.ok(snap.question && Array.isArray(snap.question.choices));
  assert.ok(snap.remaining_ms >= 6500 && snap.remaining_ms <= 7500, `remaining_ms ${snap.remaining_ms}`);
  assert.equal(snap.my_choice, null);
  ws.close();
  e.close();
});

test('disconnect and reconnect keeps the answer: a resubmit is duplicate with the first choice', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(2));
  const s = await join(GW0, sid, 'reconnector');
  const { ws } = await connect(GW0, s.cookie);
  await command(admin, sid, 'next');
  await ws.next('question_open');
  ws.send({ type: 'submit', question_idx: 0, choice: 'B' });
  assert.equal((await ws.next('submit_ack')).status, 'accepted');
  ws.terminate();
  const again = await connect(GW1, s.cookie);
  assert.equal(again.snap.state, 'question');
  assert.equal(again.snap.my_choice, 'B');
  assert.ok(again.snap.remaining_ms > 15000 && again.snap.remaining_ms <= 20000);
  again.ws.send({ type: 'submit', question_idx: 0, choice: 'C' });
  const ack = await again.ws.next('submit_ack');
  assert.equal(ack.status, 'duplicate');
  assert.equal(ack.choice, 'B');
  again.ws.close();
});

test('a laptop that sleeps through a next wakes to question 1 with my_choice null', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(3));
  const s = await join(GW1, sid, 'sleeper');
  const { ws } = await connect(GW1, s.cookie);
  await command(admin, sid, 'next');
  await ws.next('question_open');
  ws.send({ type: 'submit', question_idx: 0, choice: 'A' });
  await ws.next('submit_ack');
  ws.terminate(); // the lid closes
  await command(admin, sid, 'next');
  const woke = await connect(GW0, s.cookie);
  assert.equal(woke.snap.state, 'question');
  assert.equal(woke.snap.question_idx, 1);
  assert.equal(woke.snap.my_choice, null);
  assert.ok(woke.snap.remaining_ms > 15000);
  woke.ws.close();
});

test('not_open, wrong_question, invalid, accepted, duplicate and closed are each produced', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(2));
  const s = await join(GW0, sid, 'statuses');
  const { ws } = await connect(GW1, s.cookie);
  const ack = async (question_idx, choice) => {
    ws.send({ type: 'submit', question_idx, choice });
    return ws.next('submit_ack');
  };
  assert.equal((await ack(0, 'A')).status, 'not_open');
  await command(admin, sid, 'next');
  await ws.next('question_open');
  assert.equal((await ack(1, 'A')).status, 'wrong_question');
  assert.equal((await ack(0, 'Z')).status, 'invalid');
  assert.equal((await ack(0, 'C')).status, 'accepted');
  const dup = await ack(0, 'A');
  assert.equal(dup.status, 'duplicate');
  assert.equal(dup.choice, 'C');
  await command(admin, sid, 'close');
  await ws.next('question_closed');
  assert.equal((await ack(0, 'A')).status, 'closed');
  ws.close();
});

test('30 students submit straddling a 5 s deadline and every ack agrees with the record', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1, { timeLimit: 5 }));
  const students = [];
  for (let i = 0; i < 30; i++) {
    const id = `edge-${i}`;
    const { cookie } = await join(gwOf(i), sid, id);
    const { ws } = await connect(gwOf(i), cookie);
    students.push({ id, ws });
  }
  await command(admin, sid, 'next');
  const acks = await Promise.all(students.map(async (s, i) => {
    const open = await s.ws.next('question_open');
    // spread the submits from 300 ms before to 300 ms after the deadline
    await sleep(Math.max(0, open.remaining_ms - 300 + (i * 600) / 29));
    const choice = pick();
    s.ws.send({ type: 'submit', question_idx: 0, choice });
    const ack = await s.ws.next('submit_ack');
    return { id: s.id, choice, status: ack.status };
  }));
  const statuses = new Set(acks.map((a) => a.status));
  assert.ok([...statuses].every((x) => x === 'accepted' || x === 'closed'), [...statuses].join());
  const res = await waitFor('question closed in results', async () => {
    const r = await results(admin, sid);
    return r.state !== 'question' ? r : null;
  });
  for (const a of acks) {
    const row = res.students.find((r) => r.student_id === a.id);
    const rec = row ? row.answers.find((x) => x.question_idx === 0 && x.choice) : undefined;
    if (a.status === 'accepted') assert.equal(rec && rec.choice, a.choice, `${a.id} acked accepted but not recorded`);
    else assert.equal(rec, undefined, `${a.id} acked closed but recorded`);
  }
  console.log(`deadline straddle: ${acks.filter((a) => a.status === 'accepted').length} accepted, ${acks.filter((a) => a.status === 'closed').length} closed`);
  for (const s of students) s.ws.close();
});

test('13 kinds of junk each get error, the same socket then plays, its neighbour is untouched', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const a = await join(GW0, sid, 'junker');
  const b = await join(GW0, sid, 'neighbour');
  const { ws } = await connect(GW0, a.cookie);
  const { ws: nb } = await connect(GW0, b.cookie);
  await command(admin, sid, 'next');
  await ws.next('question_open');
  await nb.next('question_open');
  const junk = [
    ['truncated JSON', '{"type":"submit","question_idx":0,'],
    ['null', 'null'],
    ['array', '[{"type":"submit"}]'],
    ['deep nesting', '['.repeat(1500) + ']'.repeat(1500)],
    ['1e309', '{"type":"submit","question_idx":1e309,"choice":"A"}'],
    ['NUL bytes', '{"type":"sub\u0000mit"}'],
    ['string', '"submit"'],
    ['number', '42'],
    ['wrong field types', '{"type":"submit","question_idx":"0","choice":1}'],
    ['unknown type', '{"type":"teleport"}'],
    ['missing type', '{"question_idx":0,"choice":"A"}'],
    ['empty object', '{}'],
    ['huge numbers', '{"type":"submit","question_idx":123456789012345678901234567890,"choice":"A"}'],
  ];
  assert.equal(junk.length, 13);
  const expected = { 'wrong field types': 'bad_field', 'unknown type': 'unknown_type', 'missing type': 'unknown_type', 'empty object': 'unknown_type' };
  for (const [what, text] of junk) {
    ws.send(text);
    const err = await ws.next('error');
    assert.equal(err.code, expected[what] ?? 'bad_json', what);
    assert.equal(ws.closed, null, `${what} closed the socket`);
  }
  ws.send({ type: 'ping' });
  await ws.next('pong');
  ws.send({ type: 'submit', question_idx: 0, choice: 'B' });
  assert.equal((await ws.next('submit_ack')).status, 'accepted');
  nb.send({ type: 'submit', question_idx: 0, choice: 'A' });
  assert.equal((await nb.next('submit_ack')).status, 'accepted');
  assert.equal(nb.messages.filter((m) => m.type === 'error').length, 0);
  assert.equal(nb.closed, null);
  ws.close();
  nb.close();
});

test('a 70 KB message closes 1009, a binary frame 1003, a flood of bad messages 1008', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const s = await join(GW1, sid, 'oversize');
  const big = await connect(GW1, s.cookie);
  big.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }));
  assert.equal((await big.ws.waitClose()).code, 1009);
  const bin = await connect(GW0, s.cookie);
  bin.ws.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await bin.ws.waitClose()).code, 1003);
  const fl = await connect(GW0, s.cookie);
  for (let i = 0; i < 60; i++) fl.ws.send('nope');
  assert.equal((await fl.ws.waitClose()).code, 1008);
  assert.ok(fl.ws.messages.filter((m) => m.type === 'error').length >= 50);
});

test('25 rapid reconnects leave the gateway healthy with no socket left behind', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const s = await join(GW0, sid, 'flapper');
  const before = await Promise.all(env.gatewayOps.map((o) => metric(o, 'qw_ws_open_sockets')));
  for (let i = 0; i < 25; i++) {
    const ws = studentWs(gwOf(i), s.cookie);
    await ws.opened;
    if (i % 2) ws.terminate(); else ws.close();
  }
  const { ws, snap } = await connect(GW0, s.cookie);
  assert.equal(snap.sid, sid);
  ws.send({ type: 'ping' });
  await ws.next('pong');
  ws.close();
  for (const gw of env.gateways) assert.equal((await http(gw, 'GET', '/healthz')).status, 200);
  await waitFor('open sockets back to where they were', async () => {
    const now = await Promise.all(env.gatewayOps.map((o) => metric(o, 'qw_ws_open_sockets')));
    return now.every((n, i) => n <= before[i]);
  }, { timeout: 10000 });
});

// The ack latency figures (p50/p99 at 50..5000 students) are `make bench`'s;
// here the promise: every submit of a class is acked accepted, each within
// a bound that holds on a busy machine, and every ack is in the record.
test('50 students x 2 questions: every submit is acked accepted within 5 s and recorded', { timeout: 90000 }, async () => {
  const { sid } = await newSession(admin, makePool(2, { timeLimit: 30 }));
  const students = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const { cookie } = await join(gwOf(i), sid, `load-${i}`);
    const { ws } = await connect(gwOf(i), cookie);
    return ws;
  }));
  const lat = [];
  for (let q = 0; q < 2; q++) {
    await command(admin, sid, 'next');
    await Promise.all(students.map(async (ws) => {
      await ws.next('question_open', { pred: (m) => m.question_idx === q });
      const t0 = performance.now();
      ws.send({ type: 'submit', question_idx: q, choice: pick() });
      const ack = await ws.next('submit_ack', { pred: (m) => m.question_idx === q });
      assert.equal(ack.status, 'accepted');
      lat.push(ack._at - t0);
    }));
  }
  for (const ws of students) ws.close();
  assert.equal(lat.length, 100);
  assert.ok(percentile(lat, 100) < 5000, `slowest ack ${percentile(lat, 100).toFixed(0)} ms`);
  const res = await results(admin, sid);
  assert.equal(res.students.length, 50);
  assert.ok(res.students.every((st) => st.answers.length === 2), 'every accepted answer is in the record');
});

test('ping gets pong and the instructor socket may not submit, a student may not drive', { timeout: 20000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const s = await join(GW0, sid, 'pinger');
  const { ws } = await connect(GW1, s.cookie);
  ws.send({ type: 'ping' });
  await ws.next('pong');
  ws.send({ type: 'next' });
  assert.equal((await ws.next('error')).code, 'forbidden');
  const host = adminWs(GW1, admin, sid);
  await host.opened;
  const snap = await host.next('snapshot');
  assert.equal(snap.state, 'lobby');
  host.send({ type: 'submit', question_idx: 0, choice: 'A' });
  assert.equal((await host.next('error')).code, 'forbidden');
  ws.close();
  host.close();
});


test('a student returning after the end sees the final score and rank in the snapshot', { timeout: 30000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const fast = await join(GW0, sid, 'rank-fast');
  const slow = await join(GW1, sid, 'rank-wrong');
  const a = await connect(GW0, fast.cookie);
  const b = await connect(GW1, slow.cookie);
  await command(admin, sid, 'next');
  await a.ws.next('question_open');
  await b.ws.next('question_open');
  a.ws.send({ type: 'submit', question_idx: 0, choice: 'B' }); // right (makePool answers B)
  b.ws.send({ type: 'submit', question_idx: 0, choice: 'A' });
  assert.equal((await a.ws.next('submit_ack')).status, 'accepted');
  assert.equal((await b.ws.next('submit_ack')).status, 'accepted');
  await command(admin, sid, 'end');
  const endA = await a.ws.next('session_ended');
  const endB = await b.ws.next('session_ended');
  assert.deepEqual([endA.rank, endB.rank], [1, 2]);
  a.ws.close();
  b.ws.close();
  // back on the other gateway: the snapshot carries what session_ended said
  const again = await connect(GW1, fast.cookie);
  assert.equal(again.snap.state, 'ended');
  assert.equal(again.snap.rank, 1);
  assert.equal(again.snap.score, endA.score);
  const againB = await connect(GW0, slow.cookie);
  assert.equal(againB.snap.rank, 2);
  assert.equal(againB.snap.score, 0);
  again.ws.close();
  againB.ws.close();
});
