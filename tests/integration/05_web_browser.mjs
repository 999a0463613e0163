// 05_web_browser.mjs (a helper, not a test file): a headless Chromium for the web tests: Debian's own
// /usr/bin/chromium driven by playwright-core (never a downloaded browser),
// and a watcher that gathers console errors, page errors and CSP violations.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// With QW_SCREENSHOTS=1 the web tests save their screens into
// docs/screenshots (the README's pictures); otherwise SHOTS is null.
export const SHOTS = process.env.QW_SCREENSHOTS === '1'
  ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots') : null;

// Saves `page` as docs/screenshots/NAME.png when SHOTS is set; `opts` are
// added to playwright's screenshot options (e.g. fullPage).
export async function shot(page, name, opts = {}) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), animations: 'disabled', ...opts });
}

export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// Collects what would show a broken page: uncaught errors, console errors
// and CSP violations. `problems()` lists them; `ignore` drops expected ones.
export function watchPage(page, { ignore = [] } = {}) {
  const seen = [];
  const skip = (t) => ignore.some((re) => re.test(t));
  page.on('pageerror', (e) => { if (!skip(e.message)) seen.push(`pageerror: ${e.message}`); });
  page.on('console', (m) => {
    const t = m.text();
    if ((m.type() === 'error' || /Content Security Policy/i.test(t)) && !skip(t)) seen.push(`console ${m.type()}: ${t}`);
  });
  return { problems: () => [...seen] };
}
