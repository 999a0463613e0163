// The instructor controls who plays, in a real browser (issue 12 item 4):
// the console removes a player (whose page says so and asks to join
// again), turns the two-step join on and projects the shapes, a student
// joins by tapping those shapes on the big shape buttons, the console
// locks the lobby, a latecomer is told the quiz is locked, and the console
// counts the refused joins; a student already in reloads and is still in.
// QW_SCREENSHOTS=1 saves the console's lobby controls and the student's
// shape pad to docs/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, adminLogin, makePool } from '../lib/stack.mjs';
import { newSession } from '../lib/ws.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function openJoin(ctx, code, id, name) {
  const page = await ctx.newPage();
  const w = watchPage(page, { ignore: [/status of 40[39]/, /status of 429/] });
  await page.goto(`${gw}/?code=${code}`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.fill('#student-id', id);
  await page.fill('#display-name', name);
  await page.click('#join-button');
  return { page, w };
}

test('the console removes a player, projects the two-step shapes a student taps to join, and locks the lobby', async () => {
  const admin = await adminLogin(gw);
  const { sid, join_code: code } = await newSession(admin, makePool(2, { title: 'Lobby control' }));

  const hostCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const host = await hostCtx.newPage();
  const hw = watchPage(host);
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  await host.goto(`${gw}/host#sid=${sid}`);
  await host.locator('#stage-lobby').waitFor({ state: 'visible' });
  assert.equal(await host.textContent('#btn-lock'), 'Lock lobby');

  const phone = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
  const botCtx = await browser.newContext(phone);
  const adaCtx = await browser.newContext(phone);
  const bot = await openJoin(botCtx, code, 'bot-1', 'xX_b0t_Xx');
  const ada = await openJoin(adaCtx, code, 's-ada', 'Ada');
  for (const s of [bot, ada]) await s.page.locator('#view-lobby').waitFor({ state: 'visible' });
  await host.locator('#lobby-count', { hasText: '2' }).waitFor();

  // remove the bot: its page is told, its count falls everywhere
  await host.locator('#lobby-names li', { hasText: 'xX_b0t_Xx' }).locator('button.btn-remove').click();
  await bot.page.locator('#join-note', { hasText: 'You were removed by the instructor' }).waitFor({ timeout: 15000 });
  await bot.page.locator('#view-join').waitFor({ state: 'visible' });
  await host.locator('#lobby-count', { hasText: '1' }).waitFor();
  await ada.page.locator('#lobby-players', { hasText: '1' }).waitFor();
  assert.equal(await host.locator('#lobby-names li', { hasText: 'xX_b0t_Xx' }).count(), 0);
  await bot.page.click('#join-button');
  await bot.page.locator('#join-error', { hasText: 'removed this student id' }).waitFor();

  // two-step join on: the console projects 6 shapes
  await host.click('#btn-two-step');
  await host.locator('#two-step-panel').waitFor({ state: 'visible' });
  await host.locator('#two-step-shapes .ts-shape').nth(5).waitFor();
  assert.equal(await host.locator('#two-step-shapes .ts-shape').count(), 6);
  assert.equal(await host.textContent('#btn-two-step'), 'Two-step join: on');

  const linCtx = await browser.newContext(phone);
  const lin = await openJoin(linCtx, code, 's-linus', 'Linus');
  await lin.page.locator('#two-step').waitFor({ state: 'visible' });
  await lin.page.click('.ts-btn[data-shape="triangle"]');
  await lin.page.click('.ts-btn[data-shape="circle"]');
  await shot(lin.page, 'join-two-step');
  await lin.page.click('#ts-erase');
  await lin.page.click('#ts-erase');
  const shown = await host.$$eval('#two-step-shapes .ts-shape', (els) => els.map((e) => e.dataset.shape));
  assert.equal(shown.length, 6);
  for (const s of shown) await lin.page.click(`.ts-btn[data-shape="${s}"]`);
  await lin.page.locator('#view-lobby').waitFor({ state: 'visible' });
  await host.locator('#lobby-count', { hasText: '2' }).waitFor();
  await host.locator('#lobby-names li', { hasText: 'Linus' }).waitFor();

  // lock: a latecomer is refused with a clear message, the console counts it
  await host.click('#btn-lock');
  await host.locator('#btn-lock', { hasText: 'Unlock lobby' }).waitFor();
  assert.match(await host.textContent('#lock-state'), /Locked/);
  const lateCtx = await browser.newContext(phone);
  const late = await openJoin(lateCtx, code, 's-late', 'Late');
  await late.page.locator('#join-error', { hasText: 'locked this quiz' }).waitFor();
  assert.equal(await late.page.locator('#two-step').isHidden(), true, 'a locked lobby asks for no shapes');
  await host.waitForFunction(() => Number(document.getElementById('refused-count').textContent) >= 2, null, { timeout: 15000 });
  await shot(host, 'host-lobby-controls');

  // a student already in reloads into the locked lobby and is still in
  await ada.page.reload();
  await ada.page.locator('#view-lobby').waitFor({ state: 'visible' });
  assert.equal(await host.textContent('#lobby-count'), '2');

  for (const w of [hw, ada.w, lin.w]) assert.deepEqual(w.problems(), []);
  for (const c of [hostCtx, botCtx, adaCtx, linCtx, lateCtx]) await c.close();
});
