// What a scenario's browser context holds when it starts, for tests/browser/test_driver.py: run twice on
// the session's chromium, the second must find none of the storage and cookies the first left behind.
// Logs one JSON line: {"found": what the fresh context held, "left": what it held once written to}.
export { FLAGS } from './scenarios.mjs';

const held = () => ({ storage: { ...localStorage }, cookies: document.cookie });

export async function run({ browser, args, log }) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${args.base}/api/health/live`);
  const found = await page.evaluate(held);
  await page.evaluate(() => {
    localStorage.setItem('left', 'behind');
    document.cookie = 'left=behind; max-age=3600; path=/';
  });
  log(JSON.stringify({ found, left: await page.evaluate(held) }));
  return true;
}
