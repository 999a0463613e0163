// A student with a script against the gateway's memory (SPEC §4, issue 12
// item 1): a socket that floods ping frames and never reads what they make
// the gateway queue (a pong each) is closed once its queue is over
// QW_WS_MAX_QUEUE, the gateway's memory stays bounded, and the other
// students on the same gateway keep playing.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { env, http, adminLogin, makePool, pidOf, waitFor, metric } from '../lib/stack.mjs';
import { liveBackend, newSession, join, connect, command, rawUpgrade } from '../lib/ws.mjs';

const GW0 = env.gateways[0];
let admin = null;

before(async () => {
  admin = await adminLogin();
  assert.ok(await liveBackend(admin), 'the live backend serves snapshots and submits');
});

// VmRSS of `pid` in MB.
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

// `count` masked ping frames of 125 bytes (the most a control frame holds),
// each one the gateway would answer with a pong of the same size.
function pingFrames(count) {
  const one = Buffer.alloc(2 + 4 + 125);
  one[0] = 0x89; // FIN + ping
  one[1] = 0x80 | 125; // masked, 125 bytes
  crypto.randomFillSync(one, 2, 4 + 125); // mask key and (masked) payload
  const buf = Buffer.alloc(one.length * count);
  for (let i = 0; i < count; i++) one.copy(buf, i * one.length);
  return buf;
}

// A raw socket upgraded to /ws with `cookie`, never read from (rawUpgrade
// leaves it paused): the pongs pile up.
async function rawStudentSocket(base, cookie) {
  return (await rawUpgrade(base, cookie)).sock;
}

test('a socket flooding 300,000 pings without reading is closed, the gateway grows < 20 MB, a neighbour plays on', { timeout: 120000 }, async () => {
  const { sid } = await newSession(admin, makePool(1, { timeLimit: 60, answers: ['A'] }));
  const nb = await join(GW0, sid, 'neighbour');
  const { ws: neighbour } = await connect(GW0, nb.cookie);
  const flooder = await join(GW0, sid, 'flooder');
  const sock = await rawStudentSocket(GW0, flooder.cookie);
  try {
    await flood(sid, neighbour, sock);
  } finally {
    sock.destroy();
    neighbour.close();
  }
});

async function flood(sid, neighbour, sock) {
  const pid = pidOf('gateway1');
  assert.ok(pid, 'the pid of the first gateway');
  const ops = env.gatewayOps[0];
  const dropsBefore = await metric(ops, 'qw_ws_dropped_slow_total');
  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssMb(pid)); } catch { /* gone */ } }, 20);
  sampler.unref(); // a failed assertion must not keep the test process alive
  let closed = false;
  let writeError = null;
  sock.on('error', (e) => { writeError = e; });
  sock.on('close', () => { closed = true; });
  // 300,000 pings (about 39 MB), written as fast as the socket takes them,
  // until the gateway stops the socket
  const chunk = pingFrames(1000);
  for (let i = 0; i < 300 && !closed && !writeError; i++) {
    if (!sock.write(chunk)) {
      await new Promise((resolve) => {
        const done = () => { sock.off('drain', done); sock.off('close', done); resolve(); };
        sock.on('drain', done);
        sock.on('close', done);
      });
    }
  }
  // the gateway drops the socket (counted); without a bound it would go on
  // queueing pongs, which the RSS shows
  let dropped = false;
  try {
    await waitFor('the flooding socket dropped', async () =>
      (await metric(ops, 'qw_ws_dropped_slow_total')) > dropsBefore, { timeout: 20000 });
    dropped = true;
  } catch { /* asserted below, after the memory */ }
  peak = Math.max(peak, rssMb(pid));
  clearInterval(sampler);
  const grew = peak - before;
  console.log(`gateway RSS ${before.toFixed(1)} MB -> peak ${peak.toFixed(1)} MB (+${grew.toFixed(1)} MB)`);
  assert.ok(grew < 20, `the gateway grew ${grew.toFixed(1)} MB`);
  assert.ok(dropped, 'the flooding socket was dropped (qw_ws_dropped_slow_total)');
  // reading now finds the end of the socket
  sock.resume();
  await waitFor('the flooding socket closed', () => closed, { timeout: 30000 });
  // the neighbour on the same gateway plays on
  await command(admin, sid, 'next');
  await neighbour.next('question_open');
  neighbour.send({ type: 'submit', question_idx: 0, choice: 'A' });
  assert.equal((await neighbour.next('submit_ack')).status, 'accepted');
  assert.equal(neighbour.closed, null);
}

test('one seat holds at most QW_WS_PER_STUDENT (4) sockets on a gateway: each one more closes the oldest with 4008; others play on', { timeout: 60000 }, async () => {
  const admin = await adminLogin();
  const s = await newSession(admin, makePool(1));
  const gw = env.gateways[0];
  const many = await join(gw, s.sid, 'many-tabs');
  const other = await join(gw, s.sid, 'one-tab');
  const mine = [];
  for (let i = 0; i < 7; i++) mine.push((await connect(gw, many.cookie)).ws);
  const neighbour = (await connect(gw, other.cookie)).ws;
  for (let i = 0; i < 3; i++) {
    const closed = await mine[i].waitClose();
    assert.equal(closed.code, 4008, `socket ${i}: ${JSON.stringify(closed)}`);
  }
  await command(admin, s.sid, 'next');
  for (const ws of [...mine.slice(3), neighbour]) {
    const open = await ws.next('question_open');
    assert.equal(open.question_idx, 0);
  }
  assert.ok(mine.slice(3).every((ws) => ws.closed === null), 'the four newest stay open');
  assert.equal(neighbour.closed, null);
  for (const ws of [...mine, neighbour]) ws.close();
});
