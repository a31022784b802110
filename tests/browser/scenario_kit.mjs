// What the editor's scenario scripts (scenarios.mjs, designer_scenarios.mjs) share: chromium's switches,
// the step wait, finding elements by their data-testid names, and running one scenario on a fresh page.

// chromium's switches (driver.mjs launches one chromium for each set the scripts name).
export const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];
// How long one step may take to show (debounced validation, a save, a generation): a guard against a hang,
// not a duration under test; a step took over 5 s on a busy 2-core machine (a test run at load 7).
export const STEP_MS = 20000;
export const VIEWPORT = { width: 1440, height: 900 };

export const tid = (id) => `[data-testid="${id}"]`;

export class ScenarioFailure extends Error {}

export function check(condition, message) {
  if (!condition) throw new ScenarioFailure(message);
}

/** Poll `probe` (async, returns a value or undefined/false) until it answers, or fail saying `what`. */
export async function until(probe, what, timeoutMs = STEP_MS) {
  const deadline = Date.now() + timeoutMs;
  let problem = '';
  for (;;) {
    try {
      const answer = await probe();
      if (answer) return answer;
    } catch (error) {
      problem = ` (last error: ${error.message.split('\n')[0]})`;
    }
    if (Date.now() > deadline) throw new ScenarioFailure(`timed out after ${timeoutMs} ms waiting for ${what}${problem}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function visible(page, selector, timeout = STEP_MS) {
  const locator = page.locator(selector).first();
  try {
    await locator.waitFor({ state: 'visible', timeout });
  } catch {
    throw new ScenarioFailure(`${selector} is not visible after ${timeout} ms`);
  }
  return locator;
}

export async function textOf(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

/** Run `scenarios[args.scenario]` on a page of a fresh context of `browser` (driver.mjs's): what it says
 * goes to `log`, the page's console errors are listed if it fails (`pageErrorsFail`: a page error fails it
 * too), and the screenshot is saved either way. True when the scenario holds. */
export async function runScenario(scenarios, { browser, args, log }, { needsGraph = false, pageErrorsFail = false } = {}) {
  const { scenario: name, base, screenshot, graph } = args;
  if (!scenarios[name] || !base || !screenshot || (needsGraph && !graph)) {
    const graphArg = needsGraph ? 'graph=ID' : '[graph=ID]';
    log(`usage: scenario=<${Object.keys(scenarios).join('|')}> base=URL screenshot=PATH ${graphArg}`);
    return false;
  }
  const page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.stack ?? error.message}`));

  let failed = null;
  const started = Date.now();
  try {
    await scenarios[name]({ page, base, graph, browser, screenshot, log });
    if (pageErrorsFail) {
      check(!problems.some((p) => p.startsWith('page error')), `the page threw: ${problems.join('; ')}`);
    }
  } catch (error) {
    failed = error instanceof ScenarioFailure ? error.message : (error.stack ?? String(error));
  } finally {
    await page.screenshot({ path: screenshot, fullPage: true }).catch((error) => {
      problems.push(`screenshot: ${error.message}`);
    });
  }
  log(`${name}: ${failed ? 'FAILED' : 'ok'} in ${Date.now() - started} ms; screenshot ${screenshot}`);
  if (failed) {
    log(`what failed: ${failed}`);
    for (const problem of problems.slice(0, 20)) log(problem.slice(0, 500));
    return false;
  }
  return true;
}
