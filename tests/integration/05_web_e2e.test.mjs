// End to end in a real browser: an instructor and three students, each in
// a browser context of its own, play a two-question quiz to the podium;
// a student whose browser is closed mid-question comes back (saved cookie)
// to the same question with its answer shown; a script cannot read or
// overwrite the HttpOnly student cookie, and a forged cookie written by
// script is refused; a taken student id gets a clear error; the answers fit
// a 360 px phone; the console rebuilds from the snapshot after a reload (live
// chart, and the reveal once closed); both pages show the connection-lost
// and back banners when their gateway is killed and restarted; final scores
// and ranks match the results API. QW_SCREENSHOTS=1 saves each screen to
// docs/screenshots/ (so CI never rewrites tracked files).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, adminLogin, makePool, pidOf, waitFor } from '../lib/stack.mjs';
import { launch, watchPage, shot, SHOTS } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function noHorizontalScroll(page) {
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  assert.ok(m.sw <= m.cw, `scrollWidth ${m.sw} > clientWidth ${m.cw}`);
}

// The bar counts of a chart, as {A: n, ...}.
async function chartCounts(page, sel) {
  return page.$$eval(`${sel} .bar`, (bars) => Object.fromEntries(bars.map((b) =>
    [b.querySelector('.letter').textContent, Number(b.querySelector('.bar-count').textContent)])));
}

async function joinAs(ctx, code, id, name) {
  const page = await ctx.newPage();
  const w = watchPage(page);
  await page.goto(`${gw}/?code=${code}`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.fill('#student-id', id);
  await page.fill('#display-name', name);
  await page.click('#join-button');
  return { page, w };
}

test('an instructor and three students play a two-question quiz to the podium in the browser', async () => {
  const title = `Science warm-up #${Date.now() % 100000}`;
  const pool = makePool(2, { title, timeLimit: 60, answers: ['B', 'C'] });
  pool.questions[0].text = 'Which planet is known as the Red Planet?';
  pool.questions[0].choices = ['Venus', 'Mars', 'Jupiter', 'Mercury'];
  pool.questions[1].text = 'How many sides does a hexagon have?';
  pool.questions[1].choices = ['5', '7', '6', '8'];

  // The instructor logs in and uploads the pool through the console.
  const hostCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const host = await hostCtx.newPage();
  const hw = watchPage(host);
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  await host.setInputFiles('#pool-file', { name: 'pool.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(pool)) });
  await host.click('#upload-form button[type=submit]');
  const row = host.locator('#quiz-list li', { hasText: title });
  await row.waitFor();
  await row.locator('button').click();
  await host.locator('#stage-lobby').waitFor({ state: 'visible' });
  const code = (await host.textContent('#join-code-big')).replace(/\s/g, '');
  assert.match(code, /^\d{6}$/);
  assert.match(await host.textContent('#join-url'), new RegExp(`/\\?code=${code}$`));
  assert.equal(await host.locator('#qr svg').count(), 1);
  const sid = decodeURIComponent(/sid=([^&]+)/.exec(new URL(host.url()).hash)[1]);

  // Three students; the first and third on 360 px phones.
  const phone = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
  const ctxs = [
    await browser.newContext(phone),
    await browser.newContext(),
    await browser.newContext(phone),
  ];
  const names = ['Ada', 'Grace <b>Hopper</b>', 'Linus'];
  const students = [];
  if (SHOTS) {
    const p = await ctxs[2].newPage();
    await p.goto(`${gw}/?code=${code}`);
    await p.fill('#student-id', 's3');
    await p.fill('#display-name', 'Linus');
    await shot(p, 'join');
    await p.close();
  }
  for (let i = 0; i < 3; i++) {
    students.push(await joinAs(ctxs[i], code, `s${i + 1}`, names[i]));
    await students[i].page.locator('#view-lobby').waitFor({ state: 'visible' });
  }
  const [s1, s2, s3] = students.map((s) => s.page);
  assert.equal(await s2.textContent('#lobby-name'), 'Grace <b>Hopper</b>', 'names are text, never markup');
  await host.locator('#lobby-count', { hasText: '3' }).waitFor();
  await host.locator('#lobby-names li', { hasText: 'Grace <b>Hopper</b>' }).waitFor();
  await shot(s3, 'lobby');
  await shot(host, 'host-lobby');

  // A second browser joining with a taken id sees the clear error.
  // (by keyboard only: the code is pre-filled, Tab to each field, Enter).
  const thief = await browser.newContext();
  const t = { page: await thief.newPage() };
  await t.page.goto(`${gw}/?code=${code}`);
  await t.page.locator('#student-id:focus').waitFor();
  await t.page.keyboard.type('s1');
  await t.page.keyboard.press('Tab');
  await t.page.keyboard.type('Not Ada');
  await t.page.keyboard.press('Enter');
  await t.page.locator('#join-error').waitFor({ state: 'visible' });
  assert.match(await t.page.textContent('#join-error'), /already joined/);

  // A script that writes a forged cookie (s2's claims renamed to s1, the
  // signature kept) and claims s1's seat does not get in: the upgrade is
  // refused and the page asks to join again.
  const c2v = (await ctxs[1].cookies()).find((c) => c.name === 'qw_student').value;
  const [claims, sig] = c2v.split('.');
  const forged = Buffer.from(Buffer.from(claims, 'base64url').toString().replace('"s2"', '"s1"')).toString('base64url') + '.' + sig;
  assert.notEqual(forged.split('.')[0], claims, 'the forged claims differ');
  await t.page.evaluate(({ f, sidv, code: c }) => {
    document.cookie = `qw_student=${f}; path=/`;
    localStorage.setItem('qw_student_seat', JSON.stringify({ sid: sidv, student_id: 's1', name: 'Ada', join_code: c }));
  }, { f: forged, sidv: sid, code });
  await t.page.goto(`${gw}/`);
  await t.page.locator('#join-note', { hasText: 'no longer valid' }).waitFor({ timeout: 15000 });
  assert.equal(await host.textContent('#lobby-count'), '3', 'nobody new joined');
  await thief.close();

  // Script cannot read or overwrite the HttpOnly student cookie.
  const c1 = (await ctxs[0].cookies()).find((c) => c.name === 'qw_student');
  const c2 = (await ctxs[1].cookies()).find((c) => c.name === 'qw_student');
  assert.ok(c1 && c1.httpOnly && c2 && c2.httpOnly);
  assert.doesNotMatch(await s2.evaluate(() => document.cookie), /qw_student/);
  await s2.evaluate((v) => { document.cookie = `qw_student=${v}; path=/`; }, c1.value);
  const after2 = (await ctxs[1].cookies()).find((c) => c.name === 'qw_student');
  assert.equal(after2.value, c2.value, 'the page script overwrote the HttpOnly cookie');
  await s2.reload();
  await s2.locator('#view-lobby').waitFor({ state: 'visible' });
  assert.equal(await s2.textContent('#who'), 'Grace <b>Hopper</b>');

  // Question 1: N on the console opens it everywhere.
  await host.keyboard.press('n');
  await host.locator('#stage-question').waitFor({ state: 'visible' });
  for (const s of [s1, s2, s3]) await s.locator('#view-question').waitFor({ state: 'visible' });
  assert.match(await s1.textContent('#q-text'), /Red Planet/);
  assert.equal(await s1.textContent('#q-progress'), 'Question 1 of 2');
  const first = Number(await s1.textContent('#q-seconds'));
  assert.ok(first >= 55 && first <= 60, `the countdown starts at ${first}`);
  await waitFor('the countdown to tick', async () => Number(await s1.textContent('#q-seconds')) < first, { timeout: 3000 });
  await s3.locator('#answers button').first().waitFor();
  await noHorizontalScroll(s3);
  // White text on the four answer colours reads at 4.5:1 at least (WCAG AA).
  const contrasts = await s3.$$eval('#answers button', (bs) => bs.map((b) => {
    const lum = (c) => {
      const v = c.match(/\d+/g).slice(0, 3).map((x) => Number(x) / 255)
        .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
      return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
    };
    const cs = getComputedStyle(b);
    const [l1, l2] = [lum(cs.color), lum(cs.backgroundColor)].sort((x, y) => y - x);
    return [b.dataset.choice, (l1 + 0.05) / (l2 + 0.05)];
  }));
  for (const [label, ratio] of contrasts) assert.ok(ratio >= 4.5, `answer ${label}: contrast ${ratio.toFixed(2)}`);
  // The timer is announced sparsely (10 s, 5 s, time up), not every second.
  assert.equal(await s3.textContent('#live-timer'), '');
  await shot(s3, 'question');
  await s1.click('#answers button[data-choice=B]');            // right
  await s2.keyboard.press('1');                                 // A, wrong, by keyboard
  await s1.locator('#q-status', { hasText: 'B locked in' }).waitFor();
  await s2.locator('#q-status', { hasText: 'A locked in' }).waitFor();
  await s3.click('#answers button[data-choice=C]');
  await s3.locator('#q-status', { hasText: 'C locked in' }).waitFor();

  // The third phone's browser closes mid-question and comes back with its cookie.
  const saved = await ctxs[2].storageState();
  await ctxs[2].close();
  ctxs[2] = await browser.newContext({ ...phone, storageState: saved });
  const s3b = await ctxs[2].newPage();
  await s3b.goto(`${gw}/`);
  await s3b.locator('#view-question').waitFor({ state: 'visible' });
  assert.match(await s3b.textContent('#q-text'), /Red Planet/);
  await s3b.locator('#answers button.chosen[data-choice=C]').waitFor();
  await s3b.locator('#q-status', { hasText: 'C locked in' }).waitFor();
  const secs = Number(await s3b.textContent('#q-seconds'));
  assert.ok(secs > 0 && secs <= 60, `the countdown shows ${secs}`);

  await host.locator('#hq-answered', { hasText: '3' }).waitFor();

  // The console reloaded mid-question rebuilds from the snapshot: the
  // question, the time left, and the answers so far in the chart.
  await host.reload();
  await host.locator('#stage-question').waitFor({ state: 'visible' });
  assert.match(await host.textContent('#hq-text'), /Red Planet/);
  assert.equal(await host.textContent('#hq-answered'), '3');
  assert.deepEqual(await chartCounts(host, '#hq-chart'), { A: 1, B: 1, C: 1, D: 0 });
  const hsecs = Number(await host.textContent('#hq-seconds'));
  assert.ok(hsecs > 0 && hsecs < 60, `the console's countdown shows ${hsecs}`);
  await shot(host, 'host-live-chart');

  // The gateway every page is on dies (its supervisor restarts it): both
  // pages say the connection is lost, then that it is back, and carry on.
  const gwPid = pidOf('gateway1');
  assert.ok(gwPid, 'the pid file of gateway1');
  process.kill(gwPid, 'SIGKILL');
  for (const p of [host, s1]) await p.locator('#conn-banner', { hasText: 'Connection lost' }).waitFor({ timeout: 5000 });
  await waitFor('gateway1 to be restarted', async () => pidOf('gateway1') !== gwPid &&
    (await http(gw, 'GET', '/healthz', { timeout: 1000 })).status === 200, { timeout: 20000 });
  for (const p of [host, s1]) await p.locator('#conn-banner', { hasText: 'Connected again' }).waitFor({ timeout: 15000 });
  for (const p of [host, s1]) await p.locator('#conn-banner').waitFor({ state: 'hidden', timeout: 5000 });
  await s1.locator('#q-status', { hasText: 'B locked in' }).waitFor();
  await host.locator('#stage-question').waitFor({ state: 'visible' });

  // C closes it: reveal on every phone, distribution and top 5 on the console.
  await host.keyboard.press('c');
  await host.locator('#stage-closed').waitFor({ state: 'visible' });
  await host.locator('#hc-answer', { hasText: 'Right answer: B' }).waitFor();
  await host.locator('#leaderboard li').nth(2).waitFor();
  assert.deepEqual(await chartCounts(host, '#hc-chart'), { A: 1, B: 1, C: 1, D: 0 });
  await s1.locator('#view-reveal').waitFor({ state: 'visible' });
  assert.equal(await s1.textContent('#r-title'), 'Correct!');
  const s1q1 = /^\+(\d{3,4}) points$/.exec(await s1.textContent('#r-points'));
  assert.ok(s1q1, 'the points of a right answer');
  assert.match(await s1.textContent('#r-answer'), /Right answer: B — Mars/);
  await s1.locator('#live', { hasText: 'The right answer was B' }).waitFor();
  await host.locator('#live', { hasText: 'The right answer is B' }).waitFor();
  await s2.locator('#view-reveal').waitFor({ state: 'visible' });
  assert.equal(await s2.textContent('#r-title'), 'Not this time');
  assert.match(await s2.textContent('#r-points'), /You answered A\. 0 points/);
  await s3b.locator('#view-reveal').waitFor({ state: 'visible' });
  assert.equal(await s3b.textContent('#r-title'), 'Not this time');
  await noHorizontalScroll(s3b);
  await shot(s1, 'reveal');
  await shot(host, 'host-reveal');

  // Question 2 by the Next button; everyone answers C (right); then close and next to the end.
  await host.click('#btn-next');
  for (const s of [s1, s2, s3b]) {
    await s.locator('#view-question').waitFor({ state: 'visible' });
    await s.locator('#q-text', { hasText: 'hexagon' }).waitFor();
    await s.keyboard.press('c');
    await s.locator('#q-status', { hasText: 'C locked in' }).waitFor();
  }
  await host.keyboard.press('c');
  await host.locator('#stage-closed').waitFor({ state: 'visible' });
  // Reloaded after the reveal, the console and a phone show it again (the
  // snapshot in closed state carries answer, counts and points).
  await host.locator('#hc-answer', { hasText: 'Right answer: C' }).waitFor();
  await host.reload();
  await host.locator('#stage-closed').waitFor({ state: 'visible' });
  await host.locator('#hc-answer', { hasText: 'Right answer: C — 6' }).waitFor();
  assert.deepEqual(await chartCounts(host, '#hc-chart'), { A: 0, B: 0, C: 3, D: 0 });
  await s2.locator('#view-reveal').waitFor({ state: 'visible' });
  const s2q2 = await s2.textContent('#r-points');
  await s2.reload();
  await s2.locator('#view-reveal').waitFor({ state: 'visible' });
  assert.equal(await s2.textContent('#r-title'), 'Correct!');
  assert.equal(await s2.textContent('#r-points'), s2q2);
  await host.keyboard.press('n');
  await host.locator('#stage-ended').waitFor({ state: 'visible' });
  await host.locator('#podium .step').nth(2).waitFor();
  assert.match(await host.textContent('#podium .step-1'), /Ada/);
  assert.equal(await host.locator('#results-table tbody tr').count(), 3);
  for (const s of [s1, s2, s3b]) await s.locator('#view-ended').waitFor({ state: 'visible' });
  assert.match(await s1.textContent('#e-rank'), /1st of 3/);
  // What every screen shows is what the results API says.
  const res = await http(gw, 'GET', `/admin/api/sessions/${encodeURIComponent(sid)}/results`, { cookie: await adminLogin() });
  assert.equal(res.status, 200);
  const byId = Object.fromEntries(res.json.students.map((x) => [x.student_id, x]));
  assert.equal(byId.s1.answers.find((a) => a.question_idx === 0).points, Number(s1q1[1]));
  for (const [i, s] of [s1, s2, s3b].entries()) {
    const r = byId[`s${i + 1}`];
    assert.equal(Number(await s.textContent('#e-score')), r.score, `s${i + 1}'s final score`);
    assert.equal(await s.textContent('#e-rank'), `You finished ${['1st', '2nd', '3rd'][r.rank - 1]} of 3`);
  }
  const rows = await host.$$eval('#results-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => [r[2], Number(r[3]), Number(r[0])]),
    res.json.students.map((x) => [x.student_id, x.score, x.rank]));
  await shot(s1, 'podium');
  await shot(host, 'host-podium');

  // The CSV link works with the instructor's cookie.
  const href = await host.getAttribute('#csv-link', 'href');
  assert.equal(href, `/admin/api/sessions/${encodeURIComponent(sid)}/results.csv`);
  const csv = await http(gw, 'GET', href, { cookie: await adminLogin() });
  assert.equal(csv.status, 200);
  assert.match(csv.text, /s1/);

  for (const w of [hw, ...students.map((s) => s.w)]) {
    assert.deepEqual(w.problems().filter((p) => !/Failed to load resource|WebSocket/.test(p)), []);
  }
  await hostCtx.close();
  for (const c of ctxs) await c.close();
});
