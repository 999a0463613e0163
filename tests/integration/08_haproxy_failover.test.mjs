// A whole session played through a load balancer, with a gateway killed in
// the middle of a question: Debian's haproxy runs compose/haproxy.cfg (its
// DNS server-template swapped for the test stack's two gateways) and every
// request and socket of the session goes through it: admin login, pool,
// session, joins, the instructor's and ten students' WebSockets. During
// question 1 the instructor's gateway is killed with SIGKILL; its sockets
// reconnect through haproxy (to whichever gateway is alive: the supervisor
// may or may not have restarted the dead one by then) and the test proves
// nothing was lost: every
// answer acked before the kill stands (snapshot my_choice, resubmit gets
// duplicate with the first choice), the snapshot shows the true time left,
// and the closes, the end and the results agree with every student's picks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import httpMod from 'node:http';
import { env, http, cookieFrom, waitFor, pidOf, alive, makePool, WsClient, wsUrl } from '../lib/stack.mjs';
import { newSession, join, results, sleep } from '../lib/ws.mjs';
import { freePort, renderComposeConfig, startHaproxy } from './08_haproxy_lib.mjs';

const CHOICES = ['A', 'B', 'C', 'D'];
const ANSWERS = ['B', 'D', 'A'];
const LIMIT_S = 30;
let dir;
let lb;
let LB; // http://127.0.0.1:<haproxy port>

// One GET on a fresh connection (so haproxy balances it anew): {status, json}.
function freshGet(url, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const req = httpMod.get(url, { agent: false, timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

async function bothGatewaysInRotation() {
  for (const gw of env.gateways) if ((await freshGet(`${gw}/healthz`)).status !== 200) return false;
  const seen = new Set();
  for (let i = 0; i < 6; i++) {
    const r = await freshGet(`${LB}/healthz`);
    if (r.status !== 200) return false;
    seen.add(r.json.instance);
  }
  return seen.size === 2;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-failover-'));
  const port = await freePort();
  LB = `http://127.0.0.1:${port}`;
  const servers = env.gateways.map((g) => new URL(g).host);
  lb = await startHaproxy(dir, 'compose-lb', renderComposeConfig(env.root, { servers, bind: `127.0.0.1:${port}` }), port);
  // an earlier file may have just killed and restarted a gateway
  await waitFor('both gateways serving through haproxy', bothGatewaysInRotation, { timeout: 30000, interval: 200 });
});

after(async () => {
  // leave the stack as found for the files after this one: the killed gateway restarted
  await waitFor('both gateways healthy again', async () => {
    for (const gw of env.gateways) if ((await freshGet(`${gw}/healthz`)).status !== 200) return false;
    return true;
  }, { timeout: 30000, interval: 200 }).catch(() => {});
  await lb?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function openSocketCounts() {
  return Promise.all(env.gatewayOps.map(async (o) => {
    const m = await http(o, 'GET', '/metrics', { timeout: 3000 });
    const line = m.text.split('\n').find((l) => /^qw_ws_open_sockets[ {]/.test(l));
    return line ? Number(line.split(' ').pop()) : NaN;
  }));
}

// Opens a socket through haproxy on `p` and awaits its snapshot:
// {ws, snap}. Throws (after closing it) when either fails.
async function connectVia(p, cookie) {
  const ws = new WsClient(wsUrl(LB, p), { cookie });
  try {
    await ws.opened;
    const snap = await ws.next('snapshot', { timeout: 5000 });
    return { ws, snap };
  } catch (e) {
    ws.terminate();
    throw e;
  }
}

// connectVia, and which gateway haproxy put the socket on (index into
// env.gateways), from the gateways' open-socket gauges: this file opens
// one socket at a time and nothing else runs meanwhile.
async function connectPlaced(p, cookie) {
  const before = await openSocketCounts();
  const c = await connectVia(p, cookie);
  const gw = await waitFor('the new socket counted on exactly one gateway', async () => {
    const d = (await openSocketCounts()).map((n, i) => n - before[i]);
    if (d.reduce((a, b) => a + b, 0) !== 1) throw new Error(`open-socket deltas ${d} (before ${before})`);
    return { i: d.indexOf(1) };
  }, { timeout: 5000 });
  return { ...c, gw: gw.i };
}

// A client's reconnect loop: retries through haproxy until a socket opens
// and its snapshot arrives (a refused or failed attempt is retried).
function reconnect(p, cookie) {
  return waitFor(`a reconnect to ${p} through haproxy`, () => connectVia(p, cookie), { timeout: 20000, interval: 100 });
}

// 'alive' when the socket answers a ping, 'dead' when it closes instead.
async function fate(c) {
  if (c.closed) return 'dead';
  c.send({ type: 'ping' });
  try {
    await c.next('pong', { timeout: 10000 });
    return 'alive';
  } catch (e) {
    if (c.closed) return 'dead';
    throw e;
  }
}

// The admin login through haproxy. Every test shares the client IP the
// gateways see (haproxy's 127.0.0.1) and its login limit: on 429 the one
// retry waits the Retry-After the server named.
async function loginViaLb() {
  for (let attempt = 0; ; attempt++) {
    const r = await http(LB, 'POST', '/admin/login', { body: { username: 'admin', password: env.adminPassword } });
    if (r.status === 200) return cookieFrom(r, 'qw_admin');
    if (r.status !== 429 || attempt > 0) throw new Error(`admin login through haproxy: ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get('retry-after') || 60)));
  }
}

test('students of a gateway killed -9 mid-question reconnect through haproxy and finish with answers and scores intact',
  { timeout: 150000 }, async () => {
    const admin = await loginViaLb();
    const pool = makePool(3, { timeLimit: LIMIT_S, answers: ANSWERS });
    const { sid } = await newSession(admin, pool, LB);
    const hostPath = `/admin/ws?sid=${encodeURIComponent(sid)}`;
    let host = await connectPlaced(hostPath, admin);
    assert.equal(host.snap.state, 'lobby');
    // the gateway to kill: the instructor's, so that its socket dies too
    const KILLED = host.gw;
    const LIVE = 1 - KILLED;
    const killedName = `gateway${KILLED + 1}`;

    const students = [];
    for (let i = 0; i < 10; i++) {
      const id = `lb-failover-${i}`;
      const { cookie } = await join(LB, sid, id);
      const { ws, snap, gw } = await connectPlaced('/ws', cookie);
      assert.equal(snap.state, 'lobby');
      students.push({ i, id, cookie, ws, gw, picks: [], points: [], score: 0 });
    }
    const on = (g) => students.filter((s) => s.gw === g);
    assert.ok(on(KILLED).length >= 3 && on(LIVE).length >= 3,
      `leastconn spread the sockets: ${on(0).length} on gateway1, ${on(1).length} on gateway2`);
    const pickOf = (s, q) => CHOICES[(s.i + q) % 4];

    const openQuestion = async (q) => {
      host.ws.send({ type: 'next' });
      await host.ws.next('question_open', { pred: (m) => m.question_idx === q });
      await Promise.all(students.map(async (s) => {
        s.open = await s.ws.next('question_open', { pred: (m) => m.question_idx === q });
        assert.ok(s.open.remaining_ms > (LIMIT_S - 5) * 1000, `remaining ${s.open.remaining_ms}`);
      }));
    };
    const submit = async (s, q, choice) => {
      s.ws.send({ type: 'submit', question_idx: q, choice });
      return s.ws.next('submit_ack', { pred: (m) => m.question_idx === q });
    };
    const closeQuestion = async (q) => {
      host.ws.send({ type: 'close' });
      const hc = await host.ws.next('question_closed', { pred: (m) => m.question_idx === q });
      for (const c of CHOICES) {
        assert.equal(hc.counts[c] ?? 0, students.filter((s) => s.picks[q] === c).length, `q${q} count of ${c}`);
      }
      await Promise.all(students.map(async (s) => {
        const closed = await s.ws.next('question_closed', { pred: (m) => m.question_idx === q });
        assert.equal(closed.answer, ANSWERS[q]);
        assert.equal(closed.my_choice, s.picks[q], `${s.id} q${q} my_choice`);
        if (s.picks[q] === ANSWERS[q]) assert.ok(closed.points >= 500 && closed.points <= 1000, `points ${closed.points}`);
        else assert.equal(closed.points, 0);
        s.points[q] = closed.points;
        s.score += closed.points;
        assert.equal(closed.score, s.score, `${s.id} running score after q${q}`);
      }));
    };
    const playAll = async (q) => {
      await Promise.all(students.map(async (s) => {
        const ack = await submit(s, q, pickOf(s, q));
        assert.equal(ack.status, 'accepted');
        s.picks[q] = pickOf(s, q);
      }));
    };

    // question 0: everyone plays, nothing breaks
    await openQuestion(0);
    await playAll(0);
    await closeQuestion(0);

    // question 1: on each gateway a third of the students have an accepted
    // ack, a third have a submit in flight, a third have not answered, when
    // the instructor's gateway dies
    await openQuestion(1);
    for (const g of [0, 1]) on(g).forEach((s, k) => { s.role = ['acked', 'inflight', 'later'][k % 3]; });
    await Promise.all(students.filter((s) => s.role === 'acked').map(async (s) => {
      const ack = await submit(s, 1, pickOf(s, 1));
      assert.equal(ack.status, 'accepted');
      s.acked = pickOf(s, 1);
    }));
    for (const s of students.filter((x) => x.role === 'inflight')) {
      s.pending = pickOf(s, 1);
      s.ws.send({ type: 'submit', question_idx: 1, choice: s.pending });
    }
    const pid = pidOf(killedName);
    assert.ok(pid && alive(pid), `${killedName} is running`);
    // page loads in flight on the dying gateway: stopped first, it holds
    // the GETs haproxy gives it; killed, it closes them unanswered, and
    // haproxy must send each again to the live gateway (retry-on)
    process.kill(pid, 'SIGSTOP');
    let answered = 0;
    const pages = Array.from({ length: 8 }, (_, k) => freshGet(`${LB}/${k % 2 ? '' : '?code=123456'}`, 15000)
      .then((r) => { answered++; return r; }, (e) => { answered++; return { status: 0, error: e.message }; }));
    await sleep(500);
    const heldAtKill = pages.length - answered;
    process.kill(pid, 'SIGKILL');
    const killedAt = performance.now();

    const loads = await Promise.all(pages);
    assert.deepEqual(loads.map((r) => r.status), loads.map(() => 200),
      `every page load in flight at the kill answered 200: ${JSON.stringify(loads.map((r) => r.error || r.status))}`);
    assert.ok(heldAtKill >= 1, 'some page loads were held by the gateway that died');
    console.log(`# ${heldAtKill} of ${pages.length} page loads were in flight on the killed gateway; all answered 200`);

    // exactly the killed gateway's sockets died; the other's go on
    const fates = await Promise.all(students.map((s) => fate(s.ws)));
    students.forEach((s, k) => assert.equal(fates[k], s.gw === KILLED ? 'dead' : 'alive', `${s.id} on gateway${s.gw + 1}`));
    assert.equal(await fate(host.ws), 'dead', 'the instructor socket');
    host = await reconnect(hostPath, admin);
    const hostBackMs = host.snap._at - killedAt;
    assert.equal(host.snap.state, 'question');
    assert.equal(host.snap.question_idx, 1);

    // the live gateway's students: the in-flight submit is acked, the rest answer now
    await Promise.all(on(LIVE).map(async (s) => {
      if (s.role === 'acked') { s.picks[1] = s.acked; return; }
      if (s.role === 'inflight') {
        const ack = await s.ws.next('submit_ack', { pred: (m) => m.question_idx === 1 });
        assert.equal(ack.status, 'accepted');
        assert.equal(ack.choice, s.pending);
        s.picks[1] = s.pending;
        return;
      }
      const ack = await submit(s, 1, pickOf(s, 1));
      assert.equal(ack.status, 'accepted');
      s.picks[1] = pickOf(s, 1);
    }));

    // the killed gateway's students reconnect through haproxy
    let reconnected = 0;
    let worstDrift = 0; // largest |remaining_ms - expected| seen in a reconnect snapshot
    await Promise.all(on(KILLED).map(async (s) => {
      // the scenario: the phone gets its socket back at least 3 s into the
      // question, so a snapshot that showed the full time would be far off
      const since = performance.now() - s.open._at;
      if (since < 3000) await sleep(3000 - since);
      // an in-flight submit whose ack made it out before the kill is acked
      const early = s.ws.messages.find((m) => m.type === 'submit_ack' && m.question_idx === 1);
      if (s.role === 'inflight' && early) {
        assert.equal(early.status, 'accepted');
        assert.equal(early.choice, s.pending);
        s.role = 'acked';
        s.acked = s.pending;
      }
      const { ws, snap } = await reconnect('/ws', s.cookie);
      s.ws = ws;
      reconnected++;
      assert.equal(snap.sid, sid);
      assert.equal(snap.state, 'question');
      assert.equal(snap.question_idx, 1);
      // the true time left: what question_open said, less the time since
      const expected = s.open.remaining_ms - (snap._at - s.open._at);
      worstDrift = Math.max(worstDrift, Math.abs(snap.remaining_ms - expected));
      assert.ok(Math.abs(snap.remaining_ms - expected) <= 500,
        `${s.id} remaining_ms ${snap.remaining_ms}, expected about ${Math.round(expected)}`);
      assert.equal(snap.score, s.score, 'the score of closed questions survives the reconnect');
      const other = CHOICES[(CHOICES.indexOf(pickOf(s, 1)) + 1) % 4];
      if (s.role === 'acked') {
        assert.equal(snap.my_choice, s.acked, `${s.id}: an accepted answer survives its gateway`);
        const ack = await submit(s, 1, other);
        assert.equal(ack.status, 'duplicate');
        assert.equal(ack.choice, s.acked, 'the first answer stands');
        s.picks[1] = s.acked;
      } else if (s.role === 'inflight') {
        // the submit may or may not have reached scoring before the kill;
        // whichever it was, the record, the snapshot and the acks agree
        assert.ok(snap.my_choice === null || snap.my_choice === s.pending, `${s.id} my_choice ${snap.my_choice}`);
        const ack = await submit(s, 1, other);
        if (snap.my_choice !== null) assert.equal(ack.status, 'duplicate');
        if (ack.status === 'duplicate') {
          assert.equal(ack.choice, s.pending);
          s.picks[1] = s.pending;
        } else {
          assert.equal(ack.status, 'accepted');
          assert.equal(ack.choice, other);
          s.picks[1] = other;
        }
      } else {
        assert.equal(snap.my_choice, null);
        const ack = await submit(s, 1, pickOf(s, 1));
        assert.equal(ack.status, 'accepted');
        s.picks[1] = pickOf(s, 1);
      }
    }));
    assert.equal(reconnected, on(KILLED).length);
    await closeQuestion(1);

    // question 2 and the end, with everyone on whatever gateways are alive
    await openQuestion(2);
    await playAll(2);
    await closeQuestion(2);
    host.ws.send({ type: 'next' });
    await host.ws.next('session_ended');
    const rankOf = (s) => 1 + students.filter((o) => o.score > s.score).length;
    await Promise.all(students.map(async (s) => {
      const end = await s.ws.next('session_ended');
      assert.equal(end.score, s.score, `${s.id} final score`);
      assert.equal(end.rank, rankOf(s), `${s.id} rank`);
    }));

    const res = await results(admin, sid, LB);
    assert.equal(res.state, 'ended');
    assert.equal(res.students.length, students.length);
    for (const s of students) {
      const row = res.students.find((r) => r.student_id === s.id);
      assert.ok(row, `${s.id} in the results`);
      assert.equal(row.score, s.score, `${s.id} score`);
      assert.equal(row.rank, rankOf(s), `${s.id} rank`);
      for (let q = 0; q < 3; q++) {
        const a = row.answers.find((x) => x.question_idx === q);
        assert.ok(a, `${s.id} has an answer to q${q}`);
        assert.equal(a.choice, s.picks[q], `${s.id} q${q} choice`);
        assert.equal(a.correct, s.picks[q] === ANSWERS[q]);
        assert.equal(a.points, s.points[q], `${s.id} q${q} points`);
      }
      assert.equal(row.answers.reduce((t, a) => t + a.points, 0), row.score);
    }
    const counts = { acked: 0, inflight: 0, later: 0 };
    for (const s of on(KILLED)) counts[s.role]++;
    console.log(`failover: the instructor and ${on(KILLED).length} students (${JSON.stringify(counts)}) reconnected after ${killedName} was killed; instructor back in ${Math.round(hostBackMs)} ms; worst remaining_ms drift ${Math.round(worstDrift)} ms`);
    host.ws.close();
    for (const s of students) s.ws.close();
  });
