// QW_TRUSTED_PROXIES takes CIDR ranges, not only exact IPs (compose trusts
// its network's subnet, wherever Docker puts HAProxy): a gateway started
// here trusts 127.0.3.0/29 and ::1. A peer inside the range is taken at its
// word (X-Forwarded-Proto https gives a Secure cookie, the forwarded hop is
// the rate-limited client); one just outside is not. A bad entry stops the
// gateway at start instead of trusting something by accident.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import httpMod from 'node:http';
import path from 'node:path';
import { env, waitFor, natsEnv } from '../lib/stack.mjs';
import { freePort } from './08_haproxy_lib.mjs';

const children = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGTERM'); });

function gateway(port, trusted) {
  let err = '';
  const c = spawn(path.join(env.buildDir, 'services/gateway/qw-gateway'), [], {
    env: { ...process.env, ...natsEnv('gateway'), QW_HTTP_PORT: String(port), QW_OPS_PORT: '0',
      QW_TRUSTED_PROXIES: trusted, QW_INSTANCE: `gateway-cidr-${port}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  c.stderr.on('data', (d) => { err += d; });
  c.stderrText = () => err;
  children.push(c);
  return c;
}

function login(port, localAddress, headers) {
  const body = Buffer.from(JSON.stringify({ username: 'admin', password: env.adminPassword }));
  return new Promise((resolve, reject) => {
    const req = httpMod.request({
      host: '127.0.0.1', port, path: '/admin/login', method: 'POST', localAddress, timeout: 10000,
      headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
    }, (res) => { res.resume(); res.on('end', () => resolve(res)); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const adminCookie = (res) => (res.headers['set-cookie'] || []).find((c) => c.startsWith('qw_admin=')) || '';

test('a peer inside a trusted CIDR range is believed, one just outside it is not', async () => {
  const port = await freePort();
  gateway(port, ' 127.0.3.0/29 , ::1 ');
  await waitFor('the CIDR-trusting gateway', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200;
  }, { timeout: 20000 });
  const hdr = { 'x-forwarded-proto': 'https', 'x-forwarded-for': `198.51.102.${process.pid % 200}` };
  for (const ip of ['127.0.3.1', '127.0.3.7']) {
    const r = await login(port, ip, hdr);
    assert.equal(r.statusCode, 200, `from ${ip}`);
    assert.match(adminCookie(r), /; Secure/, `${ip} is in 127.0.3.0/29`);
  }
  for (const ip of ['127.0.3.8', '127.0.2.255']) {
    const r = await login(port, ip, hdr);
    assert.equal(r.statusCode, 200, `from ${ip}`);
    assert.doesNotMatch(adminCookie(r), /Secure/, `${ip} is outside 127.0.3.0/29`);
  }
});

test('a malformed QW_TRUSTED_PROXIES entry stops the gateway at start and is named in its log', async () => {
  const c = gateway(await freePort(), '127.0.0.1, 10.0.0.0/33');
  const code = await waitFor('the gateway to exit', () => (c.exitCode !== null ? { code: c.exitCode } : null), { timeout: 20000 });
  assert.notEqual(code.code, 0);
  assert.match(c.stderrText(), /event=config_invalid .*name=QW_TRUSTED_PROXIES .*10\.0\.0\.0\/33/);
});
