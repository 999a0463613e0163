// Kinds of question in the real browser (Debian's chromium, playwright-core):
// one question of each kind played by a student on a 360 px phone while the
// console shows the chart and the reveal. multi: six choices fit the phone,
// toggles and a Submit button, the reveal names every right label; truefalse:
// two big buttons; poll: "no right answer, your vote counts", no reveal on
// either page, the chart of the votes on the phone after close. Two more
// students answer over the WebSocket so the charts have counts. No page
// error, console error or CSP violation anywhere. QW_SCREENSHOTS=1 saves
// kind-multi.png, kind-truefalse.png, kind-poll.png (the phone) and
// host-kind-multi.png, host-kind-poll.png (the console) to docs/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, adminLogin } from '../lib/stack.mjs';
import { newSession, join, connect } from '../lib/ws.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;
let admin;

before(async () => { browser = await launch(); admin = await adminLogin(); });
after(async () => { await browser?.close(); });

const POOL = {
  title: 'Kinds of question',
  questions: [
    { kind: 'multi', text: 'Which of these are prime numbers?', choices: ['2', '4', '5', '9', '11', '15'], answers: ['A', 'C', 'E'], time_limit_s: 120 },
    { kind: 'truefalse', text: 'The Sun is a star.', choices: ['True', 'False'], answer: 'A', time_limit_s: 120 },
    { kind: 'poll', text: 'Which topic should we review next week?', choices: ['Fractions', 'Geometry', 'Statistics'], time_limit_s: 120 },
  ],
};

// Every button of the answers fits inside the phone's width, no sideways scroll.
async function fitsPhone(page) {
  const m = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth,
    cw: document.documentElement.clientWidth,
    right: Math.max(...[...document.querySelectorAll('#answers button')].map((b) => b.getBoundingClientRect().right)),
  }));
  assert.ok(m.sw <= m.cw && m.right <= m.cw, `scrollWidth ${m.sw}, rightmost ${m.right}, width ${m.cw}`);
}

async function chartCounts(page, sel) {
  return page.$$eval(`${sel} .bar`, (bars) => Object.fromEntries(bars.map((b) =>
    [b.querySelector('.letter').textContent, Number(b.querySelector('.bar-count').textContent)])));
}

test('a student on a 360 px phone plays a multi, a truefalse and a poll question; the console charts and reveals each kind', { timeout: 400000 }, async () => {
  const { sid, join_code: code } = await newSession(admin, POOL);
  const hostCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const host = await hostCtx.newPage();
  const hw = watchPage(host);
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  await host.goto(`${gw}/host#sid=${encodeURIComponent(sid)}`);
  await host.locator('#stage-lobby').waitFor({ state: 'visible' });

  const phoneCtx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const phone = await phoneCtx.newPage();
  const pw = watchPage(phone);
  await phone.goto(`${gw}/?code=${code}`);
  await phone.locator('#view-join').waitFor({ state: 'visible' });
  await phone.fill('#student-id', 'kw-phone');
  await phone.fill('#display-name', 'Ada');
  await phone.click('#join-button');
  await phone.locator('#view-lobby').waitFor({ state: 'visible' });
  // two classmates over the WebSocket
  const mates = [];
  try {
    await playKinds(sid, host, hw, phone, pw, mates);
  } finally {
    for (const ws of mates) ws.close();
    await phoneCtx.close();
    await hostCtx.close();
  }
});

async function playKinds(sid, host, hw, phone, pw, mates) {
  for (const id of ['kw-mate1', 'kw-mate2']) mates.push((await connect(gw, (await join(gw, sid, id)).cookie)).ws);
  await host.locator('#lobby-count', { hasText: '3' }).waitFor();
  const open = async (idx) => {
    await host.keyboard.press('n');
    await phone.locator('#q-progress', { hasText: `Question ${idx + 1} of 3` }).waitFor();
    for (const ws of mates) await ws.next('question_open', { pred: (m) => m.question_idx === idx });
  };
  const mateSubmit = async (ws, idx, body) => {
    ws.send({ type: 'submit', question_idx: idx, ...body });
    assert.equal((await ws.next('submit_ack', { pred: (m) => m.question_idx === idx })).status, 'accepted');
  };

  // ---- multi: six toggles and Submit ----
  await open(0);
  await phone.locator('#view-question').waitFor({ state: 'visible' });
  assert.equal(await phone.locator('#answers button').count(), 6);
  assert.match(await phone.textContent('#q-kind'), /Several right answers/);
  await fitsPhone(phone);
  assert.ok(await phone.isDisabled('#q-submit'), 'nothing picked, nothing to submit');
  await phone.click('#answers button[data-choice=A]');
  await phone.click('#answers button[data-choice=B]');
  await phone.click('#answers button[data-choice=B]'); // toggled off again
  await phone.click('#answers button[data-choice=C]');
  await phone.keyboard.press('5'); // E by key
  assert.equal(await phone.textContent('#q-submit'), 'Submit 3 answers');
  assert.deepEqual(await phone.$$eval('#answers button[aria-pressed=true]', (bs) => bs.map((b) => b.dataset.choice)), ['A', 'C', 'E']);
  await shot(phone, 'kind-multi');
  await phone.click('#q-submit');
  await phone.locator('#q-status', { hasText: 'Answers A, C, E locked in' }).waitFor();
  await mateSubmit(mates[0], 0, { choices: ['A', 'C'] });
  await mateSubmit(mates[1], 0, { choices: ['A', 'C', 'E', 'F'] });
  await host.keyboard.press('c');
  await host.locator('#stage-closed').waitFor({ state: 'visible' });
  assert.equal(await host.textContent('#hc-answer'), 'Right answers: A — 2, C — 5, E — 11');
  assert.deepEqual(await host.$$eval('#hc-chart .bar.right', (bs) => bs.map((b) => b.querySelector('.letter').textContent)), ['A', 'C', 'E']);
  assert.deepEqual(await chartCounts(host, '#hc-chart'), { A: 3, B: 0, C: 3, D: 0, E: 2, F: 1 });
  await shot(host, 'host-kind-multi');
  await phone.locator('#view-reveal').waitFor({ state: 'visible' });
  assert.equal(await phone.textContent('#r-title'), 'Correct!');
  assert.equal(await phone.textContent('#r-answer'), 'Right answers: A — 2, C — 5, E — 11');
  assert.ok(await phone.locator('#r-chart').isHidden(), 'no chart on a scored reveal');

  // ---- truefalse: two big buttons ----
  await open(1);
  assert.equal(await phone.locator('#answers button').count(), 2);
  assert.match(await phone.textContent('#q-kind'), /True or false/);
  assert.ok(await phone.locator('#q-submit').isHidden());
  const sizes = await phone.$$eval('#answers button', (bs) => bs.map((b) => b.getBoundingClientRect()));
  for (const r of sizes) assert.ok(r.width > 300 && r.height >= 100, `a big button: ${r.width}x${r.height}`);
  await fitsPhone(phone);
  await shot(phone, 'kind-truefalse');
  await phone.click('#answers button[data-choice=B]');
  await phone.locator('#q-status', { hasText: 'Answer B locked in' }).waitFor();
  await mateSubmit(mates[0], 1, { choice: 'A' });
  await host.keyboard.press('c');
  await host.locator('#hc-answer', { hasText: 'Right answer: A — True' }).waitFor();
  await phone.locator('#r-title', { hasText: 'Not this time' }).waitFor();
  assert.equal(await phone.textContent('#r-answer'), 'Right answer: A — True');

  // ---- poll: no right answer, the chart after close ----
  await open(2);
  assert.equal(await phone.textContent('#q-kind'), 'Poll: no right answer, your vote counts');
  await fitsPhone(phone);
  await phone.click('#answers button[data-choice=B]');
  await phone.locator('#q-status', { hasText: 'Vote B locked in' }).waitFor();
  await mateSubmit(mates[0], 2, { choice: 'B' });
  await mateSubmit(mates[1], 2, { choice: 'C' });
  await host.keyboard.press('c');
  await host.locator('#hc-answer', { hasText: 'Poll: no right answer' }).waitFor();
  assert.equal(await host.locator('#hc-chart .bar.right').count(), 0, 'a poll has no reveal');
  assert.deepEqual(await chartCounts(host, '#hc-chart'), { A: 0, B: 2, C: 1 });
  await shot(host, 'host-kind-poll');
  await phone.locator('#r-title', { hasText: 'Thanks for voting' }).waitFor();
  await phone.locator('#r-chart').waitFor({ state: 'visible' });
  assert.deepEqual(await chartCounts(phone, '#r-chart'), { A: 0, B: 2, C: 1 });
  assert.match(await phone.textContent('#r-points'), /no points/);
  assert.equal(await phone.textContent('#r-score'), await phone.textContent('#score-top'));
  await fitsPhone(phone);
  await shot(phone, 'kind-poll');
  // a reload after the poll closed shows the chart again (the snapshot)
  await phone.reload();
  await phone.locator('#r-chart').waitFor({ state: 'visible' });
  assert.deepEqual(await chartCounts(phone, '#r-chart'), { A: 0, B: 2, C: 1 });

  assert.deepEqual(pw.problems(), []);
  assert.deepEqual(hw.problems(), []);
}
