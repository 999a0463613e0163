// The load balancer of deploy/ (and, by the shared block, of compose/) run
// for real: Debian's haproxy on deploy/haproxy.cfg.tmpl rendered for
// loopback, with TLS from a self-signed certificate, in front of the test
// stack's two gateways. It proves health checks, turn-taking, HTTP to HTTPS
// redirect, surviving a killed or hung gateway, that the client address the
// gateway is told is the real one, and that WebSocket upgrades tunnel through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import WebSocket, { WebSocketServer } from 'ws';
import { env, waitFor, pidOf, alive } from '../lib/stack.mjs';
import { freePort, selfSignedCert, renderDeployConfig, startHaproxy } from './08_haproxy_lib.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-haproxy-'));
let cert;
let lb; // haproxy in front of the stack's gateways
let lbHttps;
let lbHttp;
let echo; // a header-echoing HTTP + WebSocket backend
let echoLb; // haproxy in front of it
let echoLbHttps;

// One request on a fresh connection (so every request is balanced anew):
// resolves {status, headers, json, text}.
function request(url, { method = 'GET', headers = {}, localAddress, timeout = 5000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const tls = u.protocol === 'https:' ? { ca: cert.ca, servername: 'localhost' } : {};
    const req = mod.request(u, { method, headers, ...tls, agent: false, localAddress, timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeout} ms: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function instancesSeen(n) {
  const seen = [];
  for (let i = 0; i < n; i++) {
    const r = await request(`${lbHttps}/healthz`);
    assert.equal(r.status, 200, r.text);
    seen.push(r.json.instance);
  }
  return seen;
}

before(async () => {
  cert = selfSignedCert(dir);
  const [hp, sp] = [await freePort(), await freePort()];
  lbHttp = `http://127.0.0.1:${hp}`;
  lbHttps = `https://127.0.0.1:${sp}`;
  const servers = env.gateways.map((g) => new URL(g).host);
  lb = await startHaproxy(dir, 'lb', renderDeployConfig(env.root, {
    servers, httpBind: `127.0.0.1:${hp}`, httpsBind: `127.0.0.1:${sp}`, cert: cert.pem,
  }), sp);

  // The echo backend: /healthz 200 for the health check, every other path
  // answers with the headers it received; WebSockets echo each message.
  echo = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/healthz' ? { ok: true } : { headers: req.headers, peer: req.socket.remoteAddress }));
  });
  const wss = new WebSocketServer({ noServer: true });
  echo.on('upgrade', (req, sock, head) => wss.handleUpgrade(req, sock, head, (ws) => {
    ws.on('message', (m) => ws.send(m.toString()));
  }));
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const [ehp, esp] = [await freePort(), await freePort()];
  echoLbHttps = `https://127.0.0.1:${esp}`;
  echoLb = await startHaproxy(dir, 'echo-lb', renderDeployConfig(env.root, {
    servers: [`127.0.0.1:${echo.address().port}`], httpBind: `127.0.0.1:${ehp}`,
    httpsBind: `127.0.0.1:${esp}`, cert: cert.pem,
  }), esp);
});

after(async () => {
  await lb?.stop();
  await echoLb?.stop();
  echo?.closeAllConnections?.();
  await new Promise((r) => (echo ? echo.close(r) : r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('healthz through the TLS load balancer answers 200 and both gateways take turns', async () => {
  assert.equal(env.gateways.length, 2);
  const seen = await waitFor('both gateways serving through haproxy', async () => {
    const s = await instancesSeen(6);
    return new Set(s).size === 2 ? s : null;
  });
  // with equal (zero) load, leastconn takes them in turn
  for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], `no turn-taking: ${seen}`);
  const r = await request(`${lbHttps}/healthz`);
  assert.match(r.headers['strict-transport-security'] || '', /max-age=\d+/);
});

test('plain HTTP is redirected to the same path over HTTPS', async () => {
  const r = await request(`${lbHttp}/host?x=1`);
  assert.equal(r.status, 301);
  assert.match(r.headers.location, /^https:\/\/127\.0\.0\.1:\d+\/host\?x=1$/);
});

test('the load balancer answers its own liveness without a gateway', async () => {
  const r = await request(`${lbHttps}/lb-healthz`);
  assert.equal(r.status, 200);
});

test('a killed gateway costs no request: haproxy retries the other one, then both serve again', async () => {
  const pid = pidOf('gateway1');
  assert.ok(pid && alive(pid), 'gateway1 is running');
  process.kill(pid, 'SIGKILL');
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await request(`${lbHttps}/healthz`, { timeout: 8000 })).status);
  assert.deepEqual(statuses, Array(8).fill(200));
  // the stack's supervisor restarts it; haproxy's checks bring it back
  await waitFor('the restarted gateway serving through haproxy again', async () => {
    const p = pidOf('gateway1');
    if (!p || p === pid) return false;
    return new Set(await instancesSeen(4)).size === 2;
  }, { timeout: 30000, interval: 200 });
});

test('a hung gateway is taken out by the health check and the other serves alone', async () => {
  const pid = pidOf('gateway1');
  const other = (await request(`${env.gateways[1]}/healthz`)).json.instance;
  process.kill(pid, 'SIGSTOP');
  try {
    // once two checks have timed out, every request goes to the other one
    await waitFor('haproxy to mark the hung gateway down', async () => {
      for (let i = 0; i < 6; i++) {
        const r = await request(`${lbHttps}/healthz`, { timeout: 1000 });
        if (r.status !== 200 || r.json.instance !== other) return false;
      }
      return true;
    }, { timeout: 20000, interval: 100 });
    // and it was the health check that took it out, not only leastconn
    await waitFor('haproxy logging gw1 DOWN', () => /Server gateways\/gw1 is DOWN/.test(lb.log()), { timeout: 15000 });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await waitFor('the resumed gateway back in rotation', async () => new Set(await instancesSeen(4)).size === 2,
    { timeout: 20000, interval: 200 });
  assert.match(lb.log(), /Server gateways\/gw1 is UP/);
});

test('GET /ws through the load balancer gets what a gateway itself answers, never a proxy error', async () => {
  const headers = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
  const direct = await request(`${env.gateways[0]}/ws`, { headers });
  const via = await request(`${lbHttps}/ws`, { headers });
  assert.equal(via.status, direct.status);
  assert.ok(![502, 503, 504].includes(via.status), `proxy error ${via.status}`);
  assert.deepEqual(via.json, direct.json);
});

test('the backend is told the real client address, never an X-Forwarded-For the client sent', async () => {
  const r = await request(`${echoLbHttps}/echo`, {
    headers: { 'x-forwarded-for': '10.6.6.6', host: 'quiz.example.org' }, localAddress: '127.0.0.2',
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-forwarded-for'], '127.0.0.2');
  assert.equal(r.json.headers.host, 'quiz.example.org', 'Host is passed on for the Origin check');
  assert.equal(r.json.peer, '127.0.0.1');
});

test('a WebSocket upgrade passes through TLS termination and stays an open tunnel', async () => {
  const ws = new WebSocket(`${echoLbHttps.replace(/^https/, 'wss')}/ws`, { ca: cert.ca });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const got = [];
  const all = new Promise((resolve) => ws.on('message', (m) => { got.push(m.toString()); if (got.length === 3) resolve(); }));
  for (const m of ['a', 'b', 'c']) ws.send(m);
  await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`echo: ${got}`)), 5000))]);
  assert.deepEqual(got, ['a', 'b', 'c']);
  ws.close();
});
