// Admin REST writes answer only this site's own pages (issue 12 item 5,
// SPEC §3): a present foreign Origin (another port of the same host, a
// sibling site) or a browser's Sec-Fetch-Site: cross-site gets 403
// forbidden_origin, a body that is not application/json (text/plain, a
// form, multipart, no type at all) 415 unsupported_media_type, and neither
// changes anything. The gateway's own Origin and one listed in
// QW_ALLOWED_ORIGINS (tests/run.sh sets https://console.quizwire.test) pass.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import httpMod from 'node:http';
import { env, adminLogin, makePool } from '../lib/stack.mjs';

const ALLOWED = 'https://console.quizwire.test';
let admin;

// One request with exactly the headers given (no content-type unless
// named): {status, headers, json, text}. `localAddress` picks the source.
function raw(base, method, p, { body, headers = {}, localAddress } = {}) {
  const u = new URL(base + p);
  const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpMod.request({
      host: u.hostname, port: u.port, path: u.pathname, method, localAddress, agent: false, timeout: 10000,
      headers: { ...(data ? { 'content-length': data.length } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const counts = async (gw) => {
  const q = await raw(gw, 'GET', '/admin/api/quizzes', { headers: { cookie: admin } });
  const s = await raw(gw, 'GET', '/admin/api/sessions', { headers: { cookie: admin } });
  assert.equal(q.status, 200, q.text);
  assert.equal(s.status, 200, s.text);
  return { quizzes: JSON.stringify(q.json).length, sessions: JSON.stringify(s.json).length };
};

before(async () => { admin = await adminLogin(); });

test('admin writes with a foreign Origin or a cross-site fetch are refused with 403 and change nothing', async () => {
  for (const gw of env.gateways) {
    const u = new URL(gw);
    const before = await counts(gw);
    const foreign = [`http://${u.hostname}:1`, 'http://evil.example', `https://${u.hostname}.evil.example`, 'null'];
    for (const origin of foreign) {
      for (const [p, body] of [['/admin/api/quizzes', makePool(1)], ['/admin/api/reset', {}],
        ['/admin/api/sessions/main/next', {}], ['/admin/logout', undefined]]) {
        const r = await raw(gw, 'POST', p, { body, headers: { ...JSON_TYPE, cookie: admin, origin } });
        assert.equal(r.status, 403, `${origin} ${p}: ${r.text}`);
        assert.equal(r.json.error, 'forbidden_origin');
      }
      // a login from another page is refused before any password is checked
      const l = await raw(gw, 'POST', '/admin/login', {
        body: { username: 'admin', password: env.adminPassword }, headers: { ...JSON_TYPE, origin },
        localAddress: '127.0.0.71',
      });
      assert.equal(l.status, 403, l.text);
      assert.equal(l.headers['set-cookie'], undefined, 'no cookie for a refused login');
    }
    // a browser names a cross-site request even where it sends no Origin
    const x = await raw(gw, 'POST', '/admin/api/quizzes', {
      body: makePool(1), headers: { ...JSON_TYPE, cookie: admin, 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(x.status, 403, x.text);
    assert.deepEqual(await counts(gw), before, 'nothing was stored or changed');
    // the cached admin cookie still works: logout from another page did not end it
    assert.equal((await raw(gw, 'GET', '/admin/api/quizzes', { headers: { cookie: admin } })).status, 200);
  }
});

test('admin writes from the gateway\'s own Origin, a configured one, or no browser at all are served', async () => {
  for (const gw of env.gateways) {
    const own = new URL(gw).origin;
    for (const headers of [{ origin: own }, { origin: ALLOWED, 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-origin' }, {}]) {
      const r = await raw(gw, 'POST', '/admin/api/quizzes', { body: makePool(1), headers: { ...JSON_TYPE, cookie: admin, ...headers } });
      assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
      assert.ok(r.json.quiz_id);
    }
    // parameters of the media type do not matter, nor its case
    const c = await raw(gw, 'POST', '/admin/api/quizzes', {
      body: makePool(1), headers: { 'content-type': 'Application/JSON; charset=utf-8', cookie: admin, origin: own },
    });
    assert.equal(c.status, 200, c.text);
    // a POST without a body needs no type
    const reset = await raw(gw, 'POST', '/admin/api/sessions/no-such-session/close', { headers: { cookie: admin, origin: own } });
    assert.equal(reset.status, 404, reset.text);
  }
});

test('admin write bodies that are not application/json get 415 and change nothing', async () => {
  const gw = env.gateways[0];
  const own = new URL(gw).origin;
  const before = await counts(gw);
  const pool = JSON.stringify(makePool(1));
  const boundary = 'qwboundary';
  const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n${pool}\r\n--${boundary}--\r\n`;
  const cases = [
    ['text/plain', pool], ['text/plain;charset=UTF-8', pool],
    ['application/x-www-form-urlencoded', `${encodeURIComponent(pool)}=`],
    [`multipart/form-data; boundary=${boundary}`, multipart],
    ['application/jsonp', pool], ['application/json-seq', pool], [undefined, pool],
  ];
  for (const [type, body] of cases) {
    for (const p of ['/admin/api/quizzes', '/admin/api/sessions', '/admin/api/reset', '/admin/login']) {
      const headers = { cookie: admin, origin: own, ...(type ? { 'content-type': type } : {}) };
      const r = await raw(gw, 'POST', p, { body, headers, localAddress: '127.0.0.72' });
      assert.equal(r.status, 415, `${type} ${p}: ${r.text}`);
      assert.equal(r.json.error, 'unsupported_media_type');
    }
  }
  // a form that names a type but sends nothing is no JSON either
  const empty = await raw(gw, 'POST', '/admin/api/reset', { headers: { cookie: admin, 'content-type': 'text/plain' } });
  assert.equal(empty.status, 415, empty.text);
  assert.deepEqual(await counts(gw), before, 'nothing was stored or changed');
});
