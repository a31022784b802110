// The browser game page (clients/typescript/examples/browser-game) in Debian's chromium, headless, driven by
// playwright-core. pytest (tests/browser/test_game_page.py) runs it through driver.mjs (in a fresh browser
// context of the session's chromium) against a real `dyngen serve` and a static server on another origin.
// By hand:
//
//   node driver.mjs --once game_scenario.mjs url=PAGE_URL expect=playing|error screenshot=OUT.png
//
// Logs one JSON line (what the page showed, the media requests and their statuses); `run` answers true when
// the page reached what was expected, false otherwise. The screenshot is saved either way.

// chromium's switches (driver.mjs launches one chromium for each set the scripts name).
export const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--autoplay-policy=no-user-gesture-required'];
const WITHIN_MS = 30000;

export async function run({ browser, args, log }) {
  const report = { expect: args.expect, media: [], console: [] };
  let ok = false;
  try {
    const page = await browser.newPage();
    page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
    page.on('response', (r) => {
      if (r.url().includes('/api/')) report.media.push({ url: r.url().split('?')[0], status: r.status(), type: r.request().resourceType() });
    });
    await page.goto(args.url);
    const status = page.locator('[data-testid="status"]');
    const deadline = Date.now() + WITHIN_MS;
    for (;;) {
      report.status = (await status.textContent())?.trim();
      report.captions = (await page.locator('[data-testid="captions-state"]').textContent())?.trim();
      const done = args.expect === 'playing'
        ? report.status === 'playing' && report.captions.startsWith('loaded')
        : report.status.startsWith('error');
      if (done || Date.now() > deadline) break;
      await page.waitForTimeout(50);
    }
    report.video = await page.evaluate(() => {
      const v = document.querySelector('video');
      return { currentTime: v.currentTime, readyState: v.readyState, error: v.error?.code ?? null, src: v.currentSrc.split('?')[0] };
    });
    report.pageOrigin = new URL(args.url).origin;
    ok = args.expect === 'playing'
      ? report.status === 'playing' && report.captions.startsWith('loaded') && report.video.error === null
      : report.status.startsWith('error');
    await page.screenshot({ path: args.screenshot });
  } catch (error) {
    report.failure = String(error);
  }
  log(JSON.stringify(report));
  return ok;
}
