// Accommodations and accessibility in a real browser (issue 18): the
// instructor gives one student double time from the lobby's player list,
// the console marks who has it, both students play on a 360 px phone, the
// extended student's timer shows twice the time, that student can still
// answer after the other's time is up and is scored on their own limit;
// and every screen of both pages passes an axe-core audit with the WCAG
// 2.1 A and AA rules (label-in-name included). axe is put into the page
// through the DevTools protocol (page.evaluate), not a <script>: the CSP
// forbids inline scripts and stays as it is.
// QW_SCREENSHOTS=1 saves docs/screenshots/host-extra-time.png and
// student-extra-time.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { env, adminLogin, http, makePool } from '../lib/stack.mjs';
import { newSession, results } from '../lib/ws.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const audited = [];

// Runs axe on the page as it is now; fails with every violation listed.
async function audit(page, screen) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      rules: { 'label-content-name-mismatch': { enabled: true } },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }));
  });
  audited.push(screen);
  assert.deepEqual(violations, [], `axe on ${screen}:\n${JSON.stringify(violations, null, 2)}`);
}

async function openJoin(ctx, code, id, name) {
  const page = await ctx.newPage();
  const w = watchPage(page);
  await page.goto(`${gw}/?code=${code}`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.fill('#student-id', id);
  await page.fill('#display-name', name);
  return { page, w };
}

const seconds = async (page) => Number(await page.textContent('#q-seconds'));

test('the console gives one student double time; their timer, deadline and points differ; axe passes on every screen', async () => {
  const admin = await adminLogin(gw);
  const pool = makePool(1, { title: 'Extra time check', timeLimit: 10 });
  pool.questions[0].text = 'Which planet is red?';
  pool.questions[0].choices = ['Venus', 'Mars', 'Jupiter', 'Mercury'];
  const { sid, join_code: code } = await newSession(admin, pool);

  const hostCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const host = await hostCtx.newPage();
  const hw = watchPage(host);
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await audit(host, 'console: login');
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  await host.locator('#quiz-list li').first().waitFor();
  await audit(host, 'console: quiz list');
  await host.goto(`${gw}/host#sid=${sid}`);
  await host.locator('#stage-lobby').waitFor({ state: 'visible' });

  const phone = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
  const slow = await openJoin(await browser.newContext(phone), code, 's-slow', 'Sam');
  const quick = await openJoin(await browser.newContext(phone), code, 's-quick', 'Kim');
  // Ada answers at once: her submitted screen stays up until Kim's time is
  // out, so it is audited there (Sam's lasts only until the close it causes)
  const ready = await openJoin(await browser.newContext(phone), code, 's-ready', 'Ada');
  await audit(slow.page, 'student: join');
  for (const s of [slow, quick, ready]) {
    await s.page.click('#join-button');
    await s.page.locator('#view-lobby').waitFor({ state: 'visible' });
  }
  await audit(slow.page, 'student: lobby');
  await host.locator('#lobby-count', { hasText: '3' }).waitFor();

  // double time for Sam from the player list; the console marks it
  const item = host.locator('#lobby-names li[data-student-id="s-slow"]');
  await item.locator('select').selectOption('2');
  await item.locator('.time-mark', { hasText: '2×' }).waitFor();
  assert.equal(await host.locator('#lobby-names li[data-student-id="s-quick"] .time-mark').isVisible(), false);
  assert.equal(await host.textContent('#time-count'), '1');
  const info = await http(gw, 'GET', `/admin/api/sessions/${sid}`, { cookie: admin });
  assert.deepEqual(info.json.time_factors, { 's-slow': 2 });
  await host.click('#time-panel summary');
  await host.locator('#time-list li[data-student-id="s-slow"]').waitFor();
  await audit(host, 'console: lobby');
  await shot(host, 'host-extra-time');

  // the question: Sam's timer shows twice Kim's limit, so 10 s more than
  // hers whenever both are read (at the same moment: a busy machine may
  // show the pages late, but never shifts one against the other)
  await host.click('#btn-next');
  await host.locator('#stage-question').waitFor({ state: 'visible' });
  await Promise.all([slow, quick].map((s) => s.page.locator('#view-question').waitFor({ state: 'visible' })));
  const [ts, tq] = await Promise.all([seconds(slow.page), seconds(quick.page)]);
  assert.ok(ts <= 20 && tq <= 10, `timers ${ts} and ${tq}`);
  assert.ok(ts - tq >= 9 && ts - tq <= 11, `timers ${ts} and ${tq}: 10 s apart`);
  assert.equal(await slow.page.textContent('#q-progress'), 'Question 1 of 1 · 2× time');
  assert.equal(await quick.page.textContent('#q-progress'), 'Question 1 of 1');
  await ready.page.locator('#view-question').waitFor({ state: 'visible' });
  await ready.page.click('#answers button[data-choice="B"]');
  await ready.page.locator('#q-status', { hasText: 'Answer B locked in' }).waitFor();
  await audit(slow.page, 'student: question');
  await audit(ready.page, 'student: submitted');
  await audit(host, 'console: question');
  await shot(slow.page, 'student-extra-time');

  // Kim's time runs out: her buttons lock, a late tap is refused by the
  // server too; Sam still answers, after Kim's deadline
  await quick.page.locator('#q-status', { hasText: "Time's up" }).waitFor({ timeout: 20000 });
  assert.equal(await quick.page.locator('#answers button[data-choice="B"]').isDisabled(), true);
  assert.equal(await slow.page.locator('#answers button[data-choice="B"]').isDisabled(), false);
  assert.ok(await seconds(slow.page) > 0, 'Sam still has time');
  assert.equal(await host.locator('#stage-question').isVisible(), true, 'the question is still open for Sam');
  await host.locator('#hq-extra').waitFor({ state: 'visible' });
  await slow.page.click('#answers button[data-choice="B"]');
  // Sam's answer closes the question at once (the hold ends), so his
  // status may already be hidden behind the reveal: its text is the proof
  await slow.page.locator('#q-status', { hasText: 'Answer B locked in' }).waitFor({ state: 'attached' });

  // it closes once Sam answered: Sam is scored on 20 s, Kim gets nothing
  for (const s of [slow, quick]) await s.page.locator('#view-reveal').waitFor({ state: 'visible', timeout: 10000 });
  await host.locator('#stage-closed').waitFor({ state: 'visible' });
  const res = await results(admin, sid);
  const sam = res.students.find((s) => s.student_id === 's-slow').answers[0];
  assert.ok(sam.latency_ms > 9000, `Sam answered after Kim's deadline (${sam.latency_ms} ms)`);
  assert.equal(sam.points, Math.round(1000 * (1 - sam.latency_ms / 20000 / 2)));
  assert.ok(sam.points > 500 && sam.points < 780, `on a 10 s limit Sam would have had 500, not ${sam.points}`);
  assert.equal(await slow.page.textContent('#r-points'), `+${sam.points} points`);
  assert.equal(await quick.page.textContent('#r-points'), "You didn't answer in time. 0 points");
  await audit(slow.page, 'student: closed');
  await audit(quick.page, 'student: closed, no answer');
  await audit(host, 'console: closed');

  await host.click('#btn-next');
  await host.locator('#stage-ended').waitFor({ state: 'visible' });
  await host.locator('#results-table tbody tr').nth(1).waitFor();
  for (const s of [slow, quick]) await s.page.locator('#view-ended').waitFor({ state: 'visible' });
  await audit(slow.page, 'student: ended');
  await audit(host, 'console: ended');
  await host.click('#report-link');
  await host.locator('#report-questions tbody tr').first().waitFor();
  await audit(host, 'console: report');

  assert.equal(audited.length, 14);
  for (const w of [hw, slow.w, quick.w]) assert.deepEqual(w.problems(), [], 'no page errors or CSP violations');
});
