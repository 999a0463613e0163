// The student page when its socket is the one a gateway closes with 4008
// (docs/API.md: a student's fifth socket on one gateway closes the oldest,
// QW_WS_PER_STUDENT=4), in a real browser: the page says the quiz is open
// in too many tabs or devices and does not reconnect by itself (a
// reconnect would be a fifth socket again and close another of the
// student's, so tabs would evict each other for ever); joining again from
// the page takes the seat back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, adminLogin, makePool, waitFor } from '../lib/stack.mjs';
import { newSession, connect, sleep } from '../lib/ws.mjs';
import { launch, watchPage } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a page whose socket is closed with 4008 says it is open in too many places, stops reconnecting, and can join again', { timeout: 90000 }, async () => {
  const admin = await adminLogin(gw);
  const { join_code: code } = await newSession(admin, makePool(1, { title: 'Too many tabs' }));

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const w = watchPage(page);
  // every socket the page opens to /ws, and the ones that closed
  const sockets = [];
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).pathname !== '/ws') return;
    const s = { ws, closed: false };
    ws.on('close', () => { s.closed = true; });
    sockets.push(s);
  });
  await page.goto(`${gw}/?code=${code}`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.fill('#student-id', 'many-tabs');
  await page.fill('#display-name', 'Tabby');
  await page.click('#join-button');
  await page.locator('#view-lobby').waitFor({ state: 'visible' });
  assert.equal(sockets.length, 1, 'the page holds one socket');

  // four more sockets of the same student, from a script: the page's is
  // the oldest, so the fourth of them closes it with 4008
  const c = (await ctx.cookies()).find((k) => k.name === 'qw_student');
  assert.ok(c, 'the join set the student cookie');
  const others = [];
  for (let i = 0; i < 4; i++) others.push((await connect(gw, `qw_student=${c.value}`)).ws);
  await page.locator('#join-note', { hasText: 'open in too many tabs or devices' }).waitFor({ timeout: 15000 });
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await waitFor('the page\'s socket to close', () => sockets[0].closed);

  // no reconnect: the page's first retry would come within 0.5 s and, as a
  // fifth socket, close the oldest of the four with 4008. 4 s leave room
  // for a loaded machine.
  await sleep(4000);
  assert.equal(sockets.length, 1, `the page opened ${sockets.length - 1} more socket(s) after 4008`);
  assert.deepEqual(others.map((ws) => ws.closed), [null, null, null, null], 'the four other sockets are all open');
  assert.equal(await page.locator('#conn-banner').isVisible(), false, 'no "reconnecting" banner');
  assert.equal(await page.inputValue('#student-id'), 'many-tabs', 'the form keeps the seat to join again');

  // "Join again here": the same browser gets its seat back; its socket is
  // the fifth now and the oldest of the four is the one closed
  await page.click('#join-button');
  await page.locator('#view-lobby').waitFor({ state: 'visible' });
  assert.equal(sockets.length, 2);
  assert.equal((await others[0].waitClose()).code, 4008);
  assert.deepEqual(others.slice(1).map((ws) => ws.closed), [null, null, null]);

  assert.deepEqual(w.problems(), []);
  for (const ws of others) ws.close();
  await ctx.close();
});
