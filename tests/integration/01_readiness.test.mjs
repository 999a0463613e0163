// Readiness is not liveness: a second qw-auth whose Postgres goes through a
// proxy this test controls is not ready while its worker is still stuck
// connecting (though its ops port already answers /livez), turns ready once
// the worker subscribed, turns red within a few seconds when its database
// stalls, and green again when the database answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { env, http, waitFor, natsEnv } from '../lib/stack.mjs';

// A TCP proxy to the stack's Postgres socket. hold() stops every byte both
// ways (the connections stay open, as behind a stalled network); connections
// past the first `admit` are accepted but not forwarded until release().
class PgProxy {
  constructor(socketPath, admit = Infinity) {
    this.socketPath = socketPath;
    this.admit = admit;
    this.held = false;
    this.accepted = 0;
    this.pairs = new Set();
    this.pending = [];
  }

  async listen() {
    this.server = net.createServer((c) => this.accept(c));
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
  }

  accept(client) {
    const pair = { client, up: null, toUp: [], toClient: [] };
    this.pairs.add(pair);
    this.accepted++;
    client.on('error', () => {});
    client.on('close', () => { this.pairs.delete(pair); if (pair.up) pair.up.destroy(); });
    client.on('data', (d) => { if (this.held || !pair.up) pair.toUp.push(d); else pair.up.write(d); });
    if (this.accepted > this.admit) this.pending.push(pair); else this.open(pair);
  }

  open(pair) {
    pair.up = net.connect(this.socketPath);
    pair.up.on('error', () => {});
    pair.up.on('close', () => pair.client.destroy());
    pair.up.on('data', (d) => { if (this.held) pair.toClient.push(d); else pair.client.write(d); });
    this.flush(pair);
  }

  flush(pair) {
    if (this.held) return;
    for (const d of pair.toUp.splice(0)) pair.up.write(d);
    for (const d of pair.toClient.splice(0)) pair.client.write(d);
  }

  hold() { this.held = true; }

  release() {
    this.held = false;
    this.admit = Infinity;
    for (const p of this.pending.splice(0)) this.open(p);
    for (const p of this.pairs) if (p.up) this.flush(p);
  }

  close() {
    for (const p of this.pairs) { p.client.destroy(); if (p.up) p.up.destroy(); }
    this.server.close();
  }
}

function dbField(name) {
  const m = new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(env.dbUrl);
  return m ? m[1] : null;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

let daemon = null;
let proxy = null;
after(() => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  if (proxy) proxy.close();
});

test('auth is live but not ready until its worker subscribed, red within seconds of a database stall, green after', async () => {
  const socketPath = path.join(dbField('host'), `.s.PGSQL.${dbField('port')}`);
  // connection 1: the health prober, 2: the start-up key check; the worker's (3) waits
  proxy = new PgProxy(socketPath, 2);
  await proxy.listen();
  const opsPort = await freePort();
  const ops = `http://127.0.0.1:${opsPort}`;
  let log = '';
  daemon = spawn(path.join(env.buildDir, 'services/auth/qw-auth'), [], {
    env: {
      ...process.env,
      ...natsEnv('auth'),
      QW_DB_URL: `host=127.0.0.1 port=${proxy.port} dbname=${dbField('dbname')} user=${dbField('user')} passfile=${dbField('passfile')} sslmode=disable`,
      QW_OPS_PORT: String(opsPort), QW_INSTANCE: 'auth-readiness', QW_WORKERS: '1', QW_HEALTH_DB_MS: '1000',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  daemon.stderr.on('data', (d) => { log += d.toString(); });

  await waitFor('the ops port to answer /livez', async () => (await http(ops, 'GET', '/livez', { timeout: 2000 })).status === 200);
  await waitFor('the worker to be connecting', () => proxy.accepted >= 3);
  const early = await http(ops, 'GET', '/healthz', { timeout: 3000 });
  assert.equal(early.status, 503, `healthz before the worker subscribed: ${early.text}`);
  assert.equal(early.json.ready, false);
  assert.doesNotMatch(log, /event=ready/);

  proxy.release();
  await waitFor('auth to become ready', async () => (await http(ops, 'GET', '/healthz', { timeout: 3000 })).status === 200);
  assert.match(log, /event=ready/);

  proxy.hold();
  const stalled = Date.now();
  const red = await waitFor('healthz 503 while the database is stalled', async () => {
    const r = await http(ops, 'GET', '/healthz', { timeout: 3000 });
    return r.status === 503 && r;
  }, { timeout: 8000 });
  const redAfter = Date.now() - stalled;
  assert.equal(red.json.db, false, red.text);
  assert.ok(redAfter < 5000, `red ${redAfter} ms after the stall`);
  const live = await http(ops, 'GET', '/livez', { timeout: 3000 });
  assert.equal(live.status, 200, 'still live while not ready');
  console.log(`# red ${redAfter} ms after the database stalled (bound 1000 ms)`);

  proxy.release();
  await waitFor('healthz 200 once the database answers again', async () => (await http(ops, 'GET', '/healthz', { timeout: 3000 })).status === 200,
    { timeout: 15000 });
  await waitFor('the log to say so', () => /event=db_ready/.test(log));

  daemon.kill('SIGTERM');
  const code = await new Promise((r) => daemon.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'stops cleanly on SIGTERM');
});
