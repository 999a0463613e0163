// Pictures of questions (issue 18, "Pictures"). POST /admin/api/images
// takes a PNG, JPEG or WebP whose type is judged from its bytes (a text
// file sent as image/png, a PNG signature on garbage and a JPEG sent as
// image/png are refused and store nothing), at most QW_IMAGE_MAX_BYTES
// (413), only as an image type (415), only from the admin (401) on this
// site's pages (403); the same bytes twice are the same id, the SHA-256
// of the bytes. GET /img/{id} serves it cacheable for good (immutable,
// ETag = id, 304 on If-None-Match, nosniff); an unknown id is 404, a
// malformed one 400. A quiz may name a picture per question (an unknown
// or malformed id is refused naming the question and `image`); the
// student on a 360 px phone sees it under the question, and many GETs of
// one picture on one gateway, even at once, cost one NATS fetch
// (qw_image_fetches_total), and so does a made-up id asked for again and
// again (the miss is remembered). The tiny PNG is built here byte by byte; the
// JPEG and WebP come from Chromium's own encoders.
// QW_SCREENSHOTS=1 saves docs/screenshots/picture-phone.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import httpMod from 'node:http';
import zlib from 'node:zlib';
import { env, adminLogin, metric } from '../lib/stack.mjs';
import { newSession, join, connect, command } from '../lib/ws.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
let admin;
let browser;
let jpeg;
let webp;
let drawn; // a picture of a planet, PNG, for the game

// One request with exactly these headers: {status, headers, body (Buffer), json}.
function raw(base, method, p, { body, headers = {} } = {}) {
  const u = new URL(base + p);
  return new Promise((resolve, reject) => {
    const req = httpMod.request({
      host: u.hostname, port: u.port, path: u.pathname, method, agent: false, timeout: 15000,
      headers: { ...(body ? { 'content-length': body.length } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let json = null;
        try { json = JSON.parse(buf.toString('utf8')); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: buf, json, text: buf.toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const upload = (body, type, headers = {}) => raw(gw, 'POST', '/admin/api/images', {
  body, headers: { ...(type ? { 'content-type': type } : {}), cookie: admin, ...headers },
});
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

// CRC-32 of PNG chunks (node's zlib.crc32 needs Node 22).
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
// A w x h RGB PNG of one colour (rgb: [r, g, b]).
function makePng(w, h, rgb) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))]);
}
const fresh = () => [crypto.randomInt(256), crypto.randomInt(256), crypto.randomInt(256)];

before(async () => {
  admin = await adminLogin(gw);
  browser = await launch();
  const page = await browser.newPage();
  const urls = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 640; c.height = 360;
    const g = c.getContext('2d');
    const sky = g.createLinearGradient(0, 0, 0, 360);
    sky.addColorStop(0, '#0b1026'); sky.addColorStop(1, '#2a1157');
    g.fillStyle = sky; g.fillRect(0, 0, 640, 360);
    g.fillStyle = '#fff';
    for (let i = 0; i < 60; i++) g.fillRect((i * 97) % 640, (i * 53) % 360, 2, 2);
    const p = g.createRadialGradient(290, 150, 20, 320, 180, 130);
    p.addColorStop(0, '#f08a4b'); p.addColorStop(1, '#8c2d12');
    g.fillStyle = p; g.beginPath(); g.arc(320, 180, 120, 0, 2 * Math.PI); g.fill();
    g.fillStyle = `rgb(${Date.now() % 256}, 40, 40)`; // new bytes each run: a fresh id
    g.fillRect(0, 0, 1, 1);
    return [c.toDataURL('image/jpeg', 0.8), c.toDataURL('image/webp', 0.8), c.toDataURL('image/png')];
  });
  await page.close();
  [jpeg, webp, drawn] = urls.map((u) => Buffer.from(u.split(',')[1], 'base64'));
  assert.equal(jpeg.subarray(0, 3).toString('hex'), 'ffd8ff');
  assert.equal(webp.subarray(8, 12).toString('ascii'), 'WEBP');
});
after(async () => { await browser?.close(); });

test('a PNG, a JPEG and a WebP are stored under the SHA-256 of their bytes, with the type and size read from them', async () => {
  const png = makePng(3, 2, fresh());
  for (const [body, mime, w, h] of [[png, 'image/png', 3, 2], [jpeg, 'image/jpeg', 640, 360], [webp, 'image/webp', 640, 360]]) {
    const r = await upload(body, mime);
    assert.equal(r.status, 200, `${mime}: ${r.text}`);
    assert.deepEqual(r.json, { image: sha(body), mime, width: w, height: h });
    const again = await upload(body, `${mime}; charset=binary`); // idempotent; parameters aside
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.image, r.json.image);
  }
});

test('what is not a picture of the type it claims is refused with 400 and stores nothing', async () => {
  const png = makePng(4, 4, fresh());
  const garbage = Buffer.concat([png.subarray(0, 8), crypto.randomBytes(300)]);
  const badCrc = Buffer.from(png); badCrc[20] ^= 1; // the IHDR width, under its checksum
  const cases = [
    [Buffer.from('just some notes, saved as notes.png\n'), 'image/png', 'not_an_image'],
    [garbage, 'image/png', 'not_an_image'],
    [badCrc, 'image/png', 'not_an_image'],
    [png.subarray(0, png.length - 12), 'image/png', 'not_an_image'], // no IEND
    [jpeg, 'image/png', 'type_mismatch'],
    [png, 'image/webp', 'type_mismatch'],
  ];
  for (const [body, type, code] of cases) {
    const r = await upload(body, type);
    assert.equal(r.status, 400, `${code}: ${r.text}`);
    assert.equal(r.json.error, code, r.text);
    if (code === 'not_an_image') assert.equal((await raw(gw, 'GET', `/img/${sha(body)}`)).status, 404, 'not stored');
  }
  // an absurd size in a well-formed header: 20000 x 20000
  const huge = makePng(1, 1, fresh());
  huge.writeUInt32BE(20000, 16); huge.writeUInt32BE(20000, 20);
  huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
  const r = await upload(huge, 'image/png');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.message, /too large in pixels/);
  assert.equal((await upload(Buffer.alloc(0), 'image/png')).status, 400, 'an empty body');
});

test('an oversize picture is 413, a wrong Content-Type 415, no admin 401, a foreign Origin 403', async () => {
  const big = Buffer.concat([makePng(2, 2, fresh()), crypto.randomBytes(512 * 1024)]);
  const r413 = await upload(big, 'image/png');
  assert.equal(r413.status, 413, r413.text);
  assert.equal(r413.json.error, 'too_large');
  const png = makePng(2, 2, fresh());
  for (const type of ['text/plain', 'application/json', 'image/svg+xml', 'image/gif', 'multipart/form-data; boundary=x', null]) {
    const r = await upload(png, type);
    assert.equal(r.status, 415, `${type}: ${r.text}`);
    assert.equal(r.json.error, 'unsupported_media_type');
  }
  const anon = await raw(gw, 'POST', '/admin/api/images', { body: png, headers: { 'content-type': 'image/png' } });
  assert.equal(anon.status, 401, anon.text);
  const forged = await upload(png, 'image/png', { cookie: 'qw_admin=forged.token' });
  assert.equal(forged.status, 401, forged.text);
  const foreign = await upload(png, 'image/png', { origin: 'http://evil.example' });
  assert.equal(foreign.status, 403, foreign.text);
  const cross = await upload(png, 'image/png', { 'sec-fetch-site': 'cross-site' });
  assert.equal(cross.status, 403, cross.text);
  assert.equal((await raw(gw, 'GET', `/img/${sha(png)}`)).status, 404, 'none of them stored it');
});

test('GET /img/{id} serves the bytes for good: immutable, ETag the id, 304 for If-None-Match; unknown 404, malformed 400', async () => {
  const png = makePng(5, 3, fresh());
  const id = (await upload(png, 'image/png')).json.image;
  for (const base of env.gateways) {
    const r = await raw(base, 'GET', `/img/${id}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(png), 'the very bytes');
    assert.equal(r.headers['content-type'], 'image/png');
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(r.headers.etag, `"${id}"`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['set-cookie'], undefined);
    for (const inm of [`"${id}"`, `W/"${id}"`, `"other", "${id}"`]) {
      const c = await raw(base, 'GET', `/img/${id}`, { headers: { 'if-none-match': inm } });
      assert.equal(c.status, 304, inm);
      assert.equal(c.body.length, 0);
      assert.equal(c.headers.etag, `"${id}"`);
    }
    const other = await raw(base, 'GET', `/img/${id}`, { headers: { 'if-none-match': `"${sha('x')}"` } });
    assert.equal(other.status, 200, 'another tag gets the picture');
  }
  const unknown = await raw(gw, 'GET', `/img/${sha(crypto.randomBytes(16))}`);
  assert.equal(unknown.status, 404, unknown.text);
  assert.equal(unknown.json.error, 'unknown_image');
  for (const bad of [id.toUpperCase(), id.slice(1), `${id}0`, 'x'.repeat(64), `${id.slice(0, 63)}%20`]) {
    const r = await raw(gw, 'GET', `/img/${bad}`);
    assert.equal(r.status, 400, `${bad}: ${r.text}`);
    assert.equal(r.json.error, 'bad_image_id');
  }
  assert.equal((await raw(gw, 'GET', '/img/')).status, 404, 'ids are not listed');
});

test('a script asking for one made-up id again and again costs one NATS fetch: the miss is remembered', async () => {
  const ops = env.gatewayOps[0];
  const made = sha(crypto.randomBytes(16));
  const before = await metric(ops, 'qw_image_fetches_total');
  for (let i = 0; i < 25; i++) {
    const r = await raw(gw, 'GET', `/img/${made}`);
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.error, 'unknown_image');
  }
  const burst = await Promise.all(Array.from({ length: 25 }, () => raw(gw, 'GET', `/img/${made}`)));
  assert.ok(burst.every((r) => r.status === 404), 'a burst of the same id is 404 too');
  assert.equal(await metric(ops, 'qw_image_fetches_total') - before, 1, 'one fetch for 50 requests');
});

test('a quiz names a stored picture per question; unknown or malformed ids are refused naming the question and image', async () => {
  const png = makePng(2, 2, fresh());
  const pool = (image) => ({
    title: 'Pictures', questions: [
      { text: 'No picture', choices: ['a', 'b'], answer: 'A' },
      { text: 'With a picture', choices: ['a', 'b'], answer: 'B', image },
    ],
  });
  for (const [image, re] of [[sha(png), /question 2: image: no picture with this id/], ['ABC', /question 2: image must be a picture id/], [42, /question 2: image/]]) {
    const r = await raw(gw, 'POST', '/admin/api/quizzes', {
      body: Buffer.from(JSON.stringify(pool(image))), headers: { 'content-type': 'application/json', cookie: admin },
    });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, re);
  }
  const id = (await upload(png, 'image/png')).json.image;
  const { sid } = await newSession(admin, pool(id));
  const { cookie } = await join(gw, sid, 'pic1');
  const s = await connect(gw, cookie);
  try {
    await command(admin, sid, 'next');
    const q0 = await s.ws.next('question_open', { pred: (m) => m.question_idx === 0 });
    assert.equal(q0.image, undefined, 'no picture, no field');
    await command(admin, sid, 'next');
    const q1 = await s.ws.next('question_open', { pred: (m) => m.question_idx === 1 });
    assert.equal(q1.image, id);
    const again = await connect(gw, cookie); // a reload: the snapshot shows it too
    assert.equal(again.snap.question.image, id);
    again.ws.close();
  } finally {
    s.ws.close();
  }
});

test('the student on a 360 px phone sees the picture under the question; many GETs of it cost one NATS fetch per gateway', async () => {
  const up = await upload(drawn, 'image/png');
  assert.equal(up.status, 200, up.text);
  const id = up.json.image;
  const { sid, join_code: code } = await newSession(admin, {
    title: 'Planets', questions: [{
      text: 'Which planet is this?', choices: ['Venus', 'Mars', 'Jupiter', 'Mercury'], answer: 'B',
      time_limit_s: 120, image: id, image_alt: 'A red planet on a starry sky',
    }],
  });
  const ops = env.gatewayOps[0];
  const before = await metric(ops, 'qw_image_fetches_total');

  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const w = watchPage(page);
  await page.goto(`${gw}/?code=${code}`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.fill('#student-id', 'phone1');
  await page.fill('#display-name', 'Ada');
  await page.click('#join-button');
  await page.locator('#view-lobby').waitFor({ state: 'visible' });
  await command(admin, sid, 'next');
  const img = page.locator('#q-figure img');
  await img.waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const i = document.querySelector('#q-figure img');
    return i && i.complete && i.naturalWidth > 0;
  });
  assert.equal(await img.getAttribute('alt'), 'A red planet on a starry sky');
  assert.equal(await img.getAttribute('src'), `/img/${id}`);
  const box = await img.boundingBox();
  assert.ok(box.width <= 360 && box.x >= 0, `fits the phone: ${JSON.stringify(box)}`);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 360, 'no horizontal scroll');
  await shot(page, 'picture-phone');
  // a reload: the browser keeps the picture (immutable) and the snapshot shows it
  await page.reload();
  await page.waitForFunction(() => {
    const i = document.querySelector('#q-figure img');
    return i && i.complete && i.naturalWidth > 0;
  });
  assert.deepEqual(w.problems(), []);
  await ctx.close();

  // a lecture hall on one gateway: 40 GETs at once, then 40 more with the tag
  const all = await Promise.all(Array.from({ length: 40 }, () => raw(gw, 'GET', `/img/${id}`)));
  assert.ok(all.every((r) => r.status === 200 && r.body.equals(drawn)));
  const tagged = await Promise.all(Array.from({ length: 40 }, () => raw(gw, 'GET', `/img/${id}`, { headers: { 'if-none-match': `"${id}"` } })));
  assert.ok(tagged.every((r) => r.status === 304));
  assert.equal(await metric(ops, 'qw_image_fetches_total') - before, 1, 'one NATS fetch for the picture');
  assert.ok(await metric(ops, 'qw_image_not_modified_total') >= 40);
});

test('concurrent first requests for one picture share one NATS fetch', async () => {
  const png = makePng(64, 64, fresh());
  const id = (await upload(png, 'image/png')).json.image;
  const ops = env.gatewayOps[1] || env.gatewayOps[0];
  const base = env.gateways[1] || gw;
  const before = await metric(ops, 'qw_image_fetches_total');
  const all = await Promise.all(Array.from({ length: 30 }, () => raw(base, 'GET', `/img/${id}`)));
  assert.ok(all.every((r) => r.status === 200 && r.body.equals(png)));
  assert.equal(await metric(ops, 'qw_image_fetches_total') - before, 1);
});

test('the console uploads a picture with its control (a text named .png is refused) and the projector shows it under the question', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const eq = admin.indexOf('=');
  await ctx.addCookies([{ name: admin.slice(0, eq), value: admin.slice(eq + 1), url: gw }]);
  await ctx.addInitScript(() => localStorage.setItem('qw_host_logged_in', '1'));
  const host = await ctx.newPage();
  const w = watchPage(host, { ignore: [/status of 400/] }); // the refused upload's own answer
  await host.goto(`${gw}/host`);
  const input = host.locator('#picture-card input[type=file]');
  await input.waitFor({ state: 'visible' });
  await input.setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture at all') });
  await host.locator('#picture-card .picture-status.error').waitFor();
  assert.match(await host.locator('#picture-card .picture-status').textContent(), /not a PNG, JPEG or WebP/);
  const png = makePng(40, 30, fresh());
  await input.setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: png });
  await host.waitForFunction(() => /Stored/.test(document.querySelector('#picture-card .picture-status').textContent));
  const id = sha(png);
  assert.match(await host.locator('#picture-card .picture-status').textContent(), new RegExp(`40 × 30 PNG, id ${id}`));
  assert.equal(await host.locator('#picture-card').locator('[data-image]').getAttribute('data-image'), id);

  const { sid } = await newSession(admin, {
    title: 'Projector', questions: [{ text: 'What colour is this square?', choices: ['Red', 'Blue'], answer: 'A', time_limit_s: 120, image: id }],
  });
  await host.goto(`${gw}/host#sid=${sid}`);
  await host.locator('#btn-next').waitFor({ state: 'visible' });
  await command(admin, sid, 'next');
  await host.waitForFunction(() => {
    const i = document.querySelector('#hq-figure img');
    return i && i.complete && i.naturalWidth === 40;
  });
  assert.equal(await host.locator('#hq-figure img').getAttribute('alt'), 'What colour is this square?');
  assert.deepEqual(w.problems(), []);
  await ctx.close();
});
