// The report after class in a real browser: three students play a short
// quiz over their sockets; the instructor opens the report from the end of
// the game and again from the list of past sessions, and the console shows
// per question (hardest first) the share right, the answers per choice and
// the median time, and per student the answers and score, all as the
// results API computes them; question text is shown as text, never markup,
// and the page fits a 360 px screen.
// QW_SCREENSHOTS=1 saves docs/screenshots/host-report.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { env, adminLogin, makePool } from '../lib/stack.mjs';
import { newSession, join, connect, command, results } from '../lib/ws.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Opens question q, lets each student give its pick, closes it.
async function playQuestion(admin, sid, students, q, picks) {
  await command(admin, sid, 'next');
  await Promise.all(students.map(async (s, i) => {
    await s.ws.next('question_open', { pred: (m) => m.question_idx === q });
    s.ws.send({ type: 'submit', question_idx: q, choice: picks[i] });
    const ack = await s.ws.next('submit_ack', { pred: (m) => m.question_idx === q });
    assert.equal(ack.status, 'accepted');
  }));
  await command(admin, sid, 'close');
  await Promise.all(students.map((s) => s.ws.next('question_closed', { pred: (m) => m.question_idx === q })));
}

test('after the end the console reports each question, hardest first, and each student, from the game and from past sessions', async () => {
  const admin = await adminLogin(gw);
  const title = `Report check #${Date.now() % 100000}`;
  const pool = makePool(2, { title, timeLimit: 60, answers: ['B', 'C'] });
  pool.questions[0].choices = ['Venus', 'Mars', 'Jupiter', 'Mercury'];
  pool.questions[0].text = 'Which planet is red?';
  pool.questions[1].text = '<img src=x onerror=alert(1)> sides of a hexagon?';
  pool.questions[1].choices = ['5', '7', '6', '8'];
  const { sid } = await newSession(admin, pool);
  const students = [];
  for (const id of ['r1', 'r2', 'r3']) {
    const { cookie } = await join(gw, sid, id, `Name ${id}`);
    students.push(await connect(gw, cookie));
  }
  try {
    await playQuestion(admin, sid, students, 0, ['B', 'B', 'A']); // 2 of 3 right
    await playQuestion(admin, sid, students, 1, ['A', 'D', 'C']); // 1 of 3 right
    await command(admin, sid, 'end');
  } finally {
    for (const s of students) s.ws.close();
  }
  const api = await results(admin, sid);
  assert.deepEqual(api.questions.map((q) => q.question_idx), [1, 0]);

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const host = await ctx.newPage();
  const w = watchPage(host);
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });

  // From the end of the game: the console of an ended session links to it.
  await host.goto(`${gw}/host#sid=${encodeURIComponent(sid)}`);
  await host.locator('#stage-ended').waitFor({ state: 'visible' });
  await host.click('#report-link');
  await host.locator('#view-report').waitFor({ state: 'visible' });

  const checkReport = async () => {
    await host.locator('#report-questions tbody tr').nth(1).waitFor();
    assert.equal(await host.textContent('#report-title'), `Report: ${title}`);
    const rows = await host.$$eval('#report-questions tbody tr', (trs) => trs.map((tr) => ({
      idx: tr.dataset.questionIdx,
      cells: [...tr.cells].map((c) => c.textContent),
      counts: [...tr.querySelectorAll('.report-counts li')].map((li) => li.textContent),
      right: [...tr.querySelectorAll('.report-counts li.right')].map((li) => li.dataset.label),
    })));
    assert.deepEqual(rows.map((r) => r.idx), ['1', '0'], 'hardest first');
    assert.equal(rows[0].cells[0], '2. <img src=x onerror=alert(1)> sides of a hexagon?');
    assert.equal(await host.locator('#report-questions img').count(), 0, 'question text is never markup');
    assert.equal(rows[0].cells[1], 'C — 6');
    assert.equal(rows[0].cells[2], '33 % (1 / 3)');
    assert.deepEqual(rows[0].counts, ['A 5: 1', 'B 7: 0', 'C 6: 1', 'D 8: 1']);
    assert.deepEqual(rows[0].right, ['C']);
    assert.equal(rows[1].cells[2], '67 % (2 / 3)');
    assert.deepEqual(rows[1].counts, ['A Venus: 1', 'B Mars: 2', 'C Jupiter: 0', 'D Mercury: 0']);
    for (const [i, q] of api.questions.entries()) {
      assert.equal(rows[i].cells[4], `${(q.median_ms / 1000).toFixed(1)} s`, `median of question ${q.question_idx}`);
    }
    const people = await host.$$eval('#report-students tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.equal(people.length, 3);
    for (const s of api.students) {
      const row = people.find((p) => p[2] === s.student_id);
      assert.ok(row, s.student_id);
      assert.deepEqual(row.slice(0, 4), [String(s.rank), s.name, s.student_id, String(s.score)]);
    }
    assert.equal(people.find((p) => p[2] === 'r3')[4], '1: A ✗ · 2: C ✓');
    assert.equal(await host.getAttribute('#report-csv', 'href'), `/admin/api/sessions/${encodeURIComponent(sid)}/report.csv`);
  };
  await checkReport();
  await shot(host, 'host-report', { fullPage: true });

  // From the list of past sessions.
  await host.click('#h-new');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  const past = host.locator(`#past-list li[data-sid="${sid}"]`);
  await past.waitFor();
  assert.match(await past.textContent(), new RegExp(`${title.replace('#', '\\#')}.*3 players.*ended`));
  await past.locator('a').click();
  await host.locator('#view-report').waitFor({ state: 'visible' });
  await checkReport();

  // On a 360 px screen the report scrolls its tables, never the page.
  await host.setViewportSize({ width: 360, height: 740 });
  const m = await host.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  assert.ok(m.sw <= m.cw, `scrollWidth ${m.sw} > clientWidth ${m.cw}`);
  await host.setViewportSize({ width: 1280, height: 900 });

  // An unknown session says so.
  await host.goto(`${gw}/host#report=nosuchsid`);
  await host.locator('#report-error', { hasText: 'does not exist' }).waitFor();
  assert.deepEqual(w.problems().filter((p) => !/404/.test(p)), [], 'no page errors or CSP violations');
  await ctx.close();
});
