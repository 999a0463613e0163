// A socket that never answers the gateway's pings is dropped once it has
// been silent for two ping intervals (QW_PING_INTERVAL_MS), and no sooner;
// a socket that answers them stays. Run against a gateway of its own with
// a 500 ms interval (the stack's own gateways ping every 20 s), on the
// stack's NATS. Fails when the tick stops checking the pong timeout: the
// silent socket then stays open.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { env, http, adminLogin, makePool, natsEnv, waitFor, WsClient, wsUrl } from '../lib/stack.mjs';
import { newSession, join } from '../lib/ws.mjs';

const PING_MS = 500;
const children = [];

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
});

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});

// A gateway with QW_PING_INTERVAL_MS=PING_MS; resolves with its base URL once it is ready.
async function pingGateway() {
  const port = await freePort();
  const c = spawn(path.join(env.buildDir, 'services/gateway/qw-gateway'), [], {
    env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', ...natsEnv('gateway'),
      QW_HTTP_PORT: String(port), QW_OPS_PORT: '0', QW_INSTANCE: 'gateway-ping', QW_PING_INTERVAL_MS: String(PING_MS) },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  children.push(c);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('the ping gateway ready', async () => {
    try { return (await http(base, 'GET', '/healthz', { timeout: 2000 })).status === 200; } catch { return false; }
  }, { timeout: 30000 });
  return base;
}

test('a socket silent for two ping intervals is dropped, not before; one that answers pings stays', { timeout: 60000 }, async () => {
  const base = await pingGateway();
  const admin = await adminLogin();
  const { sid } = await newSession(admin, makePool(1));
  const silentSeat = await join(env.gateways[0], sid, 'silent');
  const liveSeat = await join(env.gateways[0], sid, 'live');
  const live = new WsClient(wsUrl(base, '/ws'), { cookie: liveSeat.cookie });
  await live.opened;
  await live.next('snapshot');
  const silent = new WsClient(wsUrl(base, '/ws'), { cookie: silentSeat.cookie, autoPong: false });
  await silent.opened;
  const opened = performance.now();
  await silent.next('snapshot');
  await silent.waitClose(20000); // without the pong timeout it would never close
  const silentFor = performance.now() - opened;
  console.log(`silent socket dropped after ${silentFor.toFixed(0)} ms (bound: more than ${2 * PING_MS} ms)`);
  assert.ok(silentFor >= 2 * PING_MS - 100, `dropped after ${silentFor.toFixed(0)} ms, before two intervals`);
  // the answering socket outlives several more intervals
  await new Promise((r) => setTimeout(r, 4 * PING_MS));
  assert.equal(live.closed, null, 'the socket that answers pings is still open');
  live.close();
});
