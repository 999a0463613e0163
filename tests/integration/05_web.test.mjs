// The web pages in a real browser (Debian's chromium, driven by
// playwright-core): both pages load under the gateway's CSP with no console
// error or CSP violation, the join form fits a 360 px phone without
// horizontal scrolling, `?code=` pre-fills the code, and the pages never
// insert markup from text. The end-to-end play lives in 05_web_e2e.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, http } from '../lib/stack.mjs';
import { launch, watchPage } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('both pages are served with a strict CSP and load only same-origin assets', async () => {
  for (const p of ['/', '/host']) {
    const res = await http(gw, 'GET', p);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(res.text, /<script>(?!<\/script>)|<style>|\sstyle="|\son[a-z]+="/i, `${p} has inline script or style`);
    assert.doesNotMatch(res.text, /https?:\/\//, `${p} names another host`);
  }
  for (const a of ['common.js', 'student.js', 'host.js', 'quizwire.css', 'qrcode.js', 'logo.svg']) {
    const res = await http(gw, 'GET', `/assets/${a}`);
    assert.equal(res.status, 200, a);
  }
});

test('student page loads with no console error or CSP violation and pre-fills ?code=', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const w = watchPage(page);
  await page.goto(`${gw}/?code=123456`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#join-code'), '123456');
  // A wrong code is refused on the page before any request.
  await page.fill('#join-code', '12');
  await page.fill('#student-id', 's1');
  await page.fill('#display-name', 'Ada');
  await page.click('#join-button');
  await page.locator('#join-error').waitFor({ state: 'visible' });
  assert.match(await page.textContent('#join-error'), /6 digits/);
  assert.deepEqual(w.problems(), []);
  await ctx.close();
});

test('instructor console loads with no console error and asks to log in', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const w = watchPage(page);
  await page.goto(`${gw}/host`);
  await page.locator('#view-login').waitFor({ state: 'visible' });
  assert.equal(await page.isVisible('#login-pass'), true);
  assert.deepEqual(w.problems(), []);
  await ctx.close();
});

test('a 360 px wide phone shows the join form without horizontal scrolling', async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  await page.goto(`${gw}/?code=123456`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  assert.ok(m.sw <= m.cw, `scrollWidth ${m.sw} > clientWidth ${m.cw}`);
  const box = await page.locator('#join-button').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 360, `join button at ${box.x}+${box.width}`);
  const host = await ctx.newPage();
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  const h = await host.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  assert.ok(h.sw <= h.cw, `host: scrollWidth ${h.sw} > clientWidth ${h.cw}`);
  await ctx.close();
});
