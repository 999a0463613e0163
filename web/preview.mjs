// preview.mjs: renders every screen of both pages in Debian's chromium with
// SPEC-shaped messages played by playwright (REST routes and the WebSocket
// are answered here, no stack needed), and saves them as PNGs. A design aid
// for working on the pages; the real screenshots come from the end-to-end
// test (QW_SCREENSHOTS=1). Usage: node web/preview.mjs OUT_DIR
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(ROOT, 'tests/package.json'));
const { chromium } = require('playwright-core');
const OUT = path.resolve(process.argv[2] || '/tmp/qw-preview');
fs.mkdirSync(OUT, { recursive: true });
const DIST = path.join(ROOT, 'web/dist');
const ORIGIN = 'http://127.0.0.1:8080';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

const Q1 = { text: 'Which planet is known as the Red Planet?', choices: ['Venus', 'Mars', 'Jupiter', 'Mercury'], time_limit_ms: 20000 };

async function page(browser, opts, api, onSocket) {
  const ctx = await browser.newContext(opts);
  await ctx.addInitScript(() => localStorage.setItem('qw_host_logged_in', '1'));
  await ctx.route(`${ORIGIN}/**`, async (route) => {
    const u = new URL(route.request().url());
    const key = route.request().method() + ' ' + u.pathname;
    if (api[key]) return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(api[key]) });
    const file = u.pathname === '/' ? 'index.html' : u.pathname === '/host' ? 'host.html' : u.pathname.replace(/^\//, '');
    const f = path.join(DIST, file);
    if (!fs.existsSync(f)) return route.fulfill({ status: 404, body: '{}' });
    return route.fulfill({ status: 200, headers: { 'content-type': TYPES[path.extname(f)], 'content-security-policy': CSP }, body: fs.readFileSync(f) });
  });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
  p.on('pageerror', (e) => console.error('pageerror:', e.message));
  let ws;
  await p.routeWebSocket(/\/(admin\/)?ws/, (w) => { ws = w; onSocket(w); });
  p.send = (m) => ws.send(JSON.stringify(m));
  return p;
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const phone = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

// Student screens.
const sp = await page(browser, phone, { 'POST /api/join': { sid: 's1', student_id: 'u123' } }, (w) => {
  w.onMessage((raw) => {
    const m = JSON.parse(raw);
    if (m.type === 'submit') w.send(JSON.stringify({ type: 'submit_ack', question_idx: m.question_idx, choice: m.choice, status: 'accepted' }));
  });
  w.send(JSON.stringify({ type: 'snapshot', sid: 's1', state: 'lobby', question_idx: -1, question_count: 10, question: null, remaining_ms: 0, players: 23, my_choice: null, score: 0 }));
});
await sp.goto(`${ORIGIN}/?code=482913`);
await sp.fill('#student-id', 'u123');
await sp.fill('#display-name', 'Ada');
await sp.screenshot({ path: path.join(OUT, 'join.png') });
await sp.click('#join-button');
await sp.locator('#view-lobby').waitFor({ state: 'visible' });
await sp.screenshot({ path: path.join(OUT, 'lobby.png') });
sp.send({ type: 'question_open', question_idx: 0, question_count: 10, ...Q1, remaining_ms: 14200 });
await sp.locator('#view-question').waitFor({ state: 'visible' });
await sp.screenshot({ path: path.join(OUT, 'question.png') });
await sp.click('#answers button[data-choice=B]');
await wait(300);
await sp.screenshot({ path: path.join(OUT, 'question-locked.png') });
sp.send({ type: 'question_closed', question_idx: 0, answer: 'B', counts: { A: 3, B: 15, C: 4, D: 1 }, my_choice: 'B', points: 874, score: 874 });
await wait(300);
await sp.screenshot({ path: path.join(OUT, 'reveal.png') });
sp.send({ type: 'session_ended', score: 7420, rank: 2, players: 23 });
await wait(300);
await sp.screenshot({ path: path.join(OUT, 'podium.png') });

// Instructor screens.
const students = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Dennis', 'Ken', 'Frances', 'Edsger'].map((name, i) => ({
  student_id: 'u' + i, name, score: 9000 - i * 713, rank: i + 1, answers: [{ question_idx: 0, choice: 'B', correct: i % 3 !== 2, points: 800, latency_ms: 3000 }],
}));
const hp = await page(browser, { viewport: { width: 1280, height: 800 } }, {
  'GET /admin/api/sessions/abc': { sid: 'abc', quiz_id: 'q', title: 'General knowledge', join_code: '482913', state: 'lobby', question_idx: -1, question_count: 10, players: 0 },
  'GET /admin/api/sessions/abc/results': { sid: 'abc', state: 'lobby', students },
}, (w) => {
  w.send(JSON.stringify({ type: 'snapshot', sid: 'abc', state: 'lobby', question_idx: -1, question_count: 10, question: null, remaining_ms: 0, players: 10, my_choice: null, score: 0 }));
});
await hp.goto(`${ORIGIN}/host#sid=abc`);
await hp.locator('#lobby-names li').nth(9).waitFor();
await hp.screenshot({ path: path.join(OUT, 'host-lobby.png') });
hp.send({ type: 'question_open', question_idx: 0, question_count: 10, ...Q1, remaining_ms: 12000, players: 10 });
hp.send({ type: 'answer_stats', question_idx: 0, counts: { A: 1, B: 5, C: 1, D: 0 }, answered: 7, players: 10 });
await wait(600);
await hp.screenshot({ path: path.join(OUT, 'host-live-chart.png') });
hp.send({ type: 'question_closed', question_idx: 0, answer: 'B', counts: { A: 2, B: 6, C: 1, D: 1 } });
await hp.locator('#leaderboard li').nth(4).waitFor();
await wait(500);
await hp.screenshot({ path: path.join(OUT, 'host-reveal.png') });
hp.send({ type: 'session_ended', players: 10 });
await hp.locator('#podium .step').nth(2).waitFor();
await wait(300);
await hp.screenshot({ path: path.join(OUT, 'host-podium.png') });
await browser.close();
console.log('screens in', OUT);
