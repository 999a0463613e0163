// A gateway that missed lifecycle events brings its sockets back to the
// true state (ARCHITECTURE "Events"): a lifecycle event whose seq skips one
// gets a fresh snapshot to every socket of the session instead of the
// event, and after a NATS reconnect one snapshot per session finds the
// sessions that moved on while the gateway was away. Students sit on both
// gateways; every check is against the record (Postgres).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StringCodec } from 'nats';
import { env, http, adminLogin, makePool, waitFor, pidOf, cookieFrom } from '../lib/stack.mjs';
import { Bus, sessionRow, answerRows, sql, cmdSubject } from '../lib/fixtures.mjs';
import { newSession, join, connect, adminWs, command } from '../lib/ws.mjs';

const [GW0, GW1] = env.gateways;
const sc = StringCodec();
let admin = null;
let bus = null;
let forger = null; // publishes events: needs a role allowed to (session)

before(async () => {
  admin = await adminLogin();
  bus = await Bus.open();
  forger = await Bus.open(undefined, 'session');
});

after(async () => {
  if (bus) await bus.close().catch(() => {});
  if (forger) await forger.close().catch(() => {});
});

// Two students (one per gateway) and the instructor, each with its snapshot.
async function classroom(pool) {
  const { sid } = await newSession(admin, pool);
  const a = await join(GW0, sid, 'ra');
  const b = await join(GW1, sid, 'rb');
  const sa = await connect(GW0, a.cookie);
  const sb = await connect(GW1, b.cookie);
  const host = adminWs(GW1, admin, sid);
  await host.opened;
  await host.next('snapshot');
  return { sid, students: [sa.ws, sb.ws], host, all: [sa.ws, sb.ws, host] };
}

test('a lifecycle event whose seq skips one is not trusted: every socket gets a snapshot of the true state', async () => {
  const { sid, students, host, all } = await classroom(makePool(2, { timeLimit: 30 }));
  try {
    await command(admin, sid, 'next');
    for (const ws of all) await ws.next('question_open', { pred: (m) => m.question_idx === 0 });
    const row = sessionRow(sid);
    assert.equal(row.state, 'question');
    const marks = all.map((ws) => ws.messages.length);

    // seq row.seq + 1 never reached the gateways; a close at +2 claims a
    // reveal the record does not hold
    forger.nc.publish(`qw.evt.${sid}`, sc.encode(JSON.stringify({
      type: 'question_closed', seq: row.seq + 2, question_idx: 0, answer: 'D', counts: { A: 0, B: 0, C: 0, D: 2 },
      players: 2, results: { ra: ['D', 999, 999], rb: ['D', 999, 999] },
    })));
    for (const [i, ws] of all.entries()) {
      const snap = await ws.next('snapshot', { from: marks[i], timeout: 5000 });
      assert.equal(snap.state, 'question', 'the snapshot shows the question still open, as recorded');
      assert.equal(snap.question_idx, 0);
      assert.equal(snap.answer, undefined, 'no reveal while the question is open');
      const left = row.deadline_ms - Date.now();
      assert.ok(snap.remaining_ms > 0 && Math.abs(snap.remaining_ms - left) < 1500,
        `remaining_ms ${snap.remaining_ms} is the true time left (${left})`);
      assert.ok(!ws.messages.slice(marks[i]).some((m) => m.type === 'question_closed'),
        'the skipping event itself never reaches a socket');
    }

    // a submit after the resync is judged on the record, and so is the real close
    students[0].send({ type: 'submit', question_idx: 0, choice: 'B' });
    const ack = await students[0].next('submit_ack', { timeout: 5000 });
    assert.equal(ack.status, 'accepted');
    assert.deepEqual(answerRows(sid, 0).map((r) => [r.student_id, r.choice]), [['ra', 'B']]);
    await command(admin, sid, 'close');
    for (const ws of all) {
      const closed = await ws.next('question_closed', { timeout: 5000 });
      assert.equal(closed.answer, 'B', 'the true answer, not the injected one');
      assert.equal(closed.seq, row.seq + 1, 'the event after the resync is the next one in order');
    }
    const mine = students[0].messages.find((m) => m.type === 'question_closed');
    const [rec] = answerRows(sid, 0);
    assert.equal(mine.my_choice, 'B');
    assert.equal(mine.points, rec.points);
    assert.ok(mine.points > 0);
    assert.equal(students[1].messages.find((m) => m.type === 'question_closed').my_choice, null);
    assert.equal(host.messages.filter((m) => m.type === 'question_closed').length, 1);
  } finally {
    for (const ws of all) ws.close();
  }
});

test('a close published while both gateways were away from NATS reaches every socket as a snapshot after the reconnect', async () => {
  const { sid, students, host, all } = await classroom(makePool(1, { timeLimit: 5 }));
  const gws = [pidOf('gateway1'), pidOf('gateway2')];
  const hold = path.join(env.runDir, 'hold.nats');
  let stopped = false;
  try {
    await command(admin, sid, 'next');
    for (const ws of all) await ws.next('question_open');
    students[0].send({ type: 'submit', question_idx: 0, choice: 'B' });
    assert.equal((await students[0].next('submit_ack', { timeout: 5000 })).status, 'accepted');
    const marks = all.map((ws) => ws.messages.length);

    // Freeze both gateways, then take NATS down: the session daemon's timer
    // closes the question in the record while NATS is away and publishes
    // question_closed as soon as it is back, before the frozen gateways can
    // have resubscribed. Only a resync can tell them.
    for (const pid of gws) process.kill(pid, 'SIGSTOP');
    stopped = true;
    fs.writeFileSync(hold, '');
    process.kill(pidOf('nats'), 'SIGKILL');
    await waitFor('the timer closing the question in the record', () => sessionRow(sid).state === 'closed',
      { timeout: 10000, interval: 100 });
    fs.unlinkSync(hold);
    // the lease holder is back on NATS (its buffered publish flushed first)
    // once it answers a command again
    await waitFor('the lease holder answering a no-op command', async () => {
      try { return (await bus.request(cmdSubject(sid), { sid, cmd: 'open' }, 500)).ok === true; } catch { return false; }
    }, { timeout: 15000, interval: 100 });
    for (const pid of gws) process.kill(pid, 'SIGCONT');
    stopped = false;

    for (const [i, ws] of all.entries()) {
      const snap = await ws.next('snapshot', { from: marks[i], timeout: 8000 });
      assert.equal(snap.state, 'closed', 'the socket learns the close it missed');
      assert.equal(snap.question_idx, 0);
      assert.equal(snap.answer, 'B');
      assert.equal(snap.counts.B, 1);
    }
    const [rec] = answerRows(sid, 0);
    const snapA = students[0].messages.slice(marks[0]).find((m) => m.type === 'snapshot');
    assert.equal(snapA.my_choice, 'B');
    assert.equal(snapA.points, rec.points);
    assert.equal(snapA.score, rec.points);
    const snapB = students[1].messages.slice(marks[1]).find((m) => m.type === 'snapshot');
    assert.equal(snapB.my_choice, null);
    assert.equal(snapB.points, 0);
    assert.ok(!host.messages.slice(marks[2]).some((m) => m.type === 'error'));

    // a submit after the resync is judged on the record: the question is closed
    students[1].send({ type: 'submit', question_idx: 0, choice: 'B' });
    assert.equal((await students[1].next('submit_ack', { timeout: 5000 })).status, 'closed');
    assert.deepEqual(answerRows(sid, 0).map((r) => r.student_id), ['ra']);
  } finally {
    if (stopped) for (const pid of gws) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    if (fs.existsSync(hold)) fs.unlinkSync(hold);
    for (const ws of all) ws.close();
    for (const gw of env.gateways) {
      await waitFor(`${gw} /healthz 200`, async () => (await http(gw, 'GET', '/healthz', { timeout: 3000 })).status === 200,
        { timeout: 15000 });
    }
  }
});

test('after a NATS reconnect every socket token is checked again: a student removed and a login revoked meanwhile are closed', async () => {
  // The removal and the logout happen straight in the record while NATS is
  // away, so their events (student_removed, qw.admin.revoked) are never
  // published: only the check after the reconnect can find them.
  const { sid, students, host, all } = await classroom(makePool(1));
  const login = await http(GW0, 'POST', '/admin/login', { body: { username: 'admin', password: env.adminPassword } });
  assert.equal(login.status, 200, login.text);
  const second = cookieFrom(login, 'qw_admin');
  const loginId = JSON.parse(Buffer.from(second.slice('qw_admin='.length).split('.')[0], 'base64url')).l;
  assert.ok(loginId);
  const watcher = adminWs(GW0, second, sid);
  await watcher.opened;
  await watcher.next('snapshot');
  all.push(watcher);
  const hold = path.join(env.runDir, 'hold.nats');
  try {
    fs.writeFileSync(hold, '');
    process.kill(pidOf('nats'), 'SIGKILL');
    sql(`UPDATE students SET removed_at = now() WHERE sid = '${sid}' AND student_id = 'ra'`);
    sql(`UPDATE admin_logins SET revoked_at = now() WHERE login_id = '${loginId}'`);
    fs.unlinkSync(hold);
    const [removed, revoked] = await Promise.all([students[0].waitClose(30000), watcher.waitClose(30000)]);
    assert.equal(removed.code, 4003, 'the removed student is told so');
    assert.equal(revoked.code, 1008, 'the revoked login is closed');
    // the others were checked too, and stay
    await waitFor('both gateways to have checked their sockets', () =>
      ['gateway1.log', 'gateway2.log'].every((f) => /event=ws_reverify /.test(fs.readFileSync(path.join(env.logDir, f), 'utf8'))),
    { timeout: 10000 });
    await new Promise((done) => setTimeout(done, 1000));
    assert.equal(students[1].closed, null, 'a student still in keeps its socket');
    assert.equal(host.closed, null, 'a live login keeps its socket');
    // this file's own NATS clients are back too before the file ends
    await waitFor('the lease holder answering a no-op command', async () => {
      try { return (await bus.request(cmdSubject(sid), { sid, cmd: 'open' }, 500)).ok === true; } catch { return false; }
    }, { timeout: 15000, interval: 100 });
  } finally {
    if (fs.existsSync(hold)) fs.unlinkSync(hold);
    for (const ws of all) ws.close();
    for (const gw of env.gateways) {
      await waitFor(`${gw} /healthz 200`, async () => (await http(gw, 'GET', '/healthz', { timeout: 3000 })).status === 200,
        { timeout: 15000 });
    }
  }
});
