// A burst of joins into one session shares auth's WAL flush rounds
// (services/auth/join_flush.c): a join commits without waiting for the
// flush and is answered only once a round begun after its commit has
// ended. Two hundred joins at once over both gateways, by join code and by
// sid, some of them the same browser twice (a retry with its join key):
// every 200 is one student row, `players` equals the rows, no student is
// counted twice, and every 200 was durable when it was answered. The last
// is checked against the WAL itself: right after each 200, a connection of
// this test (not auth's) reads PostgreSQL's flush position and the row's
// transaction; after the burst, pg_walinspect finds that transaction's
// commit record, which must end at or before the position read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { env, http, adminLogin, makePool } from '../lib/stack.mjs';
import { sql } from '../lib/fixtures.mjs';
import { newSession } from '../lib/ws.mjs';

const [gw1, gw2] = env.gateways;
const pgArgs = (db) => ['-h', process.env.QW_PG_SOCKET, '-p', process.env.QW_PG_PORT, '-U', 'quizwire', '-d', db];

// One psql connection kept open: each query returns one row, read back in
// the order sent. Ids in the queries are this test's own.
class Psql {
  constructor(db) {
    this.proc = spawn(`${process.env.QW_PG_BIN}/psql`, [...pgArgs(db), '-tAq', '-F', '\t', '-v', 'ON_ERROR_STOP=1'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.waiting = [];
    this.buf = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiting.shift();
        if (w) w.resolve(line.split('\t'));
      }
    });
    this.proc.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`psql exited ${code}`));
    });
  }

  row(text) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(`${text};\n`);
    });
  }

  close() {
    this.proc.stdin.end();
  }
}

// An LSN ("16/B374D848") as a number that orders like the WAL.
function lsn(text) {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

const conns = [];
after(() => { for (const c of conns) c.close(); });

test('200 joins at once: every 200 is one durable student row, players counts each once', async () => {
  const admin = await adminLogin(gw1);
  const { sid, join_code } = await newSession(admin, makePool(1));
  // pg_walinspect lives in the maintenance database, away from the product's schema
  execFileSync(`${process.env.QW_PG_BIN}/psql`, [...pgArgs('postgres'), '-qc', 'CREATE EXTENSION IF NOT EXISTS pg_walinspect'], { stdio: 'pipe' });
  const reader = new Psql('quizwire');
  conns.push(reader);
  const [start] = await reader.row('SELECT pg_current_wal_insert_lsn()');

  // 170 students, 30 of them sent twice at once (the same key, the other gateway)
  const bodies = [];
  for (let i = 0; i < 170; i++) {
    const where = i % 2 ? { join_code } : { sid };
    bodies.push({ ...where, student_id: `burst-${i}`, name: `B${i}`, join_key: crypto.randomBytes(16).toString('hex') });
  }
  const sends = bodies.map((b, i) => [i % 2 ? gw2 : gw1, b]);
  for (let i = 0; i < 30; i++) sends.push([i % 2 ? gw1 : gw2, bodies[i * 5]]);
  assert.equal(sends.length, 200);

  const answered = await Promise.all(sends.map(async ([gw, body]) => {
    const r = await http(gw, 'POST', '/api/join', { body, timeout: 60000 });
    if (r.status !== 200) return { body, status: r.status, text: r.text };
    // right after the 200: how far the WAL is on disk, and the row's transaction
    const [flushed, xmin] = await reader.row(
      `SELECT pg_current_wal_flush_lsn(), (SELECT xmin FROM students WHERE sid = '${sid}' AND student_id = '${body.student_id}')`);
    return { body, status: 200, json: r.json, flushed, xmin };
  }));

  for (const a of answered) {
    assert.equal(a.status, 200, `${a.body.student_id}: ${a.text}`);
    assert.equal(a.json.sid, sid);
    assert.equal(a.json.student_id, a.body.student_id);
    assert.ok(a.xmin, `${a.body.student_id} was answered 200 but another connection sees no row`);
  }
  const rows = sql(`SELECT student_id, count(*) OVER () FROM students WHERE sid = '${sid}'`);
  const ids = new Set(rows.map((r) => r[0]));
  assert.equal(rows.length, 170, 'one row per student');
  assert.equal(ids.size, 170, 'no duplicate');
  for (const b of bodies) assert.ok(ids.has(b.student_id), b.student_id);
  assert.equal(Number(sql(`SELECT players FROM sessions WHERE sid = '${sid}'`)[0][0]), 170, 'players equals the rows');
  const st = await http(gw2, 'GET', `/admin/api/sessions/${sid}`, { cookie: admin });
  assert.equal(st.json.players, 170);

  // every transaction that wrote a row: where its commit record ends in the WAL
  const commits = new Map();
  const [end] = await reader.row('SELECT pg_current_wal_flush_lsn()');
  const recs = execFileSync(`${process.env.QW_PG_BIN}/psql`, [...pgArgs('postgres'), '-tA', '-F', '\t', '-c',
    `SELECT xid, end_lsn FROM pg_get_wal_records_info('${start}', '${end}') ` +
    `WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT'`], { encoding: 'utf8' });
  for (const line of recs.split('\n').filter(Boolean)) {
    const [xid, endLsn] = line.split('\t');
    commits.set(xid, endLsn);
  }
  let late = 0;
  for (const a of answered) {
    // a commit not found up to the flush position read after the burst is not on disk yet either
    const commit = commits.get(a.xmin);
    if (!commit || lsn(commit) > lsn(a.flushed)) {
      late++;
      console.log(`not durable when answered: ${a.body.student_id} (xid ${a.xmin}) commit ends ${commit || 'past the WAL on disk'}, flushed ${a.flushed}`);
    }
  }
  assert.equal(late, 0, `${late} of 200 joins answered before their commit was on disk`);
});
