// Trust inside the stack (docs/SECURITY.md): NATS refuses clients without
// the credentials of a role and each role's credentials outside its
// subjects; no process of the stack runs as root; secrets reach only the
// processes that use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { env, http, natsCreds, natsEnv, pidOf, adminLogin, waitFor } from '../lib/stack.mjs';

const sc = StringCodec();
const asRoot = process.getuid() === 0;

// Connects once (no reconnects) as `role`, or with `opts` as given.
function open(opts) {
  return connect({ servers: env.natsUrl, name: 'qw-trust-test', reconnect: false, timeout: 5000, ...opts });
}
function openAs(role) {
  const c = natsCreds(role);
  return open({ user: c.user, pass: c.pass });
}

// Resolves with the first permissions violation the server reports on nc
// for `operation` ('publish' or 'subscription') of `subject`.
async function violation(nc, operation, subject, timeout = 10000) {
  const timer = setTimeout(() => nc.close(), timeout);
  try {
    for await (const s of nc.status()) {
      const ctx = s.permissionContext;
      if (s.data === 'PERMISSIONS_VIOLATION' && ctx && ctx.operation === operation && ctx.subject === subject) return ctx;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`no permissions violation for ${operation} of ${subject} within ${timeout} ms`);
}

test('a NATS client with no credentials or a wrong password is refused', async () => {
  await assert.rejects(open({}), (e) => /AUTHORIZATION_VIOLATION|Authorization/i.test(`${e.code} ${e.message}`));
  const c = natsCreds('gateway');
  await assert.rejects(open({ user: c.user, pass: `${c.pass}x` }), (e) => /AUTHORIZATION_VIOLATION|Authorization/i.test(`${e.code} ${e.message}`));
  await assert.rejects(open({ user: 'qw_admin', pass: c.pass }), (e) => /AUTHORIZATION_VIOLATION|Authorization/i.test(`${e.code} ${e.message}`));
});

// One forbidden subject per role and direction: the server refuses each.
const forbidden = [
  { role: 'auth', publish: 'qw.session.cmd.0', subscribe: 'qw.evt.trust' },
  { role: 'session', publish: 'qw.auth.login', subscribe: 'qw.auth.login' },
  { role: 'scoring', publish: 'qw.auth.verify', subscribe: 'qw.auth.*' },
  { role: 'gateway', publish: 'qw.evt.trust', subscribe: 'qw.auth.login' },
];
for (const f of forbidden) {
  test(`the ${f.role} role may not publish ${f.publish} nor subscribe to ${f.subscribe}`, async () => {
    const nc = await openAs(f.role);
    try {
      const pub = violation(nc, 'publish', f.publish);
      nc.publish(f.publish, sc.encode('{"forged":true}'));
      await pub;
      const sub = violation(nc, 'subscription', f.subscribe);
      nc.subscribe(f.subscribe);
      await sub;
    } finally {
      await nc.close();
    }
  });
}

test('a gateway\'s credentials do not see the password of a login', async () => {
  const nc = await openAs('gateway');
  const seen = [];
  try {
    const refused = violation(nc, 'subscription', 'qw.auth.login');
    nc.subscribe('qw.auth.login', { callback: (e, m) => { if (!e && m && m.data) seen.push(sc.decode(m.data)); } });
    await refused;
    // a login crosses the bus while the refused subscriber is connected
    // (a wrong password: one try of the login limit, no session made)
    const res = await http(env.gateways[0], 'POST', '/admin/login', { body: { username: 'admin', password: 'trust-test-wrong' } });
    assert.equal(res.status, 401, res.text);
    await nc.flush();
  } finally {
    await nc.close();
  }
  assert.deepEqual(seen, []);
  // the stack still serves the admin: the refusal took nothing away
  const ok = await http(env.gateways[0], 'GET', '/admin/api/quizzes', { cookie: await adminLogin() });
  assert.equal(ok.status, 200);
});

test('each role can still do its own work (a gateway request is answered)', async () => {
  const nc = await openAs('gateway');
  try {
    const m = await nc.request('qw.health.auth', sc.encode('{}'), { timeout: 5000 });
    assert.equal(JSON.parse(sc.decode(m.data)).ok, true);
  } finally {
    await nc.close();
  }
});

// The pids of every process the stack runs, by name.
function stackPids() {
  const names = fs.readdirSync(env.runDir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4));
  const out = {};
  for (const n of names) {
    const pid = pidOf(n);
    if (pid && fs.existsSync(`/proc/${pid}`)) out[n] = pid;
  }
  return out;
}

test('no daemon of a stack started as root runs as uid 0', { skip: !asRoot && 'the stack was not started as root' }, () => {
  const pids = stackPids();
  for (const n of ['nats', 'postgres', 'auth', 'session', 'scoring', 'gateway1', 'gateway2']) assert.ok(pids[n], `${n} has a live pid`);
  for (const [name, pid] of Object.entries(pids)) {
    const uids = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)[1].split(/\s+/).map(Number);
    assert.ok(uids.every((u) => u !== 0), `${name} (pid ${pid}) runs with uids ${uids.join(' ')}`);
  }
});

test('the admin password and database settings reach only the processes that use them', () => {
  assert.ok(env.adminPassword && env.adminPassword.length >= 8, 'the test stack has an admin password');
  const pids = stackPids();
  const environ = (pid) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  for (const name of ['nats', 'postgres', 'gateway1', 'gateway2', 'session', 'scoring']) {
    assert.ok(pids[name], `${name} has a live pid`);
    const vars = environ(pids[name]);
    assert.ok(!vars.some((v) => v.includes(env.adminPassword)), `${name} holds the admin password`);
  }
  const dbPasswords = fs.readdirSync(env.natsSecretDir).filter((f) => /^pg-.*\.password$/.test(f))
    .map((f) => fs.readFileSync(path.join(env.natsSecretDir, f), 'utf8').trim());
  assert.equal(dbPasswords.length, 4, 'the owner\'s and three daemon roles\' database passwords');
  for (const name of ['gateway1', 'gateway2', 'nats', 'postgres']) {
    const vars = environ(pids[name]);
    assert.ok(!vars.some((v) => dbPasswords.some((p) => v.includes(p))), `${name} holds a database password`);
    if (name.startsWith('gateway')) {
      assert.deepEqual(vars.filter((v) => /^(QW_DB_URL|PGPASSWORD|PGPASSFILE)=/.test(v)), [], `${name} holds database settings`);
    }
  }
});

test('the stack\'s secrets are readable by their owner only', () => {
  const dir = env.natsSecretDir;
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o077, 0, `${f} is private`);
  const conf = path.join(process.env.QW_STACK_DIR, 'nats.conf');
  assert.equal(fs.statSync(conf).mode & 0o077, 0, 'nats.conf (it holds the passwords) is private');
  assert.equal(fs.statSync(path.join(process.env.QW_STACK_DIR, 'stack.env')).mode & 0o077, 0, 'stack.env is private');
});

// psql as `osUser` (root when null) against the stack's socket with `args`.
function psql(osUser, args, extraEnv = {}) {
  const cmd = [`${process.env.QW_PG_BIN}/psql`, '-X', '-w', '-h', process.env.QW_PG_SOCKET, '-p', process.env.QW_PG_PORT, ...args];
  const argv = osUser ? ['runuser', ['-u', osUser, '--', ...cmd]] : [cmd[0], cmd.slice(1)];
  return spawnSync(argv[0], argv[1], { encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH, ...extraEnv } });
}

test('an unprivileged local user cannot connect to the stack\'s PostgreSQL', { skip: !asRoot && 'needs root to act as nobody' }, () => {
  const r = psql('nobody', ['-U', 'quizwire', '-d', 'quizwire', '-tAc', 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user']);
  assert.notEqual(r.status, 0, `nobody connected: ${r.stdout}`);
  assert.match(r.stderr, /Permission denied|password|authentication/i);
  // even past the socket folder, a login without the password is refused
  const noPw = psql(null, ['-U', 'quizwire', '-d', 'quizwire', '-tAc', 'SELECT 1'], { PGPASSFILE: '/dev/null' });
  assert.notEqual(noPw.status, 0, 'a login without a password got in');
  assert.match(noPw.stderr, /password/i);
  const st = fs.statSync(process.env.QW_PG_SOCKET);
  assert.equal(st.mode & 0o077, 0, 'the socket folder is its owner\'s alone');
  assert.equal(fs.statSync(process.env.QW_PG_DATA).mode & 0o077, 0, 'the data folder is its owner\'s alone');
});

test('each daemon\'s database role reads only its own tables: only auth reads the token key', () => {
  const asRole = (role, sql) => psql(null, [`${process.env.QW_DB_URL.replace(/user=\S+ passfile=\S+/, '')} user=qw_${role} passfile=${env.natsSecretDir}/pg-${role}.pgpass`, '-tAc', sql]);
  const ok = asRole('auth', 'SELECT count(*) FROM settings');
  assert.equal(ok.status, 0, ok.stderr);
  for (const role of ['session', 'scoring']) {
    const r = asRole(role, 'SELECT count(*) FROM settings');
    assert.notEqual(r.status, 0, `${role} read settings`);
    assert.match(r.stderr, /permission denied/);
    const ddl = asRole(role, 'DROP TABLE answers');
    assert.notEqual(ddl.status, 0, `${role} dropped a table`);
  }
  const su = asRole('scoring', 'SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user');
  assert.equal(su.stdout.trim(), 'f');
});

test('auth takes the admin password as its yescrypt hash (QW_ADMIN_PASSWORD_HASH) and refuses anything else', async () => {
  const owner = (q) => psql(null, [process.env.QW_DB_URL, '-tAc', q]);
  const hash = owner("SELECT pw_hash FROM admins WHERE username = 'admin'").stdout.trim();
  assert.match(hash, /^\$y\$/);
  const base = { PATH: process.env.PATH, ...natsEnv('auth'), QW_OPS_PORT: '0', QW_INSTANCE: 'auth-hash-test',
    QW_DB_URL: `${process.env.QW_DB_URL.replace(/user=\S+ passfile=\S+/, '')} user=qw_auth passfile=${env.natsSecretDir}/pg-auth.pgpass`,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || '' };
  const bin = path.join(env.buildDir, 'services/auth/qw-auth');
  const bad = spawnSync(bin, [], { env: { ...base, QW_ADMIN_PASSWORD_HASH: 'plain-text-password' }, encoding: 'utf8', timeout: 20000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /event=config_invalid var=QW_ADMIN_PASSWORD_HASH/);
  assert.doesNotMatch(bad.stderr, /plain-text-password/, 'the value is never logged');
  // a broken stored hash is replaced by the one given
  assert.equal(owner("UPDATE admins SET pw_hash = '$y$broken' WHERE username = 'admin'").status, 0);
  let err = '';
  const good = spawn(bin, [], { env: { ...base, QW_ADMIN_PASSWORD_HASH: hash }, stdio: ['ignore', 'ignore', 'pipe'] });
  good.stderr.on('data', (d) => { err += d; });
  try {
    await waitFor('the second auth to set the admin hash', () => /event=admin_password/.test(err), { timeout: 20000 });
    assert.match(err, /event=admin_password user=admin source=hash stored=1/);
    assert.equal(owner("SELECT pw_hash FROM admins WHERE username = 'admin'").stdout.trim(), hash);
  } finally {
    good.kill('SIGTERM');
    await new Promise((r) => (good.exitCode !== null ? r() : good.once('exit', r)));
    owner(`UPDATE admins SET pw_hash = '${hash.replace(/'/g, "''")}' WHERE username = 'admin'`);
  }
  const res = await http(env.gateways[0], 'POST', '/admin/login', { body: { username: 'admin', password: env.adminPassword } });
  assert.equal(res.status, 200, 'the password behind the hash logs in');
});

test('with QW_NATS_CA_FILE a daemon speaks NATS only over TLS to a server that CA signed', async () => {
  const dir = fs.mkdtempSync('/tmp/qw-trust-tls-');
  const children = [];
  const freePort = () => new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const port = await freePort();
    fs.writeFileSync(`${dir}/nats.conf`, `listen: 127.0.0.1:${port}\ntls {\n  cert_file: "${dir}/cert.pem"\n  key_file: "${dir}/key.pem"\n}\n`);
    const nats = spawn('nats-server', ['-c', `${dir}/nats.conf`], { stdio: 'ignore' });
    children.push(nats);
    await waitFor('the TLS nats-server', () => new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    }));
    const gateway = async (extra) => {
      let err = '';
      const c = spawn(path.join(env.buildDir, 'services/gateway/qw-gateway'), [], {
        env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS || '', QW_NATS_URL: `nats://127.0.0.1:${port}`,
          QW_HTTP_PORT: String(await freePort()), QW_OPS_PORT: '0', QW_INSTANCE: 'gateway-tls', ...extra },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(c);
      c.stderr.on('data', (d) => { err += d; });
      await waitFor('the gateway to connect or give up', () => /event=(nats_connected|nats_connect_failed)/.test(err), { timeout: 20000 });
      return err;
    };
    assert.match(await gateway({ QW_NATS_CA_FILE: `${dir}/cert.pem` }), /event=nats_connected .*tls=1/);
    assert.match(await gateway({}), /event=nats_connect_failed/, 'no TLS: the server refuses the daemon');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
