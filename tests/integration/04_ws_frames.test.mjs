// The gateway's frames on the wire (issue 17 item 1): an idle socket holds
// no read state (the parser's 4 KiB buffer is borrowed only while a frame
// is partly read) and no libmicrohttpd connection; a message in fragments
// with a control frame between them, written a byte at a time, is read
// whole; each malformed frame closes its socket with the RFC 6455 code and
// leaves the gateway serving the others.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { env, adminLogin, makePool, waitFor, metric } from '../lib/stack.mjs';
import { liveBackend, newSession, join, connect, sleep, rawUpgrade } from '../lib/ws.mjs';

const GW0 = env.gateways[0];
const OPS0 = env.gatewayOps[0];
let admin = null;

before(async () => {
  admin = await adminLogin();
  assert.ok(await liveBackend(admin), 'the live backend serves snapshots and submits');
});

// One client frame: FIN (unless fin: false), the opcode, masked unless
// mask: false, `rsv` in the reserved bits.
function frame(op, payload, { fin = true, mask = true, rsv = 0 } = {}) {
  const data = Buffer.from(payload);
  const len = data.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | op;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, data]);
  const key = crypto.randomBytes(4);
  key.copy(head, 2 + ext);
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i % 4];
  return Buffer.concat([head, out]);
}

// A raw socket upgraded to /ws: writes what it is given, parses the
// server's (unmasked) frames into `frames` ({op, payload}).
class RawWs {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.ended = false;
    sock.on('data', (d) => this.feed(d));
    sock.on('close', () => { this.ended = true; });
    sock.on('error', () => { this.ended = true; });
  }

  static async open(base, cookie) {
    const { sock, rest } = await rawUpgrade(base, cookie);
    const ws = new RawWs(sock);
    ws.feed(rest);
    sock.resume();
    return ws;
  }

  feed(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) return;
      this.frames.push({ op: this.buf[0] & 0x0f, payload: this.buf.subarray(at, at + len) });
      this.buf = this.buf.subarray(at + len);
    }
  }

  // The first frame matching `pred`, waited for.
  async next(what, pred, timeout = 10000) {
    return waitFor(what, () => this.frames.find(pred), { timeout, interval: 20 });
  }

  // The code of the server's close frame (null when it had none).
  async closeCode(timeout = 10000) {
    const f = await this.next('a close frame', (x) => x.op === 8, timeout);
    return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
  }

  texts() {
    return this.frames.filter((f) => f.op === 1).map((f) => JSON.parse(f.payload.toString()));
  }

  async writeSlowly(bytes) {
    for (const b of bytes) {
      this.sock.write(Buffer.from([b]));
      await sleep(1);
    }
  }
}

test('idle sockets hold no read state and no libmicrohttpd connection', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const socks = [];
  try {
    for (let i = 0; i < 20; i++) {
      const s = await join(GW0, sid, `idle${i}`);
      socks.push((await connect(GW0, s.cookie)).ws);
    }
    for (const ws of socks) ws.send({ type: 'ping' }); // each socket reads a message
    for (const ws of socks) await ws.next('pong');
    // the one spare read state at most, however many sockets are open
    assert.ok(await metric(OPS0, 'qw_ws_open_sockets') >= 20);
    await waitFor('read states back to the spare', async () => (await metric(OPS0, 'qw_ws_read_states')) <= 1);
    assert.equal(await metric(OPS0, 'qw_ws_mhd_held'), 0);
  } finally {
    for (const ws of socks) ws.close();
  }
});

test('a message in three fragments with a ping between them, written a byte at a time, is read whole', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const s = await join(GW0, sid, 'fragments');
  const ws = await RawWs.open(GW0, s.cookie);
  try {
    await fragments(ws);
  } finally {
    ws.sock.destroy();
  }
});

async function fragments(ws) {
  await ws.next('the snapshot', (f) => f.op === 1 && JSON.parse(f.payload).type === 'snapshot');
  const bytes = Buffer.concat([
    frame(1, '{"type":', { fin: false }),
    frame(9, 'hello'),
    frame(0, '"pi', { fin: false }),
    frame(0, 'ng"}'),
  ]);
  await ws.writeSlowly(bytes);
  const pong = await ws.next('the pong frame', (f) => f.op === 10 && f.payload.toString() === 'hello');
  assert.ok(pong);
  await ws.next('the pong message', (f) => f.op === 1 && JSON.parse(f.payload).type === 'pong');
  assert.equal(ws.texts().filter((m) => m.type === 'error').length, 0);
  // the read state went back once the message was whole
  await waitFor('read states back to the spare', async () => (await metric(OPS0, 'qw_ws_read_states')) <= 1);
  ws.sock.write(frame(8, Buffer.from([0x03, 0xe8])));
  assert.equal(await ws.closeCode(), 1000, 'our close is answered with its code');
}

test('malformed frames close 1002, 1007 or 1009 and the gateway serves the next socket', { timeout: 60000 }, async () => {
  const { sid } = await newSession(admin, makePool(1));
  const s = await join(GW0, sid, 'malformed');
  const cases = [
    ['an unmasked frame', frame(1, '{"type":"ping"}', { mask: false }), 1002],
    ['a ping of 126 bytes', frame(9, Buffer.alloc(126, 1)), 1002],
    ['a reserved bit', frame(1, '{"type":"ping"}', { rsv: 4 }), 1002],
    ['a continuation with no message', frame(0, 'x'), 1002],
    ['an unknown opcode', frame(3, 'x'), 1002],
    ['a fragmented ping', frame(9, 'x', { fin: false }), 1002],
    ['a text frame inside a fragmented message', Buffer.concat([frame(1, '{', { fin: false }), frame(1, '}')]), 1002],
    ['invalid UTF-8', frame(1, Buffer.from([0x22, 0xff, 0xfe, 0x22])), 1007],
    ['an overlong UTF-8 form', frame(1, Buffer.from([0x22, 0xc0, 0xaf, 0x22])), 1007],
    ['fragments over 4 KiB in all', Buffer.concat([frame(1, 'x'.repeat(3000), { fin: false }), frame(0, 'x'.repeat(3000))]), 1009],
  ];
  for (const [what, bytes, code] of cases) {
    const ws = await RawWs.open(GW0, s.cookie);
    try {
      ws.sock.write(bytes);
      assert.equal(await ws.closeCode(), code, what);
    } finally {
      ws.sock.destroy();
    }
  }
  const { ws } = await connect(GW0, s.cookie);
  ws.send({ type: 'ping' });
  await ws.next('pong');
  ws.close();
});
