// The stress tools over TLS, as an operator runs them against a deploy/ VM
// from afar: Debian's haproxy runs deploy/haproxy.cfg.tmpl with a
// certificate made here, stress/live plays a session through it over
// https:// and wss:// checking the certificate against --ca, and a
// certificate it cannot verify stops it at once with a line that says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env } from '../lib/stack.mjs';
import { freePort, renderDeployConfig, selfSignedCert, startHaproxy } from './08_haproxy_lib.mjs';

const LIVE = path.join(env.root, 'stress/live');
let dir;
let lb;
let httpsPort;
let caFile;
let otherCa;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qw-tls-'));
  const cert = selfSignedCert(dir);
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, cert.ca);
  const other = fs.mkdtempSync(path.join(dir, 'other-'));
  otherCa = path.join(other, 'ca.pem');
  fs.writeFileSync(otherCa, selfSignedCert(other).ca);
  httpsPort = await freePort();
  const httpPort = await freePort();
  const servers = env.gateways.map((g) => new URL(g).host);
  lb = await startHaproxy(dir, 'deploy-lb', renderDeployConfig(env.root, {
    servers, httpBind: `127.0.0.1:${httpPort}`, httpsBind: `127.0.0.1:${httpsPort}`, cert: cert.pem,
  }), httpsPort);
});

after(async () => {
  await lb?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Runs stress/live; resolves {code, json, stderr, ms}. Killed after `limit` ms.
function live(args, limit = 90000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(LIVE, args, {
      env: { ...process.env, QW_BUILD_DIR: env.buildDir, QW_ADMIN_PASSWORD: env.adminPassword, QW_ADMIN_USER: 'admin' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(out.trim().split('\n').pop()); } catch { /* no JSON line */ }
      resolve({ code, signal, json, stderr: err, ms: Date.now() - t0 });
    });
  });
}

test('stress/live --pool plays the demo pool over https and wss through haproxy, checking the certificate', async () => {
  const pool = path.join(env.root, 'examples/demo10_pool.json');
  const questions = JSON.parse(fs.readFileSync(pool, 'utf8')).questions.length;
  const r = await live(['--gateways', `https://localhost:${httpsPort}`, '--ca', caFile, '--students', '10', '--pool', pool]);
  assert.equal(r.signal, null, `killed after ${r.ms} ms:\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.ok, true, r.stderr);
  assert.equal(r.json.questions, questions, 'every question of the pool played');
  assert.equal(r.json.acks.accepted, 10 * questions, JSON.stringify(r.json.acks));
  assert.equal(r.json.mismatches, 0);
  assert.equal(r.json.accuracy, 1);
  assert.match(r.json.target, /^https:\/\/localhost:/);
});

test('a certificate that does not verify stops stress/live at once with a clear line', async () => {
  for (const args of [[], ['--ca', otherCa]]) {
    const r = await live(['--gateways', `https://localhost:${httpsPort}`, ...args, '--students', '2', '--questions', '1'], 30000);
    assert.equal(r.signal, null, `killed after ${r.ms} ms:\n${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate does not verify \(self[- ]signed certificate\).*--ca FILE/, r.stderr);
    assert.ok(r.ms < 20000, `failed after ${r.ms} ms`);
    console.log(`# ${args.length ? 'another CA' : 'system CAs'}: ${r.stderr.trim().split('\n').pop()}`);
  }
  // a pool file that cannot be read stops it before anything is created
  const bad = await live(['--gateways', `https://localhost:${httpsPort}`, '--insecure', '--pool', path.join(dir, 'none.json')], 30000);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--pool .*none\.json/, bad.stderr);
  // --insecure skips the check (and says nothing about certificates)
  const insecure = await live(['--gateways', `https://localhost:${httpsPort}`, '--insecure', '--students', '2', '--questions', '1']);
  assert.equal(insecure.code, 0, insecure.stderr);
});
