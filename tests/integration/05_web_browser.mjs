// 05_web_browser.mjs (a helper, not a test file): a headless Chromium for the web tests: Debian's own
// /usr/bin/chromium driven by playwright-core (never a downloaded browser),
// and a watcher that gathers console errors, page errors and CSP violations.
import { chromium } from 'playwright-core';

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
