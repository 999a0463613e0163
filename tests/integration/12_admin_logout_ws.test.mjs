// Logout ends the login everywhere at once (issue 12 item 5): the admin
// sockets opened with that login, on both gateways, are closed (1008
// "logged_out") as soon as the logout is answered, while another login's
// socket keeps working; the logged-out cookie then opens no new socket.
// Nor does an admin socket outlive its token: one opened with a token
// about to expire (signed here with the stack's key, read from Postgres,
// for a real login) is closed 1008 "token_expired" at its expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import httpMod from 'node:http';
import path from 'node:path';
import { env, http, adminLogin, WsClient, wsUrl } from '../lib/stack.mjs';
import { sleep } from '../lib/ws.mjs';

// A login of its own (not the cached cookie, which other tests share),
// from its own loopback address so it never counts against 127.0.0.1's
// login limit.
function freshLogin(base) {
  const u = new URL(base);
  const body = Buffer.from(JSON.stringify({ username: 'admin', password: env.adminPassword }));
  return new Promise((resolve, reject) => {
    const req = httpMod.request({
      host: u.hostname, port: u.port, path: '/admin/login', method: 'POST', localAddress: '127.0.0.73',
      agent: false, timeout: 10000, headers: { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const c = (res.headers['set-cookie'] || []).find((x) => x.startsWith('qw_admin='));
        if (res.statusCode !== 200 || !c) reject(new Error(`login: ${res.statusCode}`));
        else resolve(c.split(';')[0]);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

// Opens /admin/ws?sid=main and awaits its snapshot; the socket goes into
// `socks` first, so the caller closes it whatever happens.
async function openAdmin(base, cookie, socks) {
  const ws = new WsClient(wsUrl(base, '/admin/ws?sid=main'), { cookie });
  socks.push(ws);
  await ws.opened;
  await ws.next('snapshot');
  return ws;
}

test('logout closes that login\'s open admin sockets on every gateway, and only those', async () => {
  const [gw1, gw2] = env.gateways;
  const mine = await freshLogin(gw1);
  const other = await adminLogin(gw1);
  const socks = [];
  try {
    await runScenario(gw1, gw2, mine, other, socks);
  } finally {
    for (const ws of socks) ws.terminate(); // a failure must not leave the file running
  }
});

async function runScenario(gw1, gw2, mine, other, socks) {
  for (const gw of [gw1, gw2, gw2]) await openAdmin(gw, mine, socks);
  const bystander = await openAdmin(gw1, other, socks);
  const out = await http(gw2, 'POST', '/admin/logout', { cookie: mine });
  assert.equal(out.status, 200, out.text);
  for (const ws of socks.slice(0, 3)) {
    const c = await ws.waitClose(10000);
    assert.equal(c.code, 1008, `closed with ${c.code} ${c.reason}`);
    assert.equal(c.reason, 'logged_out');
  }
  // the other login's socket is untouched and still answers
  await sleep(300);
  assert.equal(bystander.closed, null);
  bystander.send({ type: 'ping' });
  await bystander.next('pong');
  bystander.close();
  // and the logged-out cookie opens nothing new
  const again = new WsClient(wsUrl(gw1, '/admin/ws?sid=main'), { cookie: mine });
  socks.push(again);
  await assert.rejects(again.opened, (e) => e.status === 401);
}

// psql against the stack's database.
function sql(query) {
  const psql = path.join(process.env.QW_PG_BIN, 'psql');
  return execFileSync(psql, [env.dbUrl, '-XtAc', query], { encoding: 'utf8' }).trim();
}

// A token of the same login as `cookie` that expires at `exp` (seconds),
// signed as auth signs (token.c: base64url of the sorted claims, a dot,
// base64url of their HMAC-SHA256).
function tokenExpiringAt(cookie, exp) {
  const [body] = cookie.slice('qw_admin='.length).split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  const sorted = JSON.stringify(Object.fromEntries(Object.entries({ ...claims, exp }).sort(([a], [b]) => (a < b ? -1 : 1))));
  const key = Buffer.from(sql("SELECT value FROM settings WHERE key = 'token_key'"), 'hex');
  const head = Buffer.from(sorted).toString('base64url');
  return `${head}.${crypto.createHmac('sha256', key).update(head).digest('base64url')}`;
}

test('an admin socket is closed when its token expires', async () => {
  assert.equal(process.env.QW_TOKEN_KEY, undefined, 'the test stack keeps its token key in Postgres');
  const cookie = await freshLogin(env.gateways[0]);
  const exp = Math.floor(Date.now() / 1000) + 4;
  const token = tokenExpiringAt(cookie, exp);
  const socks = [];
  try {
    const ws = await openAdmin(env.gateways[1], `qw_admin=${token}`, socks);
    const c = await ws.waitClose(15000);
    const at = Date.now();
    assert.equal(c.code, 1008, `closed with ${c.code} ${c.reason}`);
    assert.equal(c.reason, 'token_expired');
    assert.ok(at >= exp * 1000 - 1000, `closed ${exp * 1000 - at} ms before the expiry`);
  } finally {
    for (const ws of socks) ws.terminate();
  }
});
