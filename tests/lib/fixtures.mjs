// fixtures.mjs: test data straight into the stack's Postgres (psql) and a
// NATS client for black-box tests of the daemons' bus contract: requests,
// lifecycle commands, submits, and an event log per session that awaits
// events by type. Fixture text is ours (never client input), quoted here.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect, StringCodec } from 'nats';

const sc = StringCodec();

function lit(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `'${String(v).replace(/'/g, "''")}'`;
}

// Runs `sql` as user quizwire; returns rows as arrays of text.
// The shard of a session: shared/quiz.c's quiz_shard (FNV-1a of the sid's
// bytes, high half folded onto the low, mod 64), as migration 014's SQL
// quiz_shard(text) computes it too.
export function quizShard(sid) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(sid, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) % 64;
}

// The subject of a lifecycle command for `sid`: its shard's.
export function cmdSubject(sid) { return `qw.session.cmd.${quizShard(sid)}`; }

export function sql(text) {
  const out = execFileSync(`${process.env.QW_PG_BIN}/psql`, [
    '-h', process.env.QW_PG_SOCKET, '-p', process.env.QW_PG_PORT, '-U', 'quizwire', '-d', 'quizwire',
    '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', text,
  ], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

// A quiz whose questions are [{choices: n, answer: 'B', time_limit_s: 20}, ...].
export function createQuiz(questions, title = 'fixture quiz') {
  const [[quizId]] = sql(`INSERT INTO quizzes (title, question_count) VALUES (${lit(title)}, ${questions.length}) RETURNING quiz_id`);
  questions.forEach((q, i) => {
    const n = q.choices ?? 4;
    const choices = JSON.stringify(Array.from({ length: n }, (_, k) => `choice ${k}`));
    sql(`INSERT INTO questions (quiz_id, idx, text, choices, answer, time_limit_s) VALUES (${quizId}, ${i}, ${lit(`Q${i}?`)}, ${lit(choices)}::jsonb, ${lit(q.answer ?? 'B')}, ${q.time_limit_s ?? 20})`);
  });
  return Number(quizId);
}

// A session in the lobby; returns its sid.
export function createSession(quizId) {
  const sid = 't' + crypto.randomBytes(6).toString('hex');
  for (;;) {
    const code = String(crypto.randomInt(0, 1000000)).padStart(6, '0');
    const rows = sql(`INSERT INTO sessions (sid, quiz_id, join_code) VALUES (${lit(sid)}, ${quizId}, ${lit(code)}) ON CONFLICT DO NOTHING RETURNING sid`);
    if (rows.length === 1) return sid;
  }
}

// Adds students (ids given) at the session's current epoch, counting them
// in sessions.players as a join does; returns that epoch.
export function addStudents(sid, ids) {
  const [[epoch]] = sql(`SELECT epoch FROM sessions WHERE sid = ${lit(sid)}`);
  if (ids.length) {
    sql(`INSERT INTO students (sid, student_id, name, epoch) VALUES ${ids.map((id) => `(${lit(sid)}, ${lit(id)}, ${lit('name ' + id)}, ${epoch})`).join(',')}`);
    sql(`UPDATE sessions SET players = players + ${ids.length} WHERE sid = ${lit(sid)}`);
  }
  return Number(epoch);
}

export function sessionRow(sid) {
  const rows = sql(`SELECT state, question_idx, opened_at_ms, deadline_ms, closed_at_ms, epoch, seq FROM sessions WHERE sid = ${lit(sid)}`);
  if (!rows.length) return null;
  const [state, idx, opened, deadline, closed, epoch, seq] = rows[0];
  const num = (v) => (v === '' ? null : Number(v));
  return { state, question_idx: Number(idx), opened_at_ms: num(opened), deadline_ms: num(deadline), closed_at_ms: num(closed), epoch: Number(epoch), seq: Number(seq) };
}

export function answerRows(sid, idx) {
  return sql(`SELECT student_id, choice, points FROM answers WHERE sid = ${lit(sid)} AND question_idx = ${idx}`)
    .map(([student_id, choice, points]) => ({ student_id, choice, points: Number(points) }));
}

// Keeps every event of one session and awaits them by type.
export class EventLog {
  constructor(nc, sid) {
    this.events = [];
    this.waiters = [];
    this.sub = nc.subscribe(`qw.evt.${sid}`);
    (async () => {
      for await (const m of this.sub) {
        const ev = JSON.parse(sc.decode(m.data));
        ev._at = Date.now();
        this.events.push(ev);
        for (const w of [...this.waiters]) w();
      }
    })();
  }
  // Resolves with the first not-yet-taken event of `type` matching `pred`.
  next(type, { timeout = 10000, pred = () => true } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const ev = this.events.find((e) => e.type === type && !e._taken && pred(e));
        if (!ev) return false;
        ev._taken = true;
        done();
        resolve(ev);
        return true;
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for event ${type}`)); }, timeout);
      const done = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }
  lifecycle() { return this.events.filter((e) => e.type !== 'answer_stats' && e.type !== 'lobby_update'); }
  close() { this.sub.unsubscribe(); }
}

export class Bus {
  // Connects with the credentials of `role` (the stack's secrets folder):
  // a gateway's by default, as the tests play the gateway's part.
  static async open(url = process.env.QW_NATS_URL, role = 'gateway') {
    const b = new Bus();
    const pass = fs.readFileSync(path.join(process.env.QW_NATS_SECRET_DIR, `nats-${role}.password`), 'utf8').trim();
    b.nc = await connect({ servers: url, name: 'qw-tests', user: `qw_${role}`, pass });
    return b;
  }
  async request(subject, obj, timeout = 5000) {
    const m = await this.nc.request(subject, sc.encode(JSON.stringify(obj)), { timeout });
    return JSON.parse(sc.decode(m.data));
  }
  // A lifecycle command, on its shard's subject; retries briefly while no
  // instance holds that shard.
  async cmd(sid, cmd, timeout = 5000) {
    const end = Date.now() + timeout;
    for (;;) {
      try {
        return await this.request(cmdSubject(sid), { sid, cmd }, Math.max(500, end - Date.now()));
      } catch (e) {
        if (Date.now() >= end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  submit(s, timeout = 5000) {
    return this.request('qw.scoring.submit', { received_at_ms: Date.now(), elapsed_ms: 0, ...s }, timeout);
  }
  events(sid) { return new EventLog(this.nc, sid); }
  // Drains, but for at most 5 s: a drain after the test killed and brought
  // back NATS once hung forever (a clean clone's 04_ws_resync never ended),
  // and a hung close must not hold the test file open. Then it closes.
  async close() {
    let timer;
    const bound = new Promise((resolve) => { timer = setTimeout(resolve, 5000); });
    try {
      await Promise.race([this.nc.drain().catch(() => {}), bound]);
    } finally {
      clearTimeout(timer);
      if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
    }
  }
}
