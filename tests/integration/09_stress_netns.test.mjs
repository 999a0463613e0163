// Checking a deployment from afar: from a second network namespace (the
// operator's laptop, its own network stack joined to this host only by a
// veth pair this test makes), stress/live --pool examples/demo10_pool.json
// plays the demo pool over https:// and wss:// through Debian's haproxy
// running deploy/haproxy.cfg.tmpl with a certificate made for the host's
// address on that link. Needs root (ip netns); skipped otherwise. The
// namespace and the link are removed afterwards, whatever happens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env } from '../lib/stack.mjs';
import { freePort, renderDeployConfig, startHaproxy } from './08_haproxy_lib.mjs';

const NS = `qwt${process.pid}`;
const HOST_IF = `qwh${process.pid}`.slice(0, 15);
const LAPTOP_IF = `qwl${process.pid}`.slice(0, 15);
// a /30 of 10.213.0.0/16 picked by pid, so parallel runs do not meet
const NET = `10.213.${Math.floor(process.pid / 64) % 256}.${(process.pid % 64) * 4}`;
const base = NET.split('.').map(Number);
const HOST_IP = [...base.slice(0, 3), base[3] + 1].join('.');
const LAPTOP_IP = [...base.slice(0, 3), base[3] + 2].join('.');

const canNetns = process.getuid && process.getuid() === 0 && spawnSync('ip', ['-V']).status === 0;
let dir;
let lb;
let made = false;
let port;

function ip(...args) { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }); }

before(async () => {
  if (!canNetns) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-netns-'));
  ip('netns', 'add', NS);
  made = true;
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', LAPTOP_IF);
  ip('link', 'set', LAPTOP_IF, 'netns', NS);
  ip('addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('-n', NS, 'addr', 'add', `${LAPTOP_IP}/30`, 'dev', LAPTOP_IF);
  ip('-n', NS, 'link', 'set', LAPTOP_IF, 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  // a certificate for the host's address on the link, trusted via --ca
  const key = path.join(dir, 'key.pem');
  const crt = path.join(dir, 'crt.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
    '-days', '2', '-subj', '/CN=quizwire-test', '-addext', `subjectAltName=IP:${HOST_IP}`], { stdio: 'ignore' });
  const pem = path.join(dir, 'fullchain-key.pem');
  fs.writeFileSync(pem, fs.readFileSync(crt, 'utf8') + fs.readFileSync(key, 'utf8'), { mode: 0o600 });
  port = await freePort();
  const servers = env.gateways.map((g) => new URL(g).host);
  lb = await startHaproxy(dir, 'deploy-lb', renderDeployConfig(env.root, {
    servers, httpBind: `${HOST_IP}:${await freePort()}`, httpsBind: `${HOST_IP}:${port}`, cert: pem,
  }), port, HOST_IP);
});

after(async () => {
  await lb?.stop();
  if (made) spawnSync('ip', ['netns', 'del', NS]); // takes the veth pair with it
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('from another network namespace, stress/live --pool demo10 passes over TLS through haproxy', { skip: !canNetns && 'needs root for ip netns' }, async () => {
  const pool = path.join(env.root, 'examples/demo10_pool.json');
  const questions = JSON.parse(fs.readFileSync(pool, 'utf8')).questions.length;
  const r = await new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn('ip', ['netns', 'exec', NS, path.join(env.root, 'stress/live'),
      '--gateways', `https://${HOST_IP}:${port}`, '--ca', path.join(dir, 'crt.pem'), '--pool', pool, '--students', '20'], {
      env: { ...process.env, QW_BUILD_DIR: env.buildDir, QW_ADMIN_PASSWORD: env.adminPassword, QW_ADMIN_USER: 'admin' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(out.trim().split('\n').pop()); } catch { /* no JSON line */ }
      resolve({ code, signal, json, stderr: err, ms: Date.now() - t0 });
    });
  });
  assert.equal(r.signal, null, `killed after ${r.ms} ms:\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.questions, questions);
  assert.equal(r.json.acks.accepted, 20 * questions);
  assert.equal(r.json.accuracy, 1);
  console.log(`# from ${LAPTOP_IP} (netns ${NS}) to https://${HOST_IP}:${port}: ack p50 ${r.json.ack_ms.p50} ms, p99 ${r.json.ack_ms.p99} ms`);
});
