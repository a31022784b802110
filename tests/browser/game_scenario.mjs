// The browser game page (clients/typescript/examples/browser-game) in Debian's chromium, headless, driven by
// playwright-core. pytest (tests/browser/test_game_page.py) runs it against a real `dyngen serve` and a static
// server on another origin:
//
//   node game_scenario.mjs --url PAGE_URL --expect playing|error --chromium /usr/bin/chromium --screenshot OUT.png
//
// Prints one JSON line (what the page showed, the media requests and their statuses); exit 0 when the page
// reached what was expected, 1 otherwise. The screenshot is saved either way.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--autoplay-policy=no-user-gesture-required'];
const WITHIN_MS = 30000;

const { values } = parseArgs({
  options: { url: { type: 'string' }, expect: { type: 'string' }, chromium: { type: 'string' }, screenshot: { type: 'string' } },
});

const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: FLAGS });
const report = { expect: values.expect, media: [], console: [] };
let ok = false;
try {
  const page = await browser.newPage();
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.url().includes('/api/')) report.media.push({ url: r.url().split('?')[0], status: r.status(), type: r.request().resourceType() });
  });
  await page.goto(values.url);
  const status = page.locator('[data-testid="status"]');
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    report.status = (await status.textContent())?.trim();
    report.captions = (await page.locator('[data-testid="captions-state"]').textContent())?.trim();
    const done = values.expect === 'playing'
      ? report.status === 'playing' && report.captions.startsWith('loaded')
      : report.status.startsWith('error');
    if (done || Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
  report.video = await page.evaluate(() => {
    const v = document.querySelector('video');
    return { currentTime: v.currentTime, readyState: v.readyState, error: v.error?.code ?? null, src: v.currentSrc.split('?')[0] };
  });
  report.pageOrigin = new URL(values.url).origin;
  ok = values.expect === 'playing'
    ? report.status === 'playing' && report.captions.startsWith('loaded') && report.video.error === null
    : report.status.startsWith('error');
  await page.screenshot({ path: values.screenshot });
} catch (error) {
  report.failure = String(error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(ok ? 0 : 1);
