// The quiz editor in a real browser (issue 18): the instructor writes a quiz
// in the console, sees the server's error beside the field it names,
// reloads and finds the unsaved draft, reorders and saves it; imports the
// CSV template of examples/ with bad rows added and sees an error per row
// before anything is stored; adds the good rows, saves, and downloads the
// quiz as CSV and as pool JSON, duplicates it and deletes the copy; a
// picture uploaded with the console's picture control lands in a question. Question text stays text, the page keeps
// its CSP (no violations) and fits a 360 px screen. A console whose list
// still shows a version replaced since (edited after it was played) is
// refused its start, reloads the list, says so, and starts the new version.
// QW_SCREENSHOTS=1 saves docs/screenshots/editor.png and editor-import.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { env, http, adminLogin, makePool } from '../lib/stack.mjs';
import { sql } from '../lib/fixtures.mjs';
import { launch, watchPage, shot } from './05_web_browser.mjs';

const gw = env.gateways[0];
const AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser;

// axe-core's WCAG 2.1 A and AA rules (label-in-name included) on the page
// as it is now, as 14_access_web runs them on the game's screens.
async function audit(page, screen) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      rules: { 'label-content-name-mismatch': { enabled: true } },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  assert.deepEqual(violations, [], `axe on ${screen}:\n${JSON.stringify(violations, null, 2)}`);
}

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function readDownload(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: dl.suggestedFilename(), text: fs.readFileSync(await dl.path(), 'utf8') };
}

test('write a quiz in the editor, see an inline error, reload to the draft, save, import the CSV template per row, export', async () => {
  const admin = await adminLogin(gw);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const host = await ctx.newPage();
  // the validate route answers a refused draft with 400, which Chromium logs
  const w = watchPage(host, { ignore: [/status of 400 \(Bad Request\)/] });
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator('#view-setup').waitFor({ state: 'visible' });

  // write two questions
  await host.click('#quiz-new');
  await host.locator('#view-editor').waitFor({ state: 'visible' });
  const title = `Editor check #${Date.now() % 100000}`;
  await host.fill('#ed-title', title);
  await host.fill('#ed-q0-text', '<b>Which</b> planet is red?');
  await host.fill('#ed-q0-c0', 'Venus');
  await host.fill('#ed-q0-c1', 'Mars');
  await host.click('#ed-q0-r1');
  await host.click('#ed-add');
  await host.fill('#ed-q1-text', 'The sun is a star.');
  await host.selectOption('#ed-q1-kind', 'truefalse');
  assert.deepEqual([await host.inputValue('#ed-q1-c0'), await host.inputValue('#ed-q1-c1')], ['True', 'False']);
  await host.click('#ed-q1-r0');
  await host.fill('#ed-q1-time', '3');

  // the server's check puts its error beside the time limit of question 2
  await host.locator('#ed-q1-time-error').waitFor({ state: 'visible' });
  assert.match(await host.textContent('#ed-q1-time-error'), /question 2: time_limit_s/);
  assert.equal(await host.getAttribute('#ed-q1-time', 'aria-invalid'), 'true');
  assert.equal(await host.locator('#ed-q0-text-error').isVisible(), false);
  await host.locator('#ed-q1-time').scrollIntoViewIfNeeded();
  await shot(host, 'editor');
  await audit(host, 'the editor with an inline error');

  // a reload keeps the unsaved draft
  await host.reload();
  await host.locator('#view-editor').waitFor({ state: 'visible' });
  await host.locator('#ed-draft-note').waitFor({ state: 'visible' });
  assert.equal(await host.inputValue('#ed-title'), title);
  assert.equal(await host.inputValue('#ed-q0-text'), '<b>Which</b> planet is red?');
  assert.equal(await host.inputValue('#ed-q1-time'), '3');
  assert.equal(await host.isChecked('#ed-q0-r1'), true);

  // fix it, move it up, save
  await host.fill('#ed-q1-time', '15');
  await host.click('#ed-q1-up');
  assert.equal(await host.inputValue('#ed-q0-text'), 'The sun is a star.');
  await host.locator('#ed-check').filter({ hasText: 'No problems found.' }).waitFor();
  await host.click('#ed-save');
  await host.locator('#ed-status').filter({ hasText: 'Saved.' }).waitFor();
  const id = /#edit=(\d+)/.exec(host.url())[1];
  const stored = await http(gw, 'GET', `/admin/api/quizzes/${id}`, { cookie: admin });
  assert.equal(stored.status, 200);
  assert.equal(stored.json.title, title);
  assert.deepEqual(stored.json.questions.map((q) => [q.text, q.answer, q.time_limit_s]),
    [['The sun is a star.', 'A', 15], ['<b>Which</b> planet is red?', 'B', 20]]);
  assert.equal(await host.locator('#ed-draft-note').isVisible(), false);
  await host.reload();
  await host.locator('#ed-q1-text').waitFor();
  assert.equal(await host.locator('#ed-draft-note').isVisible(), false, 'no draft is left after saving');

  // a picture through the console's picture control: its id lands in the question
  await host.setInputFiles('#ed-q0-picture input[type=file]', path.join(env.root, 'docs/screenshots/join.png'));
  await host.waitForFunction(() => /^[0-9a-f]{64}$/.test(document.getElementById('ed-q0-image').value));
  const picture = await host.inputValue('#ed-q0-image');

  // import the template (one row of each kind) with three bad rows: nothing
  // is stored before Save
  const template = fs.readFileSync(path.join(env.root, 'examples/quiz_template.csv'), 'utf8');
  const csvPath = path.join(process.env.QW_TEST_TMP || '/tmp', `import-${Date.now()}.csv`);
  fs.writeFileSync(csvPath, template.trimEnd() + '\r\n' +
    'A row with a bad letter,single,yes,no,,,,,Z,20,\r\n' +
    'Too quick,single,yes,no,,,,,A,3,\r\n' +
    ',single,yes,no,,,,,A,20,\r\n');
  const before = await http(gw, 'GET', `/admin/api/quizzes/${id}`, { cookie: admin });
  await host.setInputFiles('#ed-csv', csvPath);
  await host.locator('#ed-import-summary').filter({ hasText: 'rows,' }).waitFor();
  const rows = await host.$$eval('#ed-import-rows tr', (trs) => Object.fromEntries(trs.map((tr) =>
    [tr.dataset.row, { bad: tr.classList.contains('bad'), status: tr.querySelector('.ed-row-status').textContent }])));
  for (const r of ['2', '3', '4', '5', '6']) assert.deepEqual(rows[r], { bad: false, status: 'OK' }, `row ${r}`);
  assert.match(rows['7'].status, /^row 7, right: right answer\(s\) "Z" must be letters A to F/);
  assert.match(rows['8'].status, /^row 8, time_limit_s: time_limit_s must be a whole number from 5 to 600/);
  assert.match(rows['9'].status, /^row 9, text: text must be a non-empty string/);
  await host.locator('#ed-import').scrollIntoViewIfNeeded();
  await shot(host, 'editor-import');
  await audit(host, 'the import preview');
  assert.deepEqual((await http(gw, 'GET', `/admin/api/quizzes/${id}`, { cookie: admin })).json, before.json, 'a preview stores nothing');

  const good = Object.values(rows).filter((r) => !r.bad).length;
  await host.click('#ed-import-add');
  await host.locator(`#ed-q${1 + good}-text`).waitFor();
  assert.equal(await host.inputValue('#ed-q2-text'), 'What is the capital of France?');
  await host.click('#ed-save');
  await host.locator('#ed-status').filter({ hasText: 'Saved.' }).waitFor();
  const saved = await http(gw, 'GET', `/admin/api/quizzes/${id}`, { cookie: admin });
  assert.equal(saved.json.questions.length, 2 + good);
  assert.equal(saved.json.questions[0].image, picture);
  assert.equal(saved.json.version, 2);

  // export as the CSV template and as pool JSON
  const csv = await readDownload(host, '#ed-export-csv');
  assert.equal(csv.name, `quiz-${id}.csv`);
  const lines = csv.text.split('\r\n');
  assert.equal(lines[0], 'question,kind,choice A,choice B,choice C,choice D,choice E,choice F,right answer(s),time limit (s),image');
  assert.equal(lines[1], `The sun is a star.,truefalse,True,False,,,,,A,15,${picture}`);
  const json = await readDownload(host, '#ed-export-json');
  assert.equal(json.name, `quiz-${id}.json`);
  assert.equal(JSON.parse(json.text).questions.length, 2 + good);

  // duplicate (the copy opens), then delete the copy: back to the list
  await host.click('#ed-duplicate');
  await host.locator('#ed-status').filter({ hasText: 'This is the copy' }).waitFor();
  const copyId = /#edit=(\d+)/.exec(host.url())[1];
  assert.notEqual(copyId, id);
  assert.equal(await host.inputValue('#ed-title'), `${title} (copy)`);
  await host.click('#ed-delete');
  await host.locator('#ed-delete').filter({ hasText: 'Press again to delete' }).waitFor();
  await host.click('#ed-delete');
  await host.locator('#view-setup').waitFor({ state: 'visible' });
  assert.equal((await http(gw, 'GET', `/admin/api/quizzes/${copyId}`, { cookie: admin })).status, 404);

  // the list shows the quiz with its version; the page fits a phone
  await host.locator(`#quiz-list li[data-quiz-id="${id}"]`).waitFor();
  assert.equal(await host.locator(`#quiz-list li[data-quiz-id="${copyId}"]`).count(), 0);
  await audit(host, 'the list of quizzes');
  assert.match(await host.textContent(`#quiz-list li[data-quiz-id="${id}"]`), /version 2/);
  await host.setViewportSize({ width: 360, height: 740 });
  await host.goto(`${gw}/host#edit=${id}`);
  await host.locator('#ed-q0-text').waitFor();
  const overflow = await host.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the editor scrolls sideways by ${overflow} px at 360 px`);

  assert.deepEqual(w.problems(), []);
  await ctx.close();
});

test('a start from a stale list (the quiz was edited after it was played) reloads the list, says so, and the new version starts', async () => {
  const admin = await adminLogin(gw);
  const title = `Stale list #${Date.now() % 100000}`;
  const made = await http(gw, 'POST', '/admin/api/quizzes', { cookie: admin, body: makePool(2, { title }) });
  assert.equal(made.status, 200, made.text);
  const id = made.json.quiz_id;

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const host = await ctx.newPage();
  const w = watchPage(host, { ignore: [/status of 409 \(Conflict\)/] });
  await host.goto(`${gw}/host`);
  await host.locator('#view-login').waitFor({ state: 'visible' });
  await host.fill('#login-pass', env.adminPassword);
  await host.click('#login-button');
  await host.locator(`#quiz-list li[data-quiz-id="${id}"]`).waitFor();

  // behind the console's back: the quiz is played, then edited (a new version)
  assert.equal((await http(gw, 'POST', '/admin/api/sessions', { cookie: admin, body: { quiz_id: id } })).status, 200);
  const put = await http(gw, 'PUT', `/admin/api/quizzes/${id}`, { cookie: admin, body: makePool(3, { title }) });
  assert.equal(put.status, 200, put.text);
  const nid = put.json.quiz_id;
  assert.deepEqual([put.json.new_version, put.json.replaces], [true, id]);
  const sessionsOfOld = () => sql(`SELECT count(*) FROM sessions WHERE quiz_id = ${Number(id)}`)[0][0];
  const before = sessionsOfOld();

  // the stale row's Start is refused: the list is reloaded and says why
  await host.locator(`#quiz-list li[data-quiz-id="${id}"] button`).click();
  await host.locator('#setup-error', { hasText: 'edited after it was played' }).waitFor();
  assert.match(await host.textContent('#setup-error'), /The list now shows its new version: start that one\./);
  await host.locator(`#quiz-list li[data-quiz-id="${nid}"]`).waitFor();
  assert.equal(await host.locator(`#quiz-list li[data-quiz-id="${id}"]`).count(), 0, 'the replaced version left the list');
  assert.match(await host.textContent(`#quiz-list li[data-quiz-id="${nid}"]`), /3 questions · version 2/);
  assert.equal(await host.evaluate(() => document.activeElement.closest('li')?.dataset.quizId), String(nid),
    'the focus is on the new version\'s Start button');
  assert.equal(sessionsOfOld(), before, 'nothing was started on the old questions');

  // Enter on the focused button starts the new version
  await host.keyboard.press('Enter');
  await host.locator('#stage-lobby').waitFor({ state: 'visible' });
  const sid = decodeURIComponent(/sid=([^&]+)/.exec(new URL(host.url()).hash)[1]);
  const info = await http(gw, 'GET', `/admin/api/sessions/${encodeURIComponent(sid)}`, { cookie: admin });
  assert.equal(info.json.quiz_id, nid);
  assert.equal(info.json.question_count, 3);

  assert.deepEqual(w.problems(), []);
  await ctx.close();
});
