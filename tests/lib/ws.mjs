// ws.mjs: helpers for the live-session (WebSocket) tests: make a session
// from a pool, join students over either gateway, open student and
// instructor sockets, drive the lifecycle, read results, percentiles.
import crypto from 'node:crypto';
import net from 'node:net';
import { cookieFrom, env, http, makePool, WsClient, wsUrl } from './stack.mjs';

// True once main holds everything the live tests need: the join route,
// sessions, the session daemon's snapshot and the scoring daemon. Probed
// through a real socket: the first message must be a snapshot and a submit
// in the lobby must be answered (not_open).
export async function liveBackend(admin) {
  const j = await http(env.gateways[0], 'POST', '/api/join', { body: {} });
  if (j.status === 404 && j.json && j.json.error === 'not_found') return false;
  let ws;
  try {
    const { sid } = await newSession(admin, makePool(1));
    const { cookie } = await join(env.gateways[0], sid, 'probe');
    ws = studentWs(env.gateways[0], cookie);
    await ws.opened;
    const first = await firstMessage(ws);
    if (!first || first.type !== 'snapshot') return false;
    ws.send({ type: 'submit', question_idx: 0, choice: 'A' });
    const ack = await firstMessage(ws, 1);
    return !!ack && ack.type === 'submit_ack';
  } catch {
    return false;
  } finally {
    if (ws) ws.close();
  }
}

async function firstMessage(ws, index = 0, timeout = 5000) {
  const end = Date.now() + timeout;
  while (Date.now() < end && ws.messages.length <= index && !ws.closed) await sleep(20);
  return ws.messages[index] || null;
}

// Stores `pool` and opens a session of it: {sid, join_code}.
export async function newSession(admin, pool, base = env.gateways[0]) {
  const q = await http(base, 'POST', '/admin/api/quizzes', { cookie: admin, body: pool });
  if (q.status >= 300) throw new Error(`quiz create: ${q.status} ${q.text}`);
  const s = await http(base, 'POST', '/admin/api/sessions', { cookie: admin, body: { quiz_id: q.json.quiz_id } });
  if (s.status >= 300) throw new Error(`session create: ${s.status} ${s.text}`);
  return s.json;
}

// Joins `studentId` to `sid` through gateway `base`: {cookie, token}.
export async function join(base, sid, studentId, name = studentId) {
  const r = await http(base, 'POST', '/api/join', { body: { sid, student_id: studentId, name } });
  if (r.status !== 200) throw new Error(`join ${studentId}: ${r.status} ${r.text}`);
  const cookie = cookieFrom(r, 'qw_student');
  if (!cookie) throw new Error(`join ${studentId}: no qw_student cookie`);
  return { cookie, token: cookie.slice('qw_student='.length) };
}

export function studentWs(base, cookie, query = '', opts = {}) {
  return new WsClient(wsUrl(base, '/ws' + query), { cookie, ...opts });
}

export function adminWs(base, admin, sid) {
  return new WsClient(wsUrl(base, `/admin/ws?sid=${encodeURIComponent(sid)}`), { cookie: admin });
}

// POST /admin/api/sessions/{sid}/{cmd}; throws unless 2xx.
export async function command(admin, sid, cmd, base = env.gateways[0]) {
  const r = await http(base, 'POST', `/admin/api/sessions/${sid}/${cmd}`, { cookie: admin, body: {} });
  if (r.status >= 300) throw new Error(`${cmd}: ${r.status} ${r.text}`);
  return r.json;
}

export async function results(admin, sid, base = env.gateways[0]) {
  const r = await http(base, 'GET', `/admin/api/sessions/${sid}/results`, { cookie: admin });
  if (r.status !== 200) throw new Error(`results: ${r.status} ${r.text}`);
  return r.json;
}

// Opens a student socket and awaits its snapshot: {ws, snap}.
export async function connect(base, cookie, query = '') {
  const ws = studentWs(base, cookie, query);
  await ws.opened;
  const snap = await ws.next('snapshot');
  return { ws, snap };
}

// Upgrade attempt that is expected to be refused: resolves with the status.
export async function refusedStatus(url, opts = {}) {
  const ws = new WsClient(url, opts);
  try {
    await ws.opened;
    ws.close();
    return 101;
  } catch (e) {
    return e.status ?? -1;
  }
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A raw TCP socket upgraded to /ws with `cookie`, for tests that write or
// withhold frames themselves: resolves {sock, rest} once the 101 head has
// come, `rest` being any bytes read past it. The socket is left paused, so
// nothing more is read until the caller resumes it; a refused upgrade
// rejects with its status line.
export function rawUpgrade(base, cookie) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    sock.setNoDelay(true);
    let head = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('connect', () => {
      const key = crypto.randomBytes(16).toString('base64');
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nCookie: ${cookie}\r\n\r\n`);
    });
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.pause();
      sock.off('data', onData);
      sock.removeListener('error', reject);
      if (!head.toString().startsWith('HTTP/1.1 101')) reject(new Error(`upgrade: ${head.toString().split('\r\n')[0]}`));
      else resolve({ sock, rest: head.subarray(end + 4) });
    };
    sock.on('data', onData);
  });
}
