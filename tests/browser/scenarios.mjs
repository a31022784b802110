// The editor's browser scenarios: Debian's chromium, headless, driven by playwright-core (from npm).
// pytest (tests/browser/test_editor.py) runs one scenario per process against a real `dyngen serve`:
//
//   node scenarios.mjs <scenario> --base http://127.0.0.1:PORT --chromium /usr/bin/chromium \
//        --screenshot OUT.png [--graph GRAPH_ID]
//
// Elements are found by their data-testid names: the contract between the editor (web/) and these tests.
// Exit 0 when the scenario holds; otherwise 1, printing what failed and the page's console errors. The
// screenshot is saved either way.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];
const STEP_MS = 5000; // how long one step may take to show (debounced validation, a save, a generation)
const PLAY_DEADLINE_MS = 60000; // guards against hanging only: the time to play is logged, never asserted
const EXAMPLE_NODE = 'cafe_to_rooftops';

const tid = (id) => `[data-testid="${id}"]`;

class ScenarioFailure extends Error {}

function check(condition, message) {
  if (!condition) throw new ScenarioFailure(message);
}

/** Poll `probe` (async, returns a value or undefined/false) until it answers, or fail saying `what`. */
async function until(probe, what, timeoutMs = STEP_MS) {
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

async function visible(page, selector, timeout = STEP_MS) {
  const locator = page.locator(selector).first();
  try {
    await locator.waitFor({ state: 'visible', timeout });
  } catch {
    throw new ScenarioFailure(`${selector} is not visible after ${timeout} ms`);
  }
  return locator;
}

async function textOf(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

async function saveStatus(page, pattern, what) {
  await visible(page, tid('save-status'));
  return until(async () => pattern.test(await textOf(page, tid('save-status'))), `save-status to read ${what}`);
}

/** The graph as the server has it now: body and version. */
async function serverGraph(base, graphId) {
  const response = await fetch(`${base}/api/graphs/${encodeURIComponent(graphId)}`);
  check(response.ok, `GET /api/graphs/${graphId} answered ${response.status}`);
  return { body: await response.json(), version: Number(response.headers.get('x-graph-version')) };
}

async function openEditor(page, base, graphId) {
  await page.goto(graphId ? `${base}/?graph=${encodeURIComponent(graphId)}` : `${base}/`);
  await visible(page, tid('canvas'), 15000);
  if (graphId) {
    await until(
      async () => (await page.locator(tid('graph-select')).inputValue()) === graphId,
      `graph-select to show ${graphId}`,
    );
  }
  await visible(page, tid(`gen-node-${EXAMPLE_NODE}`));
}

async function genNodeIds(page) {
  const ids = await page
    .locator('[data-testid^="gen-node-"]')
    .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-testid')));
  return ids.map((id) => id.slice('gen-node-'.length));
}

async function selectNode(page, nodeId) {
  await (await visible(page, tid(`gen-node-${nodeId}`))).click();
  await visible(page, tid('side-panel'));
}

async function openTab(page, name) {
  await (await visible(page, tid(`tab-${name}`))).click();
}

async function badge(page, nodeId) {
  return page.locator(tid(`gen-badge-${nodeId}`)).first().getAttribute('data-status');
}

/** Wait until the node's badge has `status` and shows `hue`. */
async function waitBadge(page, nodeId, status, hue) {
  await visible(page, tid(`gen-badge-${nodeId}`));
  let seen = '';
  try {
    await until(async () => {
      seen = `data-status="${await badge(page, nodeId)}", colour ${await badgeHue(page, nodeId)}`;
      return (await badge(page, nodeId)) === status && (await badgeHue(page, nodeId)) === hue;
    }, `gen-badge-${nodeId}`);
  } catch {
    throw new ScenarioFailure(`gen-badge-${nodeId} should be data-status="${status}" and ${hue}; it is ${seen}`);
  }
}

/** Which hue the badge shows: the colour channel that dominates its background, text or border. */
async function badgeHue(page, nodeId) {
  const colours = await page
    .locator(tid(`gen-badge-${nodeId}`))
    .first()
    .evaluate((el) => {
      const style = getComputedStyle(el);
      return [style.backgroundColor, style.color, style.borderTopColor, style.fill];
    });
  for (const colour of colours) {
    const match = /rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)/.exec(colour ?? '');
    if (!match || (match[4] !== undefined && Number(match[4]) === 0)) continue;
    const [r, g, b] = match.slice(1, 4).map(Number);
    if (r > g + 60 && r > b + 60) return 'red';
    if (g > r + 40 && g > b + 20) return 'green';
  }
  return `none of ${colours.join(' / ')}`;
}

/** A screenshot of a step on the way, beside the scenario's final one (OUT-<step>.png). */
async function snap(page, step) {
  await page.screenshot({ path: values.screenshot.replace(/(\.png)?$/, `-${step}.png`), fullPage: true });
}

const splitList = (text) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function dragConnection(page, fromScene, toScene) {
  const source = await visible(page, `${tid(`scene-node-${fromScene}`)} .react-flow__handle-right`);
  const target = await visible(page, `${tid(`scene-node-${toScene}`)} .react-flow__handle-left`);
  const a = await source.boundingBox();
  const b = await target.boundingBox();
  check(a && b, 'the scene handles have no position on screen');
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 20 });
  await page.mouse.up();
}

// --- the scenarios ---------------------------------------------------------------------------------

const scenarios = {
  /** `/` opens the example graph stored on first start: its scenes and its Generation Node. */
  async open_example({ page }) {
    await openEditor(page, base, null);
    const selected = await page.locator(tid('graph-select')).inputValue();
    check(selected === 'three_scenes', `graph-select shows "${selected}", not the example graph three_scenes`);
    for (const [scene, title] of [
      ['cafe_date', 'Late coffee'],
      ['rooftop_chase', 'Rooftops'],
      ['dawn_aftermath', 'Dawn'],
    ]) {
      await visible(page, tid(`scene-node-${scene}`));
      const text = await textOf(page, tid(`scene-node-${scene}`));
      check(text.includes(title), `scene-node-${scene} reads "${text}", without its title "${title}"`);
    }
    const node = await textOf(page, tid(`gen-node-${EXAMPLE_NODE}`));
    check(node.includes('🎲'), `gen-node-${EXAMPLE_NODE} has no 🎲 icon: "${node}"`);
    await waitBadge(page, EXAMPLE_NODE, 'ok', 'green');
    await saveStatus(page, /^Saved/, '"Saved"');
  },

  /** Dragging from one scene's handle to another's adds a Generation Node between them; it saves. */
  async add_gen_node({ page, graph }) {
    await openEditor(page, base, graph);
    const newId = 'gen-rooftop_chase-dawn_aftermath';
    check(!(await genNodeIds(page)).includes(newId), `${newId} is there before the drag`);
    await dragConnection(page, 'rooftop_chase', 'dawn_aftermath');
    await visible(page, tid(`gen-node-${newId}`));
    await visible(page, tid('side-panel')); // the new node is selected
    await saveStatus(page, /Unsaved/, '"Unsaved changes"');
    await page.locator(tid('save')).click();
    await saveStatus(page, /^Saved/, '"Saved"');
    const { body, version } = await serverGraph(base, graph);
    const saved = body.nodes.find((n) => n.id === newId);
    check(saved, `the server's graph has no node ${newId} after the save (version ${version})`);
    check(
      saved.fromScene === 'rooftop_chase' && saved.toScene === 'dawn_aftermath',
      `${newId} goes ${saved.fromScene} -> ${saved.toScene}, not rooftop_chase -> dawn_aftermath`,
    );
    check(version === 2, `the save made version ${version}, not 2`);
  },

  /** The same element required and avoided: red badge, the save refused with the finding; fixed: green. */
  async conflict_badge({ page, graph }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'constraints');
    const required = await page.locator(tid('required-elements')).inputValue();
    check(splitList(required).includes('phone_ring'), `required-elements reads "${required}", without phone_ring`);
    const avoid = await visible(page, tid('avoid-elements'));
    await avoid.fill('violence, phone_ring');

    await waitBadge(page, EXAMPLE_NODE, 'error', 'red');
    await visible(page, `${tid('finding')}[data-code="ELEMENT_REQUIRED_AND_AVOIDED"]`);

    await page.locator(tid('save')).click();
    await saveStatus(page, /refused/i, '"Save refused"');
    await visible(page, tid('save-error'));
    const listed = await until(async () => {
      const items = await page
        .locator(`${tid('save-error')} ${tid('finding')}`)
        .evaluateAll((found) => found.map((i) => `${i.getAttribute('data-code') ?? ''} ${i.textContent}`));
      return items.length ? items : undefined;
    }, 'save-error to list its findings as finding items');
    check(
      listed.some((item) => item.includes('ELEMENT_REQUIRED_AND_AVOIDED') || item.includes('phone_ring')),
      `save-error does not name the contradiction: ${JSON.stringify(listed)}`,
    );
    await snap(page, 'refused');
    const refused = await serverGraph(base, graph);
    check(refused.version === 1, `the refused save still stored version ${refused.version}`);

    await avoid.fill('violence');
    await waitBadge(page, EXAMPLE_NODE, 'ok', 'green');
    await page.locator(tid('save')).click();
    await saveStatus(page, /^Saved/, '"Saved"');
    check(!(await page.locator(tid('save-error')).isVisible()), 'save-error is still shown after a good save');
    const saved = await serverGraph(base, graph);
    check(saved.version === 2, `the fixed save made version ${saved.version}, not 2`);
    const avoided = saved.body.nodes.find((n) => n.id === EXAMPLE_NODE).config.constraints.avoidElements;
    check(JSON.stringify(avoided) === '["violence"]', `the server stored avoidElements ${JSON.stringify(avoided)}`);
  },

  /** Test Generation on the built-in provider: the video plays (the time from the press is logged only;
   * the timing claim is `make bench`'s, not a test's on a busy machine). */
  async test_video({ page, graph }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'test');
    const button = await visible(page, tid('test-generate'));
    // Timed in the page, as the user sees it: from the click on test-generate to the first frame after 0.
    await page.evaluate(() => {
      window.__dyngenPressedAt = null;
      document.addEventListener(
        'click',
        (event) => {
          if (event.target.closest('[data-testid="test-generate"]')) window.__dyngenPressedAt ??= performance.now();
        },
        true,
      );
    });
    await button.click();
    const playingFor = () => {
      const video = document.querySelector('[data-testid="test-video"]');
      const pressed = window.__dyngenPressedAt;
      return video && pressed !== null && video.currentTime > 0 && !video.paused ? performance.now() - pressed : 0;
    };
    let elapsed;
    try {
      elapsed = Math.round(await (await page.waitForFunction(playingFor, null, { timeout: PLAY_DEADLINE_MS, polling: 'raf' })).jsonValue());
    } catch {
      const shown = await page.locator(tid('test-result')).first().textContent().catch(() => null);
      throw new ScenarioFailure(
        `test-video did not play within ${PLAY_DEADLINE_MS / 1000} s of pressing test-generate; test-result: ${(shown ?? '').slice(0, 400)}`,
      );
    }
    const meta = await textOf(page, tid('test-meta'));
    console.log(`video playing ${elapsed} ms after pressing test-generate; test-meta: ${meta.slice(0, 200)}`);
    check(elapsed > 0, `test-video is not playing (${elapsed})`);
    const tracks = await page.locator(`${tid('test-video')} track`).count();
    check(tracks >= 1, 'test-video has no captions <track>');
    check(/builtin/.test(meta), `test-meta does not name the built-in provider: "${meta}"`);
    // How each element was verified: the built-in captions say them, so the lexicon finds them.
    const verified = await page
      .locator(`${tid('test-elements')} tr[data-element]`)
      .evaluateAll((rows) => rows.map((r) => `${r.dataset.element}:${r.dataset.verifiedBy}`));
    check(
      verified.join(' ') === 'phone_ring:lexicon kiss_callback:lexicon violence:absent',
      `test-elements does not show how each element was verified: "${verified.join(' ')}"`,
    );
  },

  /** A forced GEN_TIMEOUT shows the node's fallback (mode and error code). */
  async forced_timeout({ page, graph }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'test');
    await (await visible(page, tid('force-failure'))).selectOption('GEN_TIMEOUT');
    await page.locator(tid('test-generate')).click();
    await visible(page, tid('test-fallback'), 10000);
    const text = await textOf(page, tid('test-fallback'));
    check(text.includes('GEN_TIMEOUT'), `test-fallback does not name GEN_TIMEOUT: "${text}"`);
    check(/default[_ ]content/i.test(text), `test-fallback does not name the mode default_content: "${text}"`);
  },

  /** Duplicate a node: a second Generation Node with the same config, kept by a save. */
  async duplicate_node({ page, graph }) {
    await openEditor(page, base, graph);
    const before = await genNodeIds(page);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'test');
    await (await visible(page, tid('duplicate-node'))).click();
    const added = await until(async () => {
      const now = await genNodeIds(page);
      const fresh = now.filter((id) => !before.includes(id));
      return fresh.length === 1 && now.length === before.length + 1 ? fresh[0] : undefined;
    }, 'one new gen-node-* after duplicate-node');
    await selectNode(page, added);
    await openTab(page, 'constraints');
    const required = splitList(await page.locator(tid('required-elements')).inputValue());
    check(
      JSON.stringify(required) === '["phone_ring","kiss_callback"]',
      `the copy ${added} requires ${JSON.stringify(required)}, not the original's phone_ring, kiss_callback`,
    );
    await page.locator(tid('save')).click();
    await saveStatus(page, /^Saved/, '"Saved"');
    const { body } = await serverGraph(base, graph);
    const original = body.nodes.find((n) => n.id === EXAMPLE_NODE);
    const copy = body.nodes.find((n) => n.id === added);
    check(copy, `the server's graph has no node ${added} after the save`);
    const comparable = (node) => JSON.stringify({ ...node.config, id: undefined, version: undefined });
    check(
      comparable(copy) === comparable(original),
      `the copy's config differs from the original's:\n${comparable(copy)}\n${comparable(original)}`,
    );
  },

  /** A change saved with Ctrl+S is there after a reload, and in a fresh browser without the draft. */
  async reload_saved({ page, graph, browser }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'style');
    await (await visible(page, tid('field-duration-target'))).fill('25');
    await saveStatus(page, /Unsaved/, '"Unsaved changes"');
    await page.keyboard.press('Control+s');
    await saveStatus(page, /^Saved/, '"Saved" after Ctrl+S');
    const { body, version } = await serverGraph(base, graph);
    const target = body.nodes.find((n) => n.id === EXAMPLE_NODE).config.duration.target;
    check(version === 2 && target === 25, `the server has version ${version} with duration.target ${target}`);

    const readBack = async (where) => {
      await openEditor(where, base, graph);
      await selectNode(where, EXAMPLE_NODE);
      await openTab(where, 'style');
      const value = await where.locator(tid('field-duration-target')).inputValue();
      check(Number(value) === 25, `field-duration-target reads "${value}" after reopening, not 25`);
      await saveStatus(where, /^Saved/, '"Saved" after reopening');
    };
    await page.reload();
    await readBack(page);
    const fresh = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
    await readBack(fresh);
  },
};

// --- running one ----------------------------------------------------------------------------------

const VIEWPORT = { width: 1440, height: 900 };
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    screenshot: { type: 'string' },
    graph: { type: 'string' },
  },
});
const name = positionals[0];
const base = values.base;
if (!scenarios[name] || !base || !values.screenshot) {
  console.error(`usage: node scenarios.mjs <${Object.keys(scenarios).join('|')}> --base URL --screenshot PATH`);
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: FLAGS });
const context = await browser.newContext({ viewport: VIEWPORT });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
const problems = [];
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(`console: ${message.text()}`);
});
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));

let failed = null;
const started = Date.now();
try {
  await scenarios[name]({ page, graph: values.graph, browser });
} catch (error) {
  failed = error instanceof ScenarioFailure ? error.message : (error.stack ?? String(error));
} finally {
  await page.screenshot({ path: values.screenshot, fullPage: true }).catch((error) => {
    problems.push(`screenshot: ${error.message}`);
  });
  await browser.close();
}
console.log(`${name}: ${failed ? 'FAILED' : 'ok'} in ${Date.now() - started} ms; screenshot ${values.screenshot}`);
if (failed) {
  console.log(`what failed: ${failed}`);
  for (const problem of problems.slice(0, 20)) console.log(problem.slice(0, 500));
  process.exit(1);
}
