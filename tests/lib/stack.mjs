// stack.mjs: what every integration test needs to talk to the real stack
// that tests/run.sh started: its URLs from the environment, an HTTP helper,
// an admin login, a WebSocket client that awaits messages by type, and
// helpers to find and signal the daemons' processes.
import fs from 'node:fs';
import nodeHttp from 'node:http';
import nodeHttps from 'node:https';
import path from 'node:path';
import { after } from 'node:test';
import WebSocket from 'ws';

export const env = {
  gateways: (process.env.QW_GATEWAYS || '').split(',').filter(Boolean),
  gatewayOps: (process.env.QW_GATEWAY_OPS || '').split(',').filter(Boolean),
  ops: {
    auth: process.env.QW_OPS_AUTH,
    session: process.env.QW_OPS_SESSION,
    scoring: process.env.QW_OPS_SCORING,
  },
  runDir: process.env.QW_RUN_DIR,
  logDir: process.env.QW_LOG_DIR,
  buildDir: process.env.QW_BUILD_DIR,
  root: process.env.QW_ROOT,
  natsUrl: process.env.QW_NATS_URL,
  natsSecretDir: process.env.QW_NATS_SECRET_DIR,
  dbUrl: process.env.QW_DB_URL,
  adminPassword: process.env.QW_ADMIN_PASSWORD,
};
if (env.gateways.length === 0) throw new Error('QW_GATEWAYS is not set: run the tests through tests/run.sh');

// The NATS credentials of `role` (auth, session, scoring, gateway): user,
// password file and password, from the stack's secrets folder.
export function natsCreds(role) {
  const file = path.join(env.natsSecretDir, `nats-${role}.password`);
  return { user: `qw_${role}`, file, pass: fs.readFileSync(file, 'utf8').trim() };
}

// The environment a daemon of `role` started by a test needs for NATS.
export function natsEnv(role) {
  const c = natsCreds(role);
  return { QW_NATS_URL: env.natsUrl, QW_NATS_USER: c.user, QW_NATS_PASSWORD_FILE: c.file };
}

// http(base, method, path, {body, cookie, headers, timeout}) ->
//   {status, headers, setCookies, json, text}
// A string or byte body is sent as is; anything else is sent as JSON.
// Redirects are not followed. `headers` is a Headers object (headers.get);
// `setCookies` holds every Set-Cookie header, one string each. It is made
// with node:http rather than fetch because fetch's Headers.getSetCookie
// needs Node 19.7 (or a newer undici than Debian 12's Node 18 has), and
// Headers.get('set-cookie') joins the cookies with ", ", which an Expires
// date also contains; node:http gives them as an array on every version.
export function http(base, method, p, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  let body;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' || opts.body instanceof Uint8Array ? opts.body : JSON.stringify(opts.body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  if (opts.cookie) headers.cookie = opts.cookie;
  body = body === undefined ? null : Buffer.from(body);
  // like fetch: a write without a body says Content-Length: 0
  if (body || (method !== 'GET' && method !== 'HEAD')) headers['content-length'] = String(body ? body.length : 0);
  const url = new URL(base + p);
  const mod = url.protocol === 'https:' ? nodeHttps : nodeHttp;
  const timeout = opts.timeout || 10000;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        try {
          const h = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          resolve({ status: res.statusCode, headers: h, setCookies: res.headers['set-cookie'] || [], json, text });
        } catch (e) {
          reject(e);
        }
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${url} timed out after ${timeout} ms`)), timeout);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end(body || undefined);
  });
}

// Every Set-Cookie header of a response from http(), one string each.
export function setCookies(res) {
  return res.setCookies;
}

// The "name=value" part of a Set-Cookie header for cookie `name`, or null.
export function cookieFrom(res, name) {
  for (const c of setCookies(res)) {
    if (c.startsWith(name + '=')) return c.split(';')[0];
  }
  return null;
}

// The admin cookie, logged in once per test run and kept in a file under
// QW_TEST_TMP: the login limit (10 tries a minute per client IP) counts
// every login, and every test shares the client IP 127.0.0.1. A cached
// cookie that no longer works (logged out) is replaced by a fresh login.
export async function adminLogin(base = env.gateways[0]) {
  const cache = process.env.QW_TEST_TMP ? path.join(process.env.QW_TEST_TMP, 'admin_cookie') : null;
  if (cache && fs.existsSync(cache)) {
    const cookie = fs.readFileSync(cache, 'utf8').trim();
    const check = await http(base, 'GET', '/admin/api/quizzes', { cookie });
    if (check.status === 200) return cookie;
  }
  const res = await http(base, 'POST', '/admin/login', { body: { username: 'admin', password: env.adminPassword } });
  if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${res.text}`);
  const cookie = cookieFrom(res, 'qw_admin');
  if (cache) fs.writeFileSync(cache, cookie);
  return cookie;
}

// The value of the first sample of metric `name` (labelled or not) on an
// ops port's /metrics, or NaN when it is not there.
export async function metric(opsBase, name) {
  const m = await http(opsBase, 'GET', '/metrics');
  const line = m.text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

// Polls `fn` until it returns a truthy value or `timeout` ms pass; returns
// that value or throws naming `what`.
export async function waitFor(what, fn, { timeout = 10000, interval = 50 } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
}

export function pidOf(name) {
  const f = path.join(env.runDir, `${name}.pid`);
  return fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8').trim()) : null;
}

export function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// A pool with `n` questions, each with 4 choices and answer B by default.
export function makePool(n, { title = 'Test pool', timeLimit = 20, answers } = {}) {
  return {
    title,
    questions: Array.from({ length: n }, (_, i) => ({
      text: `Question ${i + 1}: what is ${i} + 1?`,
      choices: [`${i}`, `${i + 1}`, `${i + 2}`, `${i + 3}`],
      answer: answers ? answers[i % answers.length] : 'B',
      time_limit_s: timeLimit,
    })),
  };
}

// Every WsClient not yet closed. A test that fails half-way leaves its
// sockets open, and an open socket keeps the test file's process alive
// for ever (Node 18's runner has no --test-force-exit): after the file's
// last test they are cut, so a failure is reported instead of hanging.
const OPEN_CLIENTS = new Set();
after(() => {
  for (const c of OPEN_CLIENTS) c.terminate();
});

// A WebSocket client that keeps every message and awaits them by type.
export class WsClient {
  // autoPong false: the test answers the server's pings itself (ws 'ping').
  constructor(url, { cookie, origin, headers, autoPong = true } = {}) {
    this.url = url;
    this.messages = [];
    this.waiters = [];
    this.closed = null;
    const h = { ...(headers || {}) };
    if (cookie) h.cookie = cookie;
    this.ws = new WebSocket(url, { headers: h, origin: origin ?? new URL(url.replace(/^ws/, 'http')).origin, autoPong });
    OPEN_CLIENTS.add(this);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data, isBinary) => {
      let m;
      try { m = JSON.parse(data.toString()); } catch { m = { type: '_unparsed', raw: data.toString(), isBinary }; }
      m._at = performance.now();
      this.messages.push(m);
      this._wake();
    });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; OPEN_CLIENTS.delete(this); this._wake(); });
  }
  _wake() {
    for (const w of [...this.waiters]) w();
  }
  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  // Resolves with the first message (after index `from`) of `type` matching `pred`.
  next(type, { timeout = 10000, pred = () => true, from = 0 } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.messages.length; i++) {
          const m = this.messages[i];
          if (m.type === type && pred(m) && !m._taken) { m._taken = true; done(); resolve(m); return true; }
        }
        if (this.closed) { done(); reject(new Error(`socket closed (${this.closed.code}) while waiting for ${type}`)); return true; }
        return false;
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${type} on ${this.url}`)); }, timeout);
      const done = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== waiter); };
      const waiter = () => { check(); };
      this.waiters.push(waiter);
      check();
    });
  }
  waitClose(timeout = 10000) {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve(this.closed);
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeout);
      this.ws.once('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: reason.toString() }); });
    });
  }
  close() { try { this.ws.close(); } catch { /* already closed */ } }
  terminate() { try { this.ws.terminate(); } catch { /* already closed */ } }
}

export function wsUrl(base, p) {
  return base.replace(/^http/, 'ws') + p;
}
