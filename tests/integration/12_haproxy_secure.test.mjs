// Behind either shipped HAProxy config the gateway learns the scheme from
// the proxy, never from the client (issue 12 item 6): through deploy/'s
// TLS frontend the admin cookie is Secure and the https Origin of the
// proxied page is the gateway's own; through compose/'s plain frontend a
// client's forged X-Forwarded-Proto: https is overwritten, so no Secure.
// A gateway of its own here trusts the proxy at 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { env, waitFor, natsEnv } from '../lib/stack.mjs';
import { freePort, selfSignedCert, renderDeployConfig, renderComposeConfig, startHaproxy } from './08_haproxy_lib.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-secure-'));
let cert;
let gwProc;
const lbs = [];
let tlsBase;
let plainBase;

before(async () => {
  cert = selfSignedCert(dir);
  const port = await freePort();
  gwProc = spawn(path.join(env.buildDir, 'services/gateway/qw-gateway'), [], {
    env: { ...process.env, ...natsEnv('gateway'), QW_HTTP_PORT: String(port), QW_OPS_PORT: '0',
      QW_TRUSTED_PROXIES: '127.0.0.1', QW_INSTANCE: `gateway-secure-${port}` },
    stdio: 'ignore',
  });
  await waitFor('the proxied gateway', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200;
  }, { timeout: 20000 });
  const [hp, sp, cp] = [await freePort(), await freePort(), await freePort()];
  tlsBase = `https://127.0.0.1:${sp}`;
  plainBase = `http://127.0.0.1:${cp}`;
  lbs.push(await startHaproxy(dir, 'deploy', renderDeployConfig(env.root, {
    servers: [`127.0.0.1:${port}`], httpBind: `127.0.0.1:${hp}`, httpsBind: `127.0.0.1:${sp}`, cert: cert.pem,
  }), sp));
  lbs.push(await startHaproxy(dir, 'compose', renderComposeConfig(env.root, {
    servers: [`127.0.0.1:${port}`], bind: `127.0.0.1:${cp}`,
  }), cp));
});

after(async () => {
  for (const lb of lbs) await lb.stop();
  if (gwProc && gwProc.exitCode === null) {
    const gone = new Promise((r) => gwProc.once('exit', r));
    gwProc.kill('SIGTERM');
    await gone;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// POST /admin/login through `base` from its own loopback address (so the
// login limit of 127.0.0.1 is not touched): resolves {status, cookie}.
function login(base, headers = {}) {
  const u = new URL(base);
  const mod = u.protocol === 'https:' ? https : http;
  const body = Buffer.from(JSON.stringify({ username: 'admin', password: env.adminPassword }));
  return new Promise((resolve, reject) => {
    const req = mod.request(new URL('/admin/login', base), {
      method: 'POST', agent: false, localAddress: '127.0.0.74', timeout: 10000,
      ...(u.protocol === 'https:' ? { ca: cert.ca, servername: 'localhost' } : {}),
      headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({
        status: res.statusCode, text,
        cookie: (res.headers['set-cookie'] || []).find((c) => c.startsWith('qw_admin=')) || '',
      }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

test('through the TLS load balancer the admin cookie is Secure and the https page is the gateway\'s own', async () => {
  const r = await waitFor('a login through TLS', async () => {
    const x = await login(tlsBase, { origin: tlsBase });
    return x.status === 200 ? x : null;
  });
  assert.match(r.cookie, /; Secure/, r.cookie);
  assert.match(r.cookie, /; HttpOnly/);
  // the plain-http origin of the same host is not the page the proxy served
  const h = await login(tlsBase, { origin: tlsBase.replace('https:', 'http:') });
  assert.equal(h.status, 403, h.text);
});

test('through the plain load balancer a client\'s forged X-Forwarded-Proto gets no Secure cookie', async () => {
  const r = await waitFor('a login through compose\'s haproxy', async () => {
    const x = await login(plainBase, { origin: plainBase, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    return x.status === 200 ? x : null;
  });
  assert.equal(r.cookie.includes('Secure'), false, r.cookie);
  // a forged X-Forwarded-Host does not make another site the gateway's own
  const f = await login(plainBase, { origin: 'http://evil.example', 'x-forwarded-host': 'evil.example' });
  assert.equal(f.status, 403, f.text);
});
