// A client must send its whole request head within QW_HTTP_HEAD_TIMEOUT_MS
// (tests/run.sh sets 6000) of connecting, or of its last answer on a
// kept-alive connection (issue 12 item 6): one dripping a header a byte a
// second is dropped near the deadline, not kept alive by its bytes, while
// normal requests are served meanwhile and an open WebSocket lives on.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { env, http, adminLogin, makePool } from '../lib/stack.mjs';
import { newSession, join, connect, sleep } from '../lib/ws.mjs';

const DEADLINE_MS = 6000; // QW_HTTP_HEAD_TIMEOUT_MS of the test stack
let session;
before(async () => { session = await newSession(await adminLogin(), makePool(1)); });

// Connects to `base`, sends `first` at once, then one byte of a header a
// second. Resolves {ms, answered} when the server closes (ms since the
// drip began); rejects after `limit` ms.
function drip(base, first = '', limit = DEADLINE_MS + 15000) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let timer = null;
    let start = 0;
    let received = '';
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      sock.destroy();
      reject(new Error(`still connected after ${limit} ms of dripping`));
    }, limit);
    sock.on('connect', () => {
      sock.write(first);
      const fire = () => {
        if (start === 0 && (!first || received.includes('\r\n\r\n'))) {
          start = performance.now();
          sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        } else if (start) {
          sock.write('a');
        }
      };
      timer = setInterval(fire, 1000);
      fire();
    });
    sock.on('data', (d) => { received += d; });
    const done = () => {
      clearTimeout(giveUp);
      clearInterval(timer);
      resolve({ ms: performance.now() - start, received });
    };
    sock.on('close', done);
    sock.on('error', () => { /* a reset is a close too */ });
  });
}

// Sends a whole POST /api/join head at once, then its 8-byte body spread
// over `ms`; resolves with what the server answered.
function slowBodyRequest(base, ms) {
  const u = new URL(base);
  const body = '{"x":1} ';
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let received = '';
    let i = 0;
    let timer = null;
    sock.on('connect', () => {
      sock.write(`POST /api/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      timer = setInterval(() => { if (i < body.length) sock.write(body[i++]); }, ms / body.length);
    });
    sock.on('data', (d) => { received += d; });
    sock.on('close', () => { clearInterval(timer); resolve(received); });
    sock.on('error', (e) => { clearInterval(timer); reject(e); });
  });
}

test('a client dripping its request head is dropped at the deadline while others are served', { timeout: 60000 }, async () => {
  const gw = env.gateways[0];
  const { cookie } = await join(gw, session.sid, 'awake-through-it');
  const { ws } = await connect(gw, cookie);
  try {
    await scenario(gw, ws);
  } finally {
    ws.terminate(); // a failure must not leave the file running
  }
});

async function scenario(gw, ws) {
  // one fresh connection, and one that was answered once and then drips
  const fresh = drip(gw);
  const kept = drip(gw, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  // a whole head sent at once is being answered: its body may take longer
  const slowBody = slowBodyRequest(gw, DEADLINE_MS + 2000);
  // normal requests go on being served while both drip
  for (let i = 0; i < 5; i++) {
    const r = await http(gw, 'GET', '/healthz');
    assert.equal(r.status, 200);
    await sleep(500);
  }
  const [a, b] = await Promise.all([fresh, kept]);
  for (const [what, r] of [['fresh', a], ['kept-alive', b]]) {
    // dropped near the deadline: not before it (less the drip's start-up), not much after
    assert.ok(r.ms > DEADLINE_MS - 1500, `${what} dropped too early: ${r.ms} ms`);
    assert.ok(r.ms < DEADLINE_MS + 8000, `${what} dropped too late: ${r.ms} ms`);
  }
  assert.match(b.received, /^HTTP\/1\.1 200/, 'the kept-alive connection had its first answer');
  assert.match(await slowBody, /^HTTP\/1\.1 400/, 'a request past its head is answered, not dropped');
  // the WebSocket, open longer than the deadline, still works
  ws.send({ type: 'ping' });
  await ws.next('pong');
}
