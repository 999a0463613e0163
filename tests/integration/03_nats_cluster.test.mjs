// A daemon given a list of NATS servers rides through the loss of the one
// it is on: two nats-servers joined by a route on loopback (each with the
// stack's per-role users), a qw-scoring told "A,B", a test client on B. The
// scoring daemon sits on A (the list is tried in order); A is killed -9
// mid-stream and submits through B resume; every `accepted` is in the
// record exactly once and nothing is in the record that was not answered.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { env, waitFor } from '../lib/stack.mjs';
import { Bus, sql, createQuiz, createSession, addStudents } from '../lib/fixtures.mjs';

const procs = [];
const buses = [];
after(async () => {
  for (const b of buses) await b.close().catch(() => {});
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Starts one nats-server of the two-server cluster; resolves once it
// listens. Its stderr is kept in `.log`.
async function natsServer(dir, name, port, clusterPort, peerPort, routeUser, routePass) {
  const conf = path.join(dir, `${name}.conf`);
  const roles = execFileSync(path.join(env.buildDir, 'shared/qw-nats-roles'), ['--conf', env.natsSecretDir], { encoding: 'utf8' });
  fs.writeFileSync(conf, [
    `listen: 127.0.0.1:${port}`,
    `server_name: ${name}`,
    'cluster {',
    '  name: qwtest',
    `  listen: 127.0.0.1:${clusterPort}`,
    `  authorization { user: ${routeUser}, password: ${routePass} }`,
    `  routes: [ "nats-route://${routeUser}:${routePass}@127.0.0.1:${peerPort}" ]`,
    '}',
    roles,
  ].join('\n'), { mode: 0o600 });
  const p = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d.toString(); });
  procs.push(p);
  await waitFor(`${name} to listen`, () => new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  }));
  return p;
}

test('a daemon given two NATS servers rides through a kill -9 of the one it is on: submits resume, acks match the record', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.QW_TEST_TMP || '/tmp', 'natscluster-'));
  const [pa, pb, ca, cb] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const routeUser = 'route';
  const routePass = crypto.randomBytes(12).toString('hex');
  const a = await natsServer(dir, 'nats-a', pa, ca, cb, routeUser, routePass);
  await natsServer(dir, 'nats-b', pb, cb, ca, routeUser, routePass);
  await waitFor('the route between the two servers', () => /Route connection created/.test(a.log), { timeout: 15000 });

  const urlA = `nats://127.0.0.1:${pa}`;
  const urlB = `nats://127.0.0.1:${pb}`;
  const pass = path.join(env.natsSecretDir, 'nats-scoring.password');
  let err = '';
  const scoring = spawn(path.join(env.buildDir, 'services/scoring/qw-scoring'), [], {
    env: {
      ...process.env,
      QW_NATS_URL: ` ${urlA} , ${urlB}`,
      QW_NATS_USER: 'qw_scoring',
      QW_NATS_PASSWORD_FILE: pass,
      QW_DB_URL: process.env.QW_DB_URL_SESSION.replace('user=qw_session', 'user=qw_scoring').replace('pg-session.pgpass', 'pg-scoring.pgpass'),
      QW_OPS_PORT: '0',
      QW_INSTANCE: 'scoring-cluster',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(scoring);
  scoring.stderr.on('data', (d) => { err += d.toString(); });
  await waitFor('the scoring daemon to be ready', () => /event=ready/.test(err), { timeout: 15000 });
  assert.match(err, new RegExp(`event=nats_connected url=${urlA} servers=2`), 'the first server of the list is used first');

  // the session is driven through the stack's own NATS; submits go through B only
  const stack = await Bus.open(env.natsUrl);
  buses.push(stack);
  const onB = await Bus.open(urlB);
  buses.push(onB);
  const N = 60;
  const students = Array.from({ length: N }, (_, i) => `nc${i}`);
  const sid = createSession(createQuiz([{ time_limit_s: 60 }]));
  const epoch = addStudents(sid, students);
  await stack.cmd(sid, 'next');

  // each student submits until it has an answer; what it got is kept
  const got = new Map(students.map((s) => [s, []]));
  let killedAt = 0;
  let backAt = 0;
  const submitUntilAnswered = async (student) => {
    for (;;) {
      try {
        const r = await onB.submit({ sid, student_id: student, epoch, question_idx: 0, choice: 'B' }, 1500);
        got.get(student).push(r.status || r.error);
        if (killedAt && !backAt) backAt = Date.now();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // no responder while scoring reconnects
      }
    }
  };
  await Promise.all(students.slice(0, 20).map(submitUntilAnswered));
  a.kill('SIGKILL');
  killedAt = Date.now();
  await Promise.all(students.slice(20).map(submitUntilAnswered));
  // an answer the kill may have lost is asked again: the first one stands
  await Promise.all(students.map(submitUntilAnswered));
  console.log(`# submits accepted again ${backAt - killedAt} ms after the kill`);
  await waitFor('the scoring daemon to log its reconnect to B', () => new RegExp(`event=nats_reconnected url=${urlB}`).test(err));

  const rows = sql(`SELECT student_id FROM answers WHERE sid = '${sid}' AND question_idx = 0`).map((r) => r[0]);
  assert.equal(new Set(rows).size, rows.length, 'no answer twice in the record');
  for (const s of students) {
    const statuses = got.get(s);
    assert.ok(statuses.every((st) => st === 'accepted' || st === 'duplicate'), `${s}: ${statuses}`);
    assert.ok(statuses.filter((st) => st === 'accepted').length <= 1, `${s} acked accepted twice: ${statuses}`);
    assert.equal(statuses.at(-1), 'duplicate', `${s}: the second submit sees the first`);
    assert.ok(rows.includes(s), `${s} answered but is not in the record`);
  }
  assert.equal(rows.length, N);
  assert.ok(backAt - killedAt < 10000, `submits came back ${backAt - killedAt} ms after the kill`);

  scoring.kill('SIGTERM');
  const code = await new Promise((r) => (scoring.exitCode !== null ? r(scoring.exitCode) : scoring.once('exit', (c) => r(c))));
  assert.equal(code, 0, 'the scoring daemon stops cleanly');
});
