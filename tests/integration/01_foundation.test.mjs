// The foundation: the real stack answers health on both gateways, the ops
// ports serve metrics, bad settings stop a daemon with one clear line, and
// a NATS outage turns /healthz to 503 and back without a hand on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, http, waitFor, pidOf, natsEnv } from '../lib/stack.mjs';

test('both gateways answer /healthz 200 with every backend up', async () => {
  assert.equal(env.gateways.length, 2);
  for (const gw of env.gateways) {
    const res = await http(gw, 'GET', '/healthz');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.ok, true);
    assert.equal(res.json.auth, true);
    assert.equal(res.json.session, true);
    assert.equal(res.json.scoring, true);
  }
});

test('unknown routes answer 404 and wrong methods 405, as JSON errors', async () => {
  const gw = env.gateways[0];
  const a = await http(gw, 'GET', '/no/such/route');
  assert.equal(a.status, 404);
  assert.equal(a.json.error, 'not_found');
  assert.equal(typeof a.json.message, 'string');
  const b = await http(gw, 'POST', '/healthz', { body: {} });
  assert.equal(b.status, 405);
  assert.equal(b.json.error, 'method_not_allowed');
});

test('every daemon serves /healthz and Prometheus /metrics on its ops port', async () => {
  for (const base of [env.ops.auth, env.ops.session, env.ops.scoring, ...env.gatewayOps]) {
    const h = await http(base, 'GET', '/healthz');
    assert.equal(h.status, 200, `${base}: ${h.text}`);
    assert.equal(h.json.ok, true);
    const m = await http(base, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /# TYPE process_resident_memory_bytes gauge/);
    assert.match(m.text, /process_cpu_seconds_total\{daemon="[a-z]+"\} [0-9.]+/);
  }
});

test('docs/CONFIG.md is exactly what the settings table generates', () => {
  const out = execFileSync(path.join(env.buildDir, 'shared/qw-config-doc'), { encoding: 'utf8' });
  const doc = fs.readFileSync(path.join(env.root, 'docs/CONFIG.md'), 'utf8');
  assert.equal(doc, out, 'run `make config-doc` and commit docs/CONFIG.md');
});

test('the roles table of docs/ARCHITECTURE.md is exactly what the roles table generates', () => {
  const out = execFileSync(path.join(env.buildDir, 'shared/qw-nats-roles'), ['--doc'], { encoding: 'utf8' });
  const doc = fs.readFileSync(path.join(env.root, 'docs/ARCHITECTURE.md'), 'utf8');
  const m = doc.match(/^<!-- roles:begin[^\n]*\n([\s\S]*?)^<!-- roles:end/m);
  assert.ok(m, 'docs/ARCHITECTURE.md has the roles markers');
  assert.equal(m[1], out, 'run `make config-doc` and commit docs/ARCHITECTURE.md');
});

function runDaemon(name, extraEnv) {
  const bin = path.join(env.buildDir, `services/${name}/qw-${name}`);
  const r = spawnSync(bin, [], {
    env: { ...process.env, ...natsEnv(name), QW_DB_URL: env.dbUrl, QW_OPS_PORT: '0', QW_HTTP_PORT: '1', ...extraEnv },
    encoding: 'utf8', timeout: 20000,
  });
  return r;
}

test('a port that is not a number stops the daemon with one line naming the variable', () => {
  for (const name of ['auth', 'session', 'scoring', 'gateway']) {
    const r = runDaemon(name, { QW_OPS_PORT: 'eighty' });
    assert.notEqual(r.status, 0, `${name} must exit non-zero`);
    assert.equal(r.signal, null, `${name} must not crash`);
    const lines = r.stderr.trim().split('\n').filter((l) => /config_invalid/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /var=QW_OPS_PORT/);
  }
});

test('an unreachable Postgres stops the daemon at start with one clear line', () => {
  for (const name of ['auth', 'session', 'scoring']) {
    const r = runDaemon(name, { QW_DB_URL: 'host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2' });
    assert.notEqual(r.status, 0);
    assert.equal(r.signal, null);
    assert.match(r.stderr, /event=db_connect_failed var=QW_DB_URL/);
    assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/);
  }
});

test('killing nats-server turns both /healthz to 503 within 5 s, and back to 200 within 10 s', async () => {
  const hold = path.join(env.runDir, 'hold.nats');
  fs.writeFileSync(hold, '');
  try {
    process.kill(pidOf('nats'), 'SIGKILL');
    const t0 = Date.now();
    for (const gw of env.gateways) {
      await waitFor(`${gw} /healthz 503`, async () => (await http(gw, 'GET', '/healthz', { timeout: 3000 })).status === 503,
        { timeout: 5000 - (Date.now() - t0) });
    }
  } finally {
    fs.unlinkSync(hold);
  }
  const t1 = Date.now();
  for (const gw of env.gateways) {
    await waitFor(`${gw} /healthz 200`, async () => (await http(gw, 'GET', '/healthz', { timeout: 3000 })).status === 200,
      { timeout: 10000 - (Date.now() - t1) });
  }
});

test('requests with 2 KB of cookies are served; far larger headers get 431 and harm nothing', async () => {
  const gw = env.gateways[1];
  const ok = await http(gw, 'GET', '/healthz', { headers: { cookie: `other=${'x'.repeat(2048)}` } });
  assert.equal(ok.status, 200, 'QW_HTTP_CONN_MEMORY_KB must leave room for a browser\'s headers');
  const big = await fetch(gw + '/healthz', { headers: { cookie: `other=${'x'.repeat(16 * 1024)}` } });
  assert.equal(big.status, 431);
  assert.equal((await http(gw, 'GET', '/healthz')).status, 200);
});
