// Runs the browser scenarios of a pytest session (or xdist worker) in one node process that keeps Debian's
// chromium running between them: launching a chromium for every scenario cost seconds of CPU each.
// tests/browser/driver.py starts it and speaks JSON lines:
//
//   node driver.mjs --chromium /usr/bin/chromium
//     stdin, a request a line:  {"id": 1, "script": "scenarios.mjs", "args": {"scenario": "...", ...}}
//     stdout, for each request: {"id": 1, "log": "..."} for every line the scenario logs, then {"id": 1, "ok": true}
//
// By hand, one scenario (its lines printed, exit 0 when it holds):
//
//   node driver.mjs --once scenarios.mjs scenario=open_example base=http://127.0.0.1:PORT screenshot=OUT.png
//
// A script (a module beside this one) exports FLAGS, chromium's switches, and run({ browser, args, log }),
// which answers whether its scenario held. One chromium is launched for each set of FLAGS, on first use,
// and kept; every scenario makes its own browser contexts (storage, cookies and viewport its own, as with a
// chromium of its own), and the driver closes whatever contexts are left once it ends. A chromium that has
// died is launched again for the next scenario. Requests run one at a time, in order.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { chromium: { type: 'string', default: '/usr/bin/chromium' }, once: { type: 'string' } },
});

// stdout carries the answers only: anything a script or a library prints goes to stderr (driver.py's log).
const answer = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
console.log = console.error;
console.info = console.error;
console.debug = console.error;
console.warn = console.error;

const browsers = new Map(); // JSON of a script's FLAGS -> its chromium

/** Whether chromium still answers: it may have died since the last scenario, before its pipe said so. */
async function answers(browser) {
  if (!browser.isConnected()) return false;
  try {
    await (await browser.newBrowserCDPSession()).detach();
    return true;
  } catch {
    return false;
  }
}

async function browserFor(flags, log) {
  const key = JSON.stringify(flags);
  const known = browsers.get(key);
  if (known && (await answers(known))) return known;
  if (known) {
    log('chromium had exited since the last scenario: launching a fresh one');
    browsers.delete(key);
    await known.close().catch(() => {});
  }
  const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: flags });
  browser.on('disconnected', () => {
    if (browsers.get(key) === browser) browsers.delete(key);
  });
  browsers.set(key, browser);
  return browser;
}

function scriptUrl(name) {
  if (!/^[\w-]+\.mjs$/.test(name ?? '')) throw new Error(`not a script beside driver.mjs: ${name}`);
  return new URL(`./${name}`, import.meta.url);
}

// A promise a scenario left unawaited that fails would have ended its own node process: it fails the
// scenario being run instead (or, between scenarios, is logged on stderr).
let unhandled = null;
process.on('unhandledRejection', (reason) => {
  const text = `unhandled rejection: ${reason?.stack ?? reason}`;
  if (unhandled) unhandled.push(text);
  else console.error(text);
});

/** Run one request; every line it logs goes to `emit`; answers whether the scenario held. */
async function runOne(request, emit) {
  const log = (...parts) => emit(parts.join(' '));
  unhandled = [];
  let ok = false;
  let browser = null;
  try {
    const script = await import(scriptUrl(request.script));
    browser = await browserFor(script.FLAGS, log);
    ok = (await script.run({ browser, args: request.args ?? {}, log })) === true;
  } catch (error) {
    log(`${request.script} threw: ${error?.stack ?? error}`);
  }
  if (browser?.isConnected()) {
    await Promise.all(browser.contexts().map((context) => context.close().catch(() => {})));
  } else if (browser) {
    log('chromium exited during the scenario: the next one gets a fresh chromium');
  }
  for (const text of unhandled) log(text);
  ok &&= unhandled.length === 0;
  unhandled = null;
  return ok;
}

async function closeAll() {
  await Promise.all([...browsers.values()].map((browser) => browser.close().catch(() => {})));
}

if (values.once) {
  const args = Object.fromEntries(positionals.map((pair) => [pair.split('=', 1)[0], pair.slice(pair.indexOf('=') + 1)]));
  const ok = await runOne({ script: values.once, args }, (line) => process.stdout.write(`${line}\n`));
  await closeAll();
  process.exit(ok ? 0 : 1);
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    console.error(`not a JSON request, ignored: ${line.slice(0, 200)}`);
    continue;
  }
  const ok = await runOne(request, (text) => answer({ id: request.id, log: text }));
  answer({ id: request.id, ok });
}
// stdin closed: the session is over.
await closeAll();
