// Static checks of compose/ and deploy/, which cannot run here for real
// (no Docker engine, no systemd as pid 1): every shell script passes
// shellcheck, the compose file parses and sets only documented QW_*
// variables, every service is health-checked or one-shot, the Dockerfile
// follows the image rules, the systemd units verify, both HAProxy configs
// pass `haproxy -c` and share one defaults/backend block. And the test code
// runs on Debian 12's own Node.js 18: no API newer than Node 18 and no
// locked package that refuses it (scripts/check-node18.sh runs it there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import YAML from 'yaml';
import { env } from '../lib/stack.mjs';
import { sharedBlock, renderDeployConfig, selfSignedCert } from './08_haproxy_lib.mjs';

const root = env.root;
const read = (p) => fs.readFileSync(path.join(root, p), 'utf8');
const DAEMONS = ['auth', 'session-a', 'session-b', 'scoring', 'gateway'];

// Every variable docs/CONFIG.md documents (generated from the settings table).
const documented = new Set([...read('docs/CONFIG.md').matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
const compose = YAML.parse(read('compose/docker-compose.yml'), { merge: true });

test('every shell script passes shellcheck at style level', () => {
  const files = execFileSync('git', ['ls-files', '*.sh', '.ci/run', 'compose', 'deploy'], { cwd: root, encoding: 'utf8' })
    .split('\n').filter((f) => f && (f.endsWith('.sh') || f === '.ci/run'));
  for (const f of ['compose/entrypoint.sh', 'compose/init-secrets.sh', 'deploy/bootstrap.sh', '.ci/run']) {
    assert.ok(files.includes(f) || fs.existsSync(path.join(root, f)), `${f} missing`);
    if (!files.includes(f)) files.push(f);
  }
  const problems = [];
  for (const f of files) {
    // -x follows the files a script sources (scripts/teststack.sh)
    const r = spawnSync('shellcheck', ['-x', '-f', 'json', '-S', 'style', f], { cwd: root, encoding: 'utf8' });
    const found = JSON.parse(r.stdout || '[]');
    for (const c of found) problems.push(`${f}:${c.line}: SC${c.code} ${c.message}`);
  }
  assert.deepEqual(problems, []);
});

test('every QW_ variable the compose services or the image set is one docs/CONFIG.md documents', () => {
  assert.ok(documented.has('QW_NATS_URL') && documented.has('QUIZ_POOL_PATH'), 'CONFIG.md table parsed');
  const unknown = [];
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const k of Object.keys(svc.environment || {})) {
      if (/^(QW_|QUIZ_)/.test(k) && !documented.has(k)) unknown.push(`${name}: ${k}`);
    }
  }
  for (const m of read('compose/Dockerfile').matchAll(/\b((?:QW|QUIZ)_[A-Z_]+)=/g)) {
    if (!documented.has(m[1])) unknown.push(`Dockerfile: ${m[1]}`);
  }
  for (const f of fs.readdirSync(path.join(root, 'deploy/systemd'))) {
    for (const m of read(`deploy/systemd/${f}`).matchAll(/\b((?:QW|QUIZ)_[A-Z_]+)=/g)) {
      if (!documented.has(m[1])) unknown.push(`${f}: ${m[1]}`);
    }
  }
  for (const m of read('deploy/bootstrap.sh').matchAll(/^((?:QW|QUIZ)_[A-Z_]+)=/gm)) {
    if (!documented.has(m[1])) unknown.push(`bootstrap.sh env file: ${m[1]}`);
  }
  assert.deepEqual(unknown, []);
});

test('the compose stack has every part, each health-checked or one-shot, daemons after the migrations', () => {
  const s = compose.services;
  for (const name of ['nats', 'postgres', 'migrate', 'haproxy', ...DAEMONS]) assert.ok(s[name], `service ${name}`);
  const oneShot = new Set(['migrate']);
  for (const [name, svc] of Object.entries(s)) {
    if (oneShot.has(name)) {
      assert.equal(svc.restart, 'no', `${name} runs once`);
      continue;
    }
    const hc = svc.healthcheck;
    assert.ok(hc && !hc.disable && Array.isArray(hc.test) && hc.test.length > 1, `${name} has a healthcheck`);
  }
  assert.deepEqual(s.migrate.command, ['qw-migrate']);
  assert.deepEqual(s.migrate.depends_on.postgres, { condition: 'service_healthy' });
  for (const name of DAEMONS) {
    assert.equal(s[name].depends_on?.migrate?.condition, 'service_completed_successfully', `${name} waits for migrate`);
    assert.equal(s[name].image, 'quizwire:latest');
    assert.match(s[name].environment.QW_NATS_URL, /^nats:\/\/nats:4222$/);
    if (name !== 'gateway') {
      assert.match(s[name].environment.QW_DB_URL, /host=postgres/);
      assert.ok(s[name].env_file.includes('db.env'), `${name} gets the database password`);
    }
  }
  assert.ok(s.auth.env_file.includes('admin.env'), 'auth gets QW_ADMIN_PASSWORD from an env file');
  assert.notEqual(s['session-a'].environment.QW_INSTANCE, s['session-b'].environment.QW_INSTANCE);
  assert.match(s.postgres.image, /^postgres:15/);
  assert.deepEqual(s.postgres.healthcheck.test.slice(0, 2), ['CMD', 'pg_isready']);
  assert.ok(s.postgres.volumes.some((v) => v.startsWith('pgdata:')), 'named volume');
  assert.ok(compose.volumes && 'pgdata' in compose.volumes);
  assert.match(read('compose/nats.conf'), /^max_payload: 8MB$/m);
  for (const v of Object.values(compose.services)) assert.ok(!JSON.stringify(v).match(/PASSWORD=[^$]|password=/i), 'no secret in the file');
});

test('compose: each daemon connects to NATS as its own role with only its own secrets, unprivileged', () => {
  const s = compose.services;
  const roleOf = { auth: 'auth', 'session-a': 'session', 'session-b': 'session', scoring: 'scoring', gateway: 'gateway' };
  for (const [name, role] of Object.entries(roleOf)) {
    const e = s[name].environment;
    assert.equal(e.QW_NATS_USER, `qw_${role}`, `${name} is NATS user qw_${role}`);
    assert.equal(e.QW_NATS_PASSWORD_FILE, `/run/secrets/nats_${role}`);
    assert.deepEqual(s[name].secrets, [`nats_${role}`], `${name} mounts its own NATS password only`);
    assert.equal(compose.secrets[`nats_${role}`].file, `./secrets/nats-${role}.password`);
    if (name !== 'auth') assert.ok(!(s[name].env_file || []).includes('admin.env'), `${name} gets no admin password`);
  }
  assert.equal(s.gateway.environment.QW_DB_URL, undefined, 'the gateway has no database URL');
  assert.equal(s.gateway.env_file, undefined, 'the gateway reads no secret env file');
  for (const name of [...Object.keys(roleOf), 'migrate', 'nats']) {
    assert.deepEqual(s[name].cap_drop, ['ALL'], `${name} drops every capability`);
    assert.ok(s[name].security_opt.includes('no-new-privileges:true'), `${name} sets no-new-privileges`);
    assert.equal(s[name].read_only, true, `${name} has a read-only root filesystem`);
  }
  for (const name of ['postgres', 'haproxy']) assert.ok(s[name].security_opt.includes('no-new-privileges:true'), `${name} sets no-new-privileges`);
  // NATS in compose has the same users and permissions as every other stack
  assert.deepEqual(s.nats.env_file, ['nats.env']);
  const conf = read('compose/nats.conf').match(/^# roles:begin\n([\s\S]*?)^# roles:end$/m);
  assert.ok(conf, 'compose/nats.conf has the roles markers');
  const want = execFileSync(path.join(env.buildDir, 'shared/qw-nats-roles'), ['--conf-env'], { encoding: 'utf8' });
  assert.equal(conf[1], want, 'compose/nats.conf: paste `qw-nats-roles --conf-env` between the markers');
  const init = read('compose/init-secrets.sh');
  const names = execFileSync(path.join(env.buildDir, 'shared/qw-nats-roles'), ['--names'], { encoding: 'utf8' }).trim().split('\n');
  const made = init.match(/^for role in ([a-z ]+); do$/m)[1].split(' ');
  assert.deepEqual(made, names, 'init-secrets.sh makes a password for every role');
  assert.match(read('.gitignore'), /^\/compose\/secrets\/$/m);
});

test('the gateway scales: no fixed host port, no container name, HAProxy finds replicas by DNS and is trusted', () => {
  const gw = compose.services.gateway;
  assert.equal(gw.ports, undefined);
  assert.equal(gw.container_name, undefined);
  assert.equal(gw.scale, '${QUIZWIRE_GATEWAYS:-2}', 'the gateway count survives a plain `up -d`');
  assert.equal(gw.environment.QW_HTTP_ADDR, '0.0.0.0');
  assert.equal(String(gw.environment.QW_HTTP_PORT), '8080');
  assert.ok(gw.healthcheck.test.join(' ').includes('127.0.0.1:8080/healthz'), 'public /healthz checked');
  const lb = compose.services.haproxy;
  assert.match(lb.image, /^haproxy:2\.6/);
  assert.ok(lb.volumes.some((v) => v.startsWith('./haproxy.cfg:')));
  // the gateways trust the compose network HAProxy sits on, whatever address it gets
  assert.ok(lb.networks.includes('quizwire'), 'haproxy on the quizwire network');
  const subnet = compose.networks.quizwire.ipam.config[0].subnet;
  assert.match(subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
  assert.equal(gw.environment.QW_TRUSTED_PROXIES, subnet);
  const cfg = read('compose/haproxy.cfg');
  // the container's own resolver (Docker's or Podman's), never a fixed address
  assert.match(cfg, /^resolvers docker\n(?:[ \t]+.*\n)*?[ \t]+parse-resolv-conf$/m);
  assert.doesNotMatch(cfg, /^\s*nameserver /m, 'no fixed DNS server');
  assert.match(cfg, /^\s*server-template gw \d+ gateway:8080 check resolvers docker init-addr none$/m);
});

test('the Dockerfile builds in a full stage and runs in a slim one, unprivileged and health-checked', () => {
  const text = read('compose/Dockerfile').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages = [];
  for (const l of lines) {
    const [instr, ...rest] = l.split(/\s+/);
    if (instr.toUpperCase() === 'FROM') stages.push({ from: rest.join(' '), body: [] });
    else stages.at(-1).body.push([instr.toUpperCase(), rest.join(' ')]);
  }
  assert.equal(stages.length, 2, 'multi-stage: build and run');
  assert.match(stages[0].from, /^debian:bookworm AS build$/i);
  assert.match(stages[1].from, /^debian:bookworm-slim AS run$/i);
  const build = stages[0].body.map(([i, a]) => `${i} ${a}`).join('\n');
  assert.match(build, /-DCMAKE_BUILD_TYPE=RelWithDebInfo/);
  assert.match(build, /scripts\/build-web\.sh/);
  if (/\bnpm\b/.test(read('scripts/build-web.sh'))) {
    assert.match(build, /\bnodejs\b/, 'build-web.sh uses npm: the build stage installs nodejs');
    assert.match(build, /\bnpm\b/, 'build-web.sh uses npm: the build stage installs npm');
    assert.match(read('deploy/bootstrap.sh'), /^PKGS=\(.*\bnpm\b/m, 'bootstrap.sh installs npm for build-web.sh');
  }
  const run = stages[1].body;
  const users = run.filter(([i]) => i === 'USER');
  assert.ok(users.length && !/^(root|0)(:|$)/.test(users.at(-1)[1]), 'runs as a non-root USER');
  const hc = run.filter(([i]) => i === 'HEALTHCHECK');
  assert.equal(hc.length, 1);
  assert.match(hc[0][1], /\/healthz/);
  assert.ok(!run.some(([i, a]) => i === 'RUN' && /-dev\b|build-essential|cmake/.test(a)), 'no build tools in the run stage');
  // every library the daemons link directly comes from a package the run stage installs
  const installed = run.filter(([i]) => i === 'RUN').map(([, a]) => a).join(' ');
  const needed = new Set();
  for (const d of ['auth', 'session', 'scoring', 'gateway', 'migrate']) {
    const bin = path.join(env.buildDir, `services/${d}/qw-${d}`);
    const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' });
    const direct = execFileSync('readelf', ['-d', bin], { encoding: 'utf8' });
    for (const m of direct.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)) {
      if (/^(libc|libm|libasan|libubsan|libgcc_s|libstdc\+\+|libpthread|libdl)\.so/.test(m[1])) continue;
      const file = ldd.match(new RegExp(`${m[1].replace(/[.+]/g, '\\$&')} => (\\S+)`))[1];
      const pkg = owningPackage(file);
      needed.add(pkg);
    }
  }
  assert.ok(needed.size >= 5, `found linked packages: ${[...needed]}`);
  for (const p of needed) assert.match(installed, new RegExp(`\\b${p.replace(/[.+]/g, '\\$&')}\\b`), `run stage installs ${p}`);
});

// The Debian package owning a library file. With merged /usr, dpkg knows a
// file by the path its package shipped (/lib/... or /usr/lib/...), which may
// be neither the symlink ldd names nor its real path: try each spelling.
function owningPackage(file) {
  const real = fs.realpathSync(file);
  const spellings = new Set();
  for (const f of [file, real]) {
    spellings.add(f);
    spellings.add(f.startsWith('/usr/lib/') ? f.slice(4) : f.startsWith('/lib/') ? '/usr' + f : f);
  }
  for (const f of spellings) {
    try {
      return execFileSync('dpkg', ['-S', f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[0];
    } catch { /* not known by this spelling */ }
  }
  throw new Error(`no Debian package owns ${file}`);
}

test('the systemd units verify and carry the hardening', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-units-'));
  try {
    const units = fs.readdirSync(path.join(root, 'deploy/systemd'));
    for (const u of units) {
      // the binaries are not installed here: point ExecStart at the build
      const text = read(`deploy/systemd/${u}`).replace(/\/usr\/local\/bin\/qw-(\w+)/g,
        (_, d) => path.join(env.buildDir, `services/${d}/qw-${d}`));
      fs.writeFileSync(path.join(dir, u), text);
      if (u.endsWith('.service')) {
        const t = read(`deploy/systemd/${u}`);
        for (const want of ['User=quizwire', 'EnvironmentFile=/etc/quizwire/common.env', 'NoNewPrivileges=yes',
          'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'ProtectKernelTunables=yes',
          'ProtectControlGroups=yes', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'CapabilityBoundingSet=\n']) {
          assert.ok(t.includes(want), `${u}: ${want.trim()}`);
        }
        assert.match(t, u === 'qw-migrate.service' ? /^Type=oneshot$/m : /^Restart=on-failure$/m, u);
        // secrets only where used: one role file and one NATS credential per unit
        const role = { 'qw-auth.service': 'auth', 'qw-session@.service': 'session', 'qw-scoring.service': 'scoring',
          'qw-gateway@.service': 'gateway' }[u];
        const files = [...t.matchAll(/^EnvironmentFile=(\S+)$/gm)].map((m) => m[1]);
        if (role) {
          assert.match(t, new RegExp(`^LoadCredential=nats:/etc/quizwire/secrets/nats-${role}\\.password$`, 'm'), u);
          assert.match(t, new RegExp(`^Environment=QW_NATS_USER=qw_${role} QW_NATS_PASSWORD_FILE=%d/nats$`, 'm'), u);
        }
        const own = role === 'gateway' ? [] : [`/etc/quizwire/${role || 'migrate'}.env`];
        assert.deepEqual(files, ['/etc/quizwire/common.env', ...own], `${u} reads only its own settings`);
      }
    }
    fs.symlinkSync('qw-session@.service', path.join(dir, 'qw-session@1.service'));
    fs.symlinkSync('qw-gateway@.service', path.join(dir, 'qw-gateway@8080.service'));
    const targets = ['qw-auth.service', 'qw-scoring.service', 'qw-migrate.service', 'qw-session@1.service',
      'qw-gateway@8080.service', 'quizwire.target'].map((u) => path.join(dir, u));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...targets], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', r.stderr);
    // the target starts two session instances and the gateways on 8080 and 8081
    assert.match(read('deploy/systemd/quizwire.target'),
      /^Wants=.*qw-session@1\.service qw-session@2\.service.*qw-gateway@8080\.service qw-gateway@8081\.service/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('compose/README.md says how to run the stack under Podman', () => {
  const readme = read('compose/README.md');
  const m = /^## With Podman[^\n]*\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(m, 'a "With Podman" section');
  for (const want of [/podman\.socket/, /DOCKER_HOST=unix:\/\/\S*podman\.sock/, /netavark/, /parse-resolv-conf/])
    assert.match(m[1], want);
});

test('deploy: the admin password is stored as its hash, NATS checks the roles, each role its own secrets', () => {
  const b = read('deploy/bootstrap.sh');
  assert.doesNotMatch(b, /^QW_ADMIN_PASSWORD=/m, 'no plain admin password in an env file');
  assert.match(b, /QW_ADMIN_PASSWORD_HASH=/);
  assert.match(b, /mkpasswd -m yescrypt --stdin/);
  assert.match(b, /qw-nats-roles --conf "\$ETC\/secrets"/, 'nats.conf gets the users and permissions of the roles table');
  const names = execFileSync(path.join(env.buildDir, 'shared/qw-nats-roles'), ['--names'], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(b.match(/^for role in ([a-z ]+); do secret_file/m)[1].split(' '), names, 'a NATS password for every role');
  assert.match(b, /^role_env auth\.env .*qw_auth/m);
  assert.doesNotMatch(b, /role_env gateway/, 'the gateways get no database or admin secret');
});

test('both HAProxy configs pass haproxy -c and share one defaults and backend block', () => {
  const composeCfg = read('compose/haproxy.cfg');
  const tmpl = read('deploy/haproxy.cfg.tmpl');
  assert.equal(sharedBlock(composeCfg), sharedBlock(tmpl));
  const block = sharedBlock(tmpl);
  for (const want of [/^\s*timeout tunnel \S+/m, /^\s*option httpchk$/m, /uri \/healthz/, /^\s*http-check expect status 200$/m,
    /^\s*http-request set-header X-Forwarded-For %\[src\]$/m, /^backend gateways$/m,
    // the scheme is the proxy's word, never the client's (the Secure cookie)
    /^\s*http-request set-header X-Forwarded-Proto https if \{ ssl_fc \}$/m,
    /^\s*http-request set-header X-Forwarded-Proto http if !\{ ssl_fc \}$/m,
    /^\s*http-request del-header X-Forwarded-Host$/m,
    // a request lost with a dying gateway is tried again on another one when that is safe
    /^\s*option redispatch 1$/m, /^\s*retries [1-9]$/m, /^\s*retry-on conn-failure empty-response$/m,
    /^\s*http-request disable-l7-retry if !METH_GET$/m]) assert.match(block, want);
  assert.doesNotMatch(block, /cookie|stick/, 'no sticky sessions');
  // compose's config parses as it is: haproxy -c does not query the
  // Docker DNS (127.0.0.11) it names, and init-addr none allows no address
  const c = spawnSync('haproxy', ['-c', '-f', path.join(root, 'compose/haproxy.cfg')], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-hacheck-'));
  try {
    const cert = selfSignedCert(dir);
    const cfg = path.join(dir, 'deploy.cfg');
    fs.writeFileSync(cfg, renderDeployConfig(root, { servers: ['127.0.0.1:8080', '127.0.0.1:8081'],
      httpBind: ':80', httpsBind: ':443', cert: cert.pem }));
    const d = spawnSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8' });
    assert.equal(d.status, 0, d.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every C file is formatted by the checked-in .clang-format', () => {
  const files = execFileSync('git', ['ls-files', '*.c', '*.h'], { cwd: root, encoding: 'utf8' })
    .split('\n').filter(Boolean);
  assert.ok(files.length > 30, `found ${files.length} C files`);
  const r = spawnSync('clang-format', ['--dry-run', '--Werror', ...files], { cwd: root, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'clang-format is installed (make deps-test)');
  const unformatted = [...new Set([...r.stderr.matchAll(/^([^:\s]+\.[ch]):\d+:\d+: error/gm)].map((m) => m[1]))];
  assert.deepEqual(unformatted, [], 'run `make format`');
  assert.equal(r.status, 0, r.stderr.slice(0, 2000));
});

// Does the npm engines range `range` accept version `v` ([major, minor,
// patch])? Knows the forms our lock files use: "||" of space-separated
// comparators (>=, >, <=, <, =, ^, ~ or a bare version, x or missing parts).
function enginesAccept(range, v) {
  const cmp = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  const one = (c) => {
    const m = /^(>=|<=|>|<|=|\^|~)?\s*v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(c);
    assert.ok(m, `engines comparator ${JSON.stringify(c)} not understood`);
    const want = [Number(m[2]), Number(m[3]) || 0, Number(m[4]) || 0];
    const d = cmp(v, want);
    switch (m[1]) {
      case '>=': return d >= 0;
      case '>': return d > 0;
      case '<=': return d <= 0;
      case '<': return d < 0;
      case '^': return d >= 0 && v[0] === want[0];
      case '~': return d >= 0 && v[0] === want[0] && v[1] === want[1];
      default: return m[3] === undefined || m[3] === 'x' ? v[0] === want[0] : d === 0;
    }
  };
  return range.split('||').some((alt) => alt.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).every(one));
}

test('the test code runs on Debian 12\'s Node.js 18: no newer API, every locked package accepts Node 18.20', () => {
  const node18 = [18, 20, 4];
  assert.ok(enginesAccept('>= 14.0.0', node18) && enginesAccept('^14.17.0 || >=16', node18));
  assert.ok(!enginesAccept('>=20', node18) && !enginesAccept('<18', node18), 'the range check can say no');
  const refused = [];
  for (const lock of ['tests/package-lock.json', 'web/package-lock.json']) {
    for (const [name, pkg] of Object.entries(JSON.parse(read(lock)).packages)) {
      const range = pkg.engines && pkg.engines.node;
      if (name && range && !enginesAccept(range, node18)) refused.push(`${lock}: ${name} ${pkg.version} wants node ${range}`);
    }
  }
  assert.deepEqual(refused, [], 'pin versions whose engines accept Node 18 (npm view PKG@X engines)');
  // APIs newer than Node 18.20 (or missing from Debian's build of it), as
  // they would be called; each pattern's own source text does not match it
  const newer = [
    [/\.getSetCookie\(/, 'Headers.getSetCookie (Node 19.7; Debian 18 lacks it): use setCookies() from tests/lib/stack.mjs'],
    [/import\.meta\.(dirname|filename)\b/, 'import.meta dirname or filename (Node 20.11)'],
    [/AbortSignal\.any\(/, 'AbortSignal.any (Node 20.3)'],
    [/Array\.fromAsync\(/, 'Array.fromAsync (Node 22)'],
    [/Promise\.withResolvers\(/, 'Promise.withResolvers (Node 22)'],
    [/\b(Object|Map)\.groupBy\(/, 'Object/Map.groupBy (Node 21)'],
    [/\.to(Sorted|Reversed|Spliced)\(/, 'Array.toSorted/toReversed/toSpliced (Node 20)'],
    [/\bfs(\.promises)?\.glob\(|\bglobSync\(/, 'fs.glob (Node 22)'],
    [/\bstyleText\(|\bloadEnvFile\(/, 'util.styleText / process.loadEnvFile (Node 20.12+)'],
    [/\bmock\.timers\b|\bt\.(plan|assert|waitFor)\b/, 'node:test features newer than 18'],
  ];
  const files = execFileSync('git', ['ls-files', '*.mjs', '*.cjs', '*.js', '*.sh', 'Makefile'], { cwd: root, encoding: 'utf8' })
    .split('\n').filter((f) => f && !f.startsWith('web/'));
  assert.ok(files.includes('tests/lib/stack.mjs'), 'the scan sees the test helpers');
  const found = [];
  for (const f of files) {
    read(f).split('\n').forEach((line, i) => {
      for (const [re, what] of newer) if (re.test(line)) found.push(`${f}:${i + 1}: ${what}`);
    });
  }
  assert.deepEqual(found, []);
});

test('deploy --cluster: Patroni with its drop-in verifies; strict synchronous replication, TLS routes, multi-host URLs', { skip: !fs.existsSync('/lib/systemd/system/patroni.service') && "Debian's patroni is not installed" }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-cluster-units-'));
  try {
    fs.copyFileSync('/lib/systemd/system/patroni.service', path.join(dir, 'patroni.service'));
    fs.mkdirSync(path.join(dir, 'patroni.service.d'));
    fs.copyFileSync(path.join(root, 'deploy/cluster/patroni-quizwire.conf'), path.join(dir, 'patroni.service.d/quizwire.conf'));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(dir, 'patroni.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /quizwire\.conf/, r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const f of ['deploy/cluster.sh', 'scripts/cluster.sh']) {
    const t = read(f);
    assert.match(t, /^ {4}synchronous_mode: true$/m, `${f}: synchronous_mode`);
    assert.match(t, /^ {4}synchronous_mode_strict: true$/m, `${f}: synchronous_mode_strict`);
    assert.match(t, /^ {6}use_pg_rewind: true$/m, `${f}: the old primary rejoins by pg_rewind`);
    assert.match(t, /tls \{ cert_file: .*verify: true/, `${f}: mutual TLS on the NATS routes`);
    // a primary cut off for 10 s is replaced inside the cut (RELIABILITY.md):
    // its key lives ttl, and it demotes itself before the key can expire
    const dcs = (k) => Number(new RegExp(`^ {4}${k}: (\\d+)$`, 'm').exec(t)?.[1]);
    assert.ok(dcs('ttl') <= 5, `${f}: Patroni's ttl ${dcs('ttl')} s lets a 10 s cut heal before the failover`);
    assert.ok(dcs('loop_wait') + 2 * dcs('retry_timeout') <= dcs('ttl'), `${f}: loop_wait + 2 * retry_timeout <= ttl`);
    assert.match(t, /^ {4}- checkpoint: fast$/m, `${f}: a new standby's copy does not wait for a spread checkpoint`);
  }
  // a statement on a primary cut off the network fails within seconds
  for (const f of ['deploy/bootstrap.sh', 'scripts/cluster-node.sh']) {
    assert.match(read(f), /keepalives_idle=\d+/, `${f}: TCP keepalives in the daemons' URL`);
    assert.match(read(f), /tcp_user_timeout=\d+/, `${f}: tcp_user_timeout in the daemons' URL`);
  }
  const b = read('deploy/bootstrap.sh');
  assert.match(b, /target_session_attrs=read-write/, 'the daemons take only a writable primary');
  assert.match(b, /^\[ -n "\$CLUSTER" \] && PKGS\+=\(etcd-server etcd-client patroni\)$/m);
  assert.match(read('scripts/deps.sh'), /CLUSTER_PKGS=\(etcd-server etcd-client patroni haproxy openssl\)/);
});
