// Fair points that cannot be gamed (SPEC §6, issue 12 items 2 and 3): a
// student's elapsed time is less their socket's whole measured round trip,
// measured only from pongs echoing the gateway's own random pings and capped
// (QW_RTT_CAP_MS, 1000 by default). A TCP proxy in the test delays every
// chunk in each direction; every student answers the same time after its
// own receipt of question_open, so the load on the machine does not count.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { env, http, adminLogin, makePool, WsClient, wsUrl, waitFor, metric } from '../lib/stack.mjs';
import { liveBackend, newSession, join, command } from '../lib/ws.mjs';

const GW0 = env.gateways[0];
const LIMIT_S = 10;
const ANSWER_AFTER_MS = 2000;
const CAP_MS = 1000; // QW_RTT_CAP_MS's default
const QUICK_PINGS = 4; // the connect ping and the quick ones after it (rtt.h)
let admin = null;

before(async () => {
  admin = await adminLogin();
  assert.ok(await liveBackend(admin), 'the live backend serves snapshots and submits');
});

// A TCP proxy to `target` that delays every chunk by `delayMs` in each
// direction, in order: {url, close}.
function delayProxy(target, delayMs) {
  const u = new URL(target);
  const sockets = new Set();
  const server = net.createServer((down) => {
    const up = net.connect({ host: u.hostname, port: Number(u.port) });
    for (const s of [down, up]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('error', () => {});
    }
    const pipe = (from, to) => {
      from.on('data', (d) => setTimeout(() => { if (!to.destroyed) to.write(d); }, delayMs));
      from.on('end', () => setTimeout(() => to.end(), delayMs));
      from.on('close', () => setTimeout(() => to.destroy(), delayMs + 50));
    };
    pipe(down, up);
    pipe(up, down);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  })));
}

// Joins `id` (over the gateway) and opens its socket through `base` (the
// gateway or a proxy before it). `autoPong` false: `onPing(ws, data)`
// answers. Resolves once the socket has seen QUICK_PINGS pings (or after
// 5 s; `pingsBefore` keeps the count, asserted by the tests after points).
async function player(base, sid, id, { autoPong = true, onPing } = {}) {
  const { cookie } = await join(GW0, sid, id);
  const ws = new WsClient(wsUrl(base, '/ws'), { cookie, autoPong });
  let pings = 0;
  ws.ws.on('ping', (data) => {
    pings++;
    if (onPing) onPing(ws.ws, data);
  });
  await ws.opened;
  await ws.next('snapshot');
  try {
    await waitFor(`${id} pinged ${QUICK_PINGS} times`, () => pings >= QUICK_PINGS, { timeout: 5000 });
  } catch { /* asserted by the test */ }
  return { id, ws, pingsBefore: pings };
}

// Opens question `q`; every player answers `choice` ANSWER_AFTER_MS after
// its own receipt of question_open; closes it: {id: points}.
async function playQuestion(sid, players, q = 0, choice = 'A') {
  await command(admin, sid, 'next');
  await Promise.all(players.map(async (p) => {
    const open = await p.ws.next('question_open', { pred: (m) => m.question_idx === q });
    const wait = ANSWER_AFTER_MS - (performance.now() - open._at);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    p.ws.send({ type: 'submit', question_idx: open.question_idx, choice });
    assert.equal((await p.ws.next('submit_ack', { timeout: 15000 })).status, 'accepted', p.id);
  }));
  await command(admin, sid, 'close');
  const points = {};
  await Promise.all(players.map(async (p) => {
    points[p.id] = (await p.ws.next('question_closed', { pred: (m) => m.question_idx === q })).points;
  }));
  console.log(JSON.stringify(points));
  return points;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Three questions, compared by the median difference: one question where
// the busy machine held a timer back does not decide the test.
test('students behind 150 ms and 300 ms of round trip score within 2 points of a loopback student', { timeout: 90000 }, async () => {
  const { sid } = await newSession(admin, makePool(3, { timeLimit: LIMIT_S, answers: ['A'] }));
  const p150 = await delayProxy(GW0, 75);
  const p300 = await delayProxy(GW0, 150);
  const players = [];
  try {
    players.push(...await Promise.all([
      player(GW0, sid, 'lan'), player(p150.url, sid, 'rtt150'), player(p300.url, sid, 'rtt300')]));
    const d150 = [];
    const d300 = [];
    for (let q = 0; q < 3; q++) {
      const pts = await playQuestion(sid, players, q);
      // answering 2 s into a 10 s question: about 900 points
      assert.ok(pts.lan >= 880 && pts.lan <= 905, `loopback ${pts.lan}`);
      d150.push(pts.rtt150 - pts.lan);
      d300.push(pts.rtt300 - pts.lan);
    }
    assert.ok(Math.abs(median(d150)) <= 2, `150 ms round trip: differences ${d150}`);
    assert.ok(Math.abs(median(d300)) <= 2, `300 ms round trip: differences ${d300}`);
    for (const p of players) assert.ok(p.pingsBefore >= QUICK_PINGS, `${p.id} had ${p.pingsBefore} pings`);
  } finally {
    for (const p of players) p.ws.close();
    p150.close();
    p300.close();
  }
});

test('forged pongs gain nothing and pongs delayed 3 s gain at most the cap', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1, { timeLimit: LIMIT_S, answers: ['A'] }));
  const ops = env.gatewayOps[0];
  const ignoredBefore = await metric(ops, 'qw_ws_pongs_ignored_total');
  let forged = 0;
  const forge = (ws, data) => {
    // what a script makes of a ping: a payload moved 19 s into the past (the
    // old clock payload), a flipped byte, random bytes; then the real
    // payload twice (the second a replay)
    const payloads = [crypto.randomBytes(16), crypto.randomBytes(8)];
    if (data.length === 8) {
      const past = Buffer.alloc(8);
      past.writeBigInt64LE(data.readBigInt64LE(0) - 19000000n);
      payloads.push(past);
    }
    const flipped = Buffer.from(data);
    if (flipped.length) flipped[0] ^= 1;
    payloads.push(flipped);
    for (const p of payloads) { ws.pong(p); forged++; }
    ws.pong(data);
    ws.pong(data); // the replay
    forged++;
  };
  let delayedSent = 0;
  const delay = (ws, data) => setTimeout(() => {
    if (ws.readyState === ws.OPEN) { ws.pong(data); delayedSent++; }
  }, 3000);
  const players = [];
  let unsolicited = null;
  try {
    players.push(...await Promise.all([
      player(GW0, sid, 'honest'),
      player(GW0, sid, 'forger', { autoPong: false, onPing: forge }),
      player(GW0, sid, 'delayer', { autoPong: false, onPing: delay }),
    ]));
    const forger = players[1].ws.ws;
    unsolicited = setInterval(() => { forger.pong(crypto.randomBytes(16)); forged++; }, 100);
    await waitFor('a delayed pong answered', () => delayedSent >= 1, { timeout: 15000 });
    await waitFor('20 forged pongs sent', () => forged >= 20);
    const pts = await playQuestion(sid, players);
    assert.ok(pts.forger <= pts.honest + 2, `forger ${pts.forger} vs honest ${pts.honest}`);
    const capPoints = (CAP_MS / (LIMIT_S * 1000) / 2) * 1000; // 50
    assert.ok(pts.delayer <= pts.honest + capPoints + 2, `delayer ${pts.delayer} vs honest ${pts.honest}`);
    const ignored = (await metric(ops, 'qw_ws_pongs_ignored_total')) - ignoredBefore;
    assert.ok(ignored >= 20 && ignored <= forged, `ignored ${ignored} of ${forged} forged`);
    for (const p of players) assert.ok(p.pingsBefore >= QUICK_PINGS, `${p.id} had ${p.pingsBefore} pings`);
  } finally {
    clearInterval(unsolicited);
    for (const p of players) p.ws.close();
  }
});
