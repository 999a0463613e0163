// 08_haproxy_lib.mjs: what the load-balancer tests share. Renders
// deploy/haproxy.cfg.tmpl (the VM's HAProxy config) for loopback ports and
// a self-signed certificate, or compose/haproxy.cfg with static servers in
// place of Docker's DNS, runs Debian's haproxy on it in the foreground,
// and reads the "shared" block that compose/haproxy.cfg and the template
// must both carry unchanged. Not a test file itself (no .test.mjs).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';

export const SHARED_BEGIN = '# ---- shared: begin ----';
export const SHARED_END = '# ---- shared: end ----';

// The text between the shared markers of a config file; throws when absent.
export function sharedBlock(text) {
  const a = text.indexOf(SHARED_BEGIN);
  const b = text.indexOf(SHARED_END);
  if (a < 0 || b < a) throw new Error('no shared block markers');
  return text.slice(a + SHARED_BEGIN.length, b);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// A self-signed certificate for localhost and 127.0.0.1 in `dir`:
// returns {pem: path of cert+key (HAProxy's crt), ca: the cert text}.
export function selfSignedCert(dir) {
  const key = path.join(dir, 'key.pem');
  const crt = path.join(dir, 'crt.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
  { stdio: 'ignore' });
  const pem = path.join(dir, 'fullchain-key.pem');
  fs.writeFileSync(pem, fs.readFileSync(crt, 'utf8') + fs.readFileSync(key, 'utf8'), { mode: 0o600 });
  return { pem, ca: fs.readFileSync(crt, 'utf8') };
}

// deploy/haproxy.cfg.tmpl with its placeholders filled. `servers` is a list
// of "host:port". Run as non-root, the privilege-dropping lines (chroot,
// user, group) cannot work and are left out; everything else is kept.
export function renderDeployConfig(root, { servers, httpBind, httpsBind, cert }) {
  let text = fs.readFileSync(path.join(root, 'deploy/haproxy.cfg.tmpl'), 'utf8');
  const lines = servers.map((s, i) => `    server gw${i + 1} ${s} check`).join('\n');
  text = text.replace('@SERVERS@', lines).replace('@HTTP_BIND@', httpBind)
    .replace('@HTTPS_BIND@', httpsBind).replace('@CERT@', cert);
  if (process.getuid && process.getuid() !== 0) text = text.replace(/^\s*(chroot|user|group) .*$/gm, '');
  // no syslog socket in a test container: log to stderr instead
  text = text.replace(/^(\s*)log \/dev\/log local0$/m, '$1log stderr format raw local0 info');
  if (/@[A-Z_]+@/.test(text)) throw new Error(`unfilled placeholder in rendered config: ${text.match(/@[A-Z_]+@/)[0]}`);
  return text;
}

// compose/haproxy.cfg as it would run outside Docker: the same global,
// shared and frontend blocks, with Docker's resolvers and the DNS
// server-template replaced by one `server` line per "host:port" of
// `servers`, and the frontend bound to `bind` instead of :8080.
export function renderComposeConfig(root, { servers, bind }) {
  let text = fs.readFileSync(path.join(root, 'compose/haproxy.cfg'), 'utf8');
  const swap = (re, to, what) => {
    if (!re.test(text)) throw new Error(`compose/haproxy.cfg: no ${what} to replace`);
    text = text.replace(re, to);
  };
  swap(/^resolvers docker\n(?:[ \t]+.*\n)+/m, '', 'resolvers section');
  const lines = servers.map((s, i) => `    server gw${i + 1} ${s} check`).join('\n');
  swap(/^\s*server-template .*$/m, lines, 'server-template line');
  swap(/^(\s*)bind :8080$/m, `$1bind ${bind}`, 'bind :8080');
  return text;
}

// Starts haproxy in the foreground on `cfgText`; resolves once `port` (on
// `host`) accepts connections. Returns {proc, stop(), log()}.
export async function startHaproxy(dir, name, cfgText, port, host = '127.0.0.1') {
  const cfg = path.join(dir, `${name}.cfg`);
  fs.writeFileSync(cfg, cfgText);
  execFileSync('haproxy', ['-c', '-q', '-f', cfg]);
  let out = '';
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const end = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited: ${out}`);
    const ok = await new Promise((r) => {
      const c = net.connect(port, host, () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > end) { proc.kill('SIGKILL'); throw new Error(`haproxy did not listen on ${port}: ${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    log: () => out,
    stop: () => new Promise((r) => {
      if (proc.exitCode !== null) return r();
      proc.once('exit', r);
      proc.kill('SIGTERM');
    }),
  };
}
