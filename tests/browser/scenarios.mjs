// The editor's browser scenarios: Debian's chromium, headless, driven by playwright-core (from npm).
// pytest (tests/browser/test_editor.py) runs each against a real `dyngen serve` through driver.mjs, which
// keeps one chromium for the session and gives every scenario fresh browser contexts of its own. By hand:
//
//   node driver.mjs --once scenarios.mjs scenario=<scenario> base=http://127.0.0.1:PORT \
//        screenshot=OUT.png [graph=GRAPH_ID]
//
// Elements are found by their data-testid names: the contract between the editor (web/) and these tests.
// `run` answers true when the scenario holds; otherwise false, having logged what failed and the page's
// console errors. The screenshot is saved either way.

import { FLAGS, STEP_MS, ScenarioFailure, VIEWPORT, check, runScenario, textOf, tid, until, visible } from './scenario_kit.mjs';

export { FLAGS }; // chromium's switches, for driver.mjs

const PLAY_DEADLINE_MS = 60000; // guards against hanging only: the time to play is logged, never asserted
const EXAMPLE_NODE = 'cafe_to_rooftops';
const EXAMPLE_TITLE = 'The call (three scenes, one Generation Node)';

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
async function snap(page, screenshot, step) {
  await page.screenshot({ path: screenshot.replace(/(\.png)?$/, `-${step}.png`), fullPage: true });
}

/** The values of a tag field (required-elements, avoid-elements, ...), in order. */
async function tagValues(page, field) {
  return page
    .locator(`${tid(field)} ${tid(`${field}-tag`)}`)
    .evaluateAll((tags) => tags.map((t) => t.getAttribute('data-value')));
}

/** Add a value to a tag field by typing it and pressing Enter. */
async function addTag(page, field, value) {
  const input = await visible(page, tid(`${field}-input`));
  await input.fill(value);
  await input.press('Enter');
  await until(async () => (await tagValues(page, field)).includes(value), `${field} to hold ${value}`);
}

// Emoji, and the pictographic symbols that stood in for icons: headless chromium has no emoji font.
const EMOJI = /[\p{Extended_Pictographic}\u2300-\u23FF\u25A0-\u27BF\u21B6\u21B7\u21C4\u29C9\u2B50]/u;

/** The viewport sizes the layout is checked at. */
const LAYOUT_SIZES = [
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
  { width: 1920, height: 1080 },
];

async function box(page, selector) {
  const found = await (await visible(page, selector)).boundingBox();
  check(found, `${selector} has no box on screen`);
  return found;
}

/** Fail unless the box lies inside the viewport (a pixel of rounding allowed). */
function inside(what, b, size) {
  const right = b.x + b.width;
  const bottom = b.y + b.height;
  check(
    b.x >= -1 && b.y >= -1 && right <= size.width + 1 && bottom <= size.height + 1,
    `${what} at ${size.width}x${size.height} is not inside the viewport: x ${Math.round(b.x)}..${Math.round(right)}, y ${Math.round(b.y)}..${Math.round(bottom)}`,
  );
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

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
  async open_example({ page, base }) {
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
    const icons = await page.locator(`${tid(`gen-node-${EXAMPLE_NODE}`)} svg[data-icon="dice"]`).count();
    check(icons === 1, `gen-node-${EXAMPLE_NODE} has ${icons} dice icons (an inline SVG), not 1`);
    await waitBadge(page, EXAMPLE_NODE, 'ok', 'green');
    await saveStatus(page, /^Saved/, '"Saved"');
  },

  /** Dragging from one scene's handle to another's adds a Generation Node between them; it saves. */
  async add_gen_node({ page, base, graph }) {
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
    const direct = (body.edges ?? []).filter((e) => e.source === 'rooftop_chase' && e.target === 'dawn_aftermath');
    check(direct.length === 0, `the direct edge rooftop_chase -> dawn_aftermath is still there beside ${newId}`);
  },

  /** The same element required and avoided: red badge, the save refused with the finding; fixed: green. */
  async conflict_badge({ page, base, graph, screenshot }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'constraints');
    const required = await tagValues(page, 'required-elements');
    check(required.includes('phone_ring'), `required-elements holds ${JSON.stringify(required)}, without phone_ring`);
    // The tag fields suggest the lexicon's and the templates' words (GET /api/lexicon).
    for (const [field, word] of [['avoid-elements', 'jump_scare'], ['field-content-rules', 'foreshadow_without_revealing']]) {
      await until(
        async () => (await page.locator(`${tid(field)} datalist option[value="${word}"]`).count()) === 1,
        `${field} to suggest ${word}`,
      );
    }
    await addTag(page, 'avoid-elements', 'phone_ring');

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
    await snap(page, screenshot, 'refused');
    const refused = await serverGraph(base, graph);
    check(refused.version === 1, `the refused save still stored version ${refused.version}`);

    await page.locator(tid('avoid-elements-remove-phone_ring')).click();
    await waitBadge(page, EXAMPLE_NODE, 'ok', 'green');
    // Fixed: the refusal's banner goes before the next save (the save status still says it was refused).
    await until(async () => !(await page.locator(tid('save-error')).isVisible()), 'save-error to go once fixed');
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
  async test_video({ page, base, graph, log }) {
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
    log(`video playing ${elapsed} ms after pressing test-generate; test-meta: ${meta.slice(0, 200)}`);
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
  async forced_timeout({ page, base, graph }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'test');
    await (await visible(page, tid('force-failure'))).selectOption('GEN_TIMEOUT');
    await page.locator(tid('test-generate')).click();
    await visible(page, tid('test-fallback'), 10000);
    const text = await textOf(page, tid('test-fallback'));
    check(text.includes('GEN_TIMEOUT'), `test-fallback does not name GEN_TIMEOUT: "${text}"`);
    check(/default[_ ]content/i.test(text), `test-fallback does not name the mode default_content: "${text}"`);
    const cache = await textOf(page, tid('meta-cache'));
    check(!/generated/.test(cache) && /fallback/i.test(cache), `meta-cache reads "${cache}", not the fallback`);
  },

  /** Duplicate a node: a second Generation Node with the same config, kept by a save. */
  async duplicate_node({ page, base, graph }) {
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
    const required = await tagValues(page, 'required-elements');
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
  async add_character({ page, base, graph, screenshot }) {
    await openEditor(page, base, graph);
    await (await visible(page, tid('toggle-world'))).click();
    await visible(page, tid('world-panel'));
    await (await visible(page, tid('add-character'))).click();
    await (await visible(page, tid('character-0-name'))).fill('Mara');
    await (await visible(page, tid('character-0-id'))).fill('mara');
    await page.locator(tid('character-0-description')).fill('a courier who never sits still');
    await page.locator(tid('character-0-voice')).fill('dry, quick');
    await snap(page, screenshot, 'character-added');

    // The scene she is in names her; the node leaving that scene is told about her.
    await (await visible(page, tid('scene-node-cafe_date'))).click();
    await visible(page, tid('scene-panel'));
    await (await visible(page, tid('scene-character-mara'))).check();
    await page.keyboard.press('Control+s');
    await saveStatus(page, /^Saved/, '"Saved" after Ctrl+S');
    const { body } = await serverGraph(base, graph);
    const mara = (body.characters ?? []).find((c) => c.id === 'mara');
    check(mara && mara.name === 'Mara' && mara.voice === 'dry, quick', `the server's characters: ${JSON.stringify(body.characters)}`);
    const cafe = body.scenes.find((sc) => sc.id === 'cafe_date');
    check((cafe.characters ?? []).includes('mara'), `cafe_date's characters: ${JSON.stringify(cafe.characters)}`);

    await selectNode(page, EXAMPLE_NODE);
    await openTab(page, 'prompt');
    await until(
      async () => (await textOf(page, tid('prompt-text-system'))).includes('Mara: a courier who never sits still.'),
      'the rendered system prompt to describe Mara',
    );
    const user = await textOf(page, tid('prompt-text-user'));
    check(!user.includes('cafe_date'), `the user prompt shows a scene id: ${user}`);
    await (await visible(page, tid('prompt-template-user'))).fill('Hello {{ scnee }}');
    await until(
      async () => (await textOf(page, tid('prompt-findings'))).includes("unknown variable 'scnee'"),
      'the unknown variable to be a finding',
    );
    await snap(page, screenshot, 'prompt-view');
  },

  async reload_saved({ page, base, graph, browser }) {
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

  /** At 1280, 1440 and 1920 px: the top bar is one row inside the window, the graph fits the canvas on
   * open, the title and node ids are whole, and the warm-up, graph list, health drawer, minimap and side
   * panel all lie inside the viewport (the drawer below the minimap, not over it). */
  async layout({ page: first, base, graph, browser, screenshot, log }) {
    // The example's own title (the test's copy appends the test's name): a title of a usual length.
    const { body } = await serverGraph(base, graph);
    const put = await fetch(`${base}/api/graphs/${encodeURIComponent(graph)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...body, title: EXAMPLE_TITLE }),
    });
    check(put.ok, `PUT /api/graphs/${graph} answered ${put.status}`);
    for (const size of LAYOUT_SIZES) {
      const context = await browser.newContext({ viewport: size });
      const page = await context.newPage();
      page.setDefaultTimeout(STEP_MS);
      await openEditor(page, base, graph);
      const at = `${size.width}x${size.height}`;

      // The top bar: one row, every item inside the window.
      const bar = await box(page, tid('topbar'));
      inside('the top bar', bar, size);
      const items = await page.locator(`${tid('topbar')} > *`).evaluateAll((els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect();
          return { what: el.getAttribute('data-testid') ?? el.className, x: r.x, y: r.y, w: r.width, h: r.height };
        }),
      );
      const rows = new Set(items.filter((i) => i.w > 0).map((i) => Math.round(i.y + i.h / 2)));
      const mids = [...rows];
      check(
        Math.max(...mids) - Math.min(...mids) <= 8,
        `the top bar wraps at ${at}: item middles at y ${mids.join(', ')}: ${JSON.stringify(items)}`,
      );
      for (const item of items) inside(`top bar item ${item.what}`, { x: item.x, y: item.y, width: item.w, height: item.h }, size);

      // The title is whole: the picker is at least as wide as its selected title's text.
      const title = await page.locator(tid('graph-select')).evaluate((select) => {
        const probe = document.createElement('span');
        probe.style.font = getComputedStyle(select).font;
        probe.style.whiteSpace = 'pre';
        probe.textContent = select.options[select.selectedIndex]?.text ?? '';
        document.body.append(probe);
        const text = probe.getBoundingClientRect().width;
        probe.remove();
        const style = getComputedStyle(select);
        const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return { text, room, title: probe.textContent };
      });
      check(title.text <= title.room + 1, `the title "${title.title}" is cut at ${at}: ${Math.round(title.text)} px of text in ${Math.round(title.room)} px`);

      // Fit on open: every scene and node inside the canvas; node ids whole.
      const canvas = await box(page, tid('canvas'));
      const nodes = await page.locator('[data-testid^="scene-node-"], [data-testid^="gen-node-"]').all();
      check(nodes.length === 4, `${nodes.length} nodes on the canvas, not the example's 4`);
      await until(async () => {
        for (const node of nodes) {
          const b = await node.boundingBox();
          if (!b || b.x < canvas.x || b.y < canvas.y || b.x + b.width > canvas.x + canvas.width || b.y + b.height > canvas.y + canvas.height)
            return false;
        }
        return true;
      }, `every node inside the canvas at ${at} (fit on open)`);
      const cut = await page
        .locator('.gen-node__id')
        .evaluateAll((ids) => ids.filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent));
      check(cut.length === 0, `node ids cut on the canvas at ${at}: ${cut.join(', ')}`);

      // The warm-up panel and the graph list open inside the window.
      await page.locator(tid('warm-graph')).click();
      inside('the warm-up panel', await box(page, tid('warmup-panel')), size);
      await page.locator(tid('warm-graph')).click();
      await page.locator(tid('open-graphs')).click();
      inside('the graph list', await box(page, tid('graph-list')), size);
      await page.locator(tid('open-graphs')).click();

      // The health drawer with the side panel open: both inside, the minimap above the drawer.
      await selectNode(page, EXAMPLE_NODE);
      await page.locator(tid('toggle-health')).click();
      const health = await box(page, tid('health-panel'));
      const side = await box(page, tid('side-panel'));
      const minimap = await box(page, '.react-flow__minimap');
      inside('the health panel', health, size);
      inside('the side panel', side, size);
      inside('the minimap', minimap, size);
      check(!overlaps(minimap, health), `the health panel covers the minimap at ${at}`);
      check(!overlaps(minimap, side), `the side panel covers the minimap at ${at}`);
      await page.locator(tid('warm-graph')).click();
      inside('the warm-up panel (with the side panel and health open)', await box(page, tid('warmup-panel')), size);
      log(`layout ${at}: top bar ${Math.round(bar.height)} px high, one row; all panels inside`);
      await page.screenshot({ path: screenshot.replace(/(\.png)?$/, `-${size.width}.png`) });
      await context.close();
    }
    // The final screenshot is the 1440 px one's view again, for the test's record.
    await openEditor(first, base, graph);
  },

  /** A node and a scene renamed: the canvas, the node's config id, and the edges that named the scene. */
  async rename_node({ page, base, graph }) {
    await openEditor(page, base, graph);
    await selectNode(page, EXAMPLE_NODE);
    await (await visible(page, tid('rename-id'))).click();
    // A taken id is refused with the reason.
    await (await visible(page, tid('rename-input'))).fill('rooftop_chase');
    await page.locator(tid('rename-apply')).click();
    const refused = await textOf(page, tid('rename-problem'));
    check(/already/.test(refused), `renaming to a scene's id says "${refused}", not that it is taken`);
    await page.locator(tid('rename-input')).fill('cafe_call');
    await page.locator(tid('rename-apply')).click();
    await visible(page, tid('gen-node-cafe_call'));
    check((await page.locator(tid(`gen-node-${EXAMPLE_NODE}`)).count()) === 0, `gen-node-${EXAMPLE_NODE} is still there`);
    check((await textOf(page, tid('panel-id'))) === 'cafe_call', 'the side panel does not show the new id');

    await (await visible(page, tid('scene-node-rooftop_chase'))).click();
    await visible(page, tid('scene-panel'));
    await (await visible(page, `${tid('scene-panel')} ${tid('rename-id')}`)).click();
    await page.locator(tid('rename-input')).fill('rooftops');
    await page.locator(tid('rename-apply')).click();
    await visible(page, tid('scene-node-rooftops'));
    await page.locator(tid('save')).click();
    await saveStatus(page, /^Saved/, '"Saved"');
    const { body } = await serverGraph(base, graph);
    const node = body.nodes.find((n) => n.id === 'cafe_call');
    check(node && node.config.id === 'cafe_call', `the server's node cafe_call is ${JSON.stringify(node?.config?.id)}`);
    check(node.toScene === 'rooftops', `cafe_call goes to ${node.toScene}, not the renamed rooftops`);
    const edge = (body.edges ?? []).find((e) => e.target === 'dawn_aftermath');
    check(edge?.source === 'rooftops', `the edge to dawn_aftermath comes from ${edge?.source}, not rooftops`);
  },

  /** Export the graph as a file, import it back under a new id (opened, stored the same); a broken file is
   * refused with its findings; the list's search finds graphs by title. */
  async import_export({ page, base, graph }) {
    await openEditor(page, base, graph);
    await (await visible(page, tid('open-graphs'))).click();
    await visible(page, tid('graph-list'));
    await (await visible(page, tid('graph-search'))).fill(graph);
    await visible(page, tid(`graph-item-${graph}`));
    await page.locator(tid('graph-search')).fill('no such graph at all');
    await visible(page, tid('graph-search-empty'));
    await page.locator(tid('graph-search')).fill('');

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator(tid('export-graph')).click()]);
    const { readFile } = await import('node:fs/promises');
    const exported = JSON.parse(await readFile(await download.path(), 'utf-8'));
    const stored = (await serverGraph(base, graph)).body;
    check(JSON.stringify(exported) === JSON.stringify(stored), `the export differs from the stored graph`);
    check(download.suggestedFilename() === `${graph}.json`, `the export is named ${download.suggestedFilename()}`);

    // A file whose node names a scene that is not there: refused, with the finding.
    const broken = { ...exported, id: `${graph}_broken`, nodes: [{ ...exported.nodes[0], toScene: 'nowhere' }] };
    await page.locator(tid('import-file')).setInputFiles({
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(broken)),
    });
    const problem = await textOf(page, tid('import-problem'));
    check(/nowhere/.test(problem) || (await page.locator(tid('import-findings')).count()) > 0, `a broken import says "${problem}"`);
    check((await page.locator(tid('import-confirm')).count()) === 0, 'a broken import can still be confirmed');
    const notJson = await (async () => {
      await page.locator(tid('import-file')).setInputFiles({ name: 'x.json', mimeType: 'application/json', buffer: Buffer.from('{ nope') });
      return textOf(page, tid('import-problem'));
    })();
    check(/not JSON/.test(notJson), `a file that is not JSON says "${notJson}"`);

    // The export imported back: offered as a copy (its id is taken), stored, opened, the same graph.
    await page.locator(tid('import-file')).setInputFiles({
      name: download.suggestedFilename(),
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(exported)),
    });
    const asId = await (await visible(page, tid('import-id'))).inputValue();
    check(asId === `${graph}_copy`, `the import is offered as ${asId}, not ${graph}_copy`);
    await page.locator(tid('import-confirm')).click();
    await until(async () => (await page.locator(tid('graph-select')).inputValue()) === asId, `graph-select to show ${asId}`);
    const copy = (await serverGraph(base, asId)).body;
    check(
      JSON.stringify({ ...copy, id: graph }) === JSON.stringify(exported),
      `the imported graph differs from the export:\n${JSON.stringify(copy)}\n${JSON.stringify(exported)}`,
    );
  },

  /** No emoji anywhere in the editor (canvas, panels, every tab, drawers), and enum values in words. */
  async no_emoji_labels({ page, base, graph }) {
    await openEditor(page, base, graph);
    const texts = [];
    const collect = async (where) =>
      texts.push([where, await page.evaluate(() => {
        const attrs = [...document.querySelectorAll('[title], [aria-label], [placeholder], option')].map(
          (el) => `${el.getAttribute('title') ?? ''} ${el.getAttribute('aria-label') ?? ''} ${el.getAttribute('placeholder') ?? ''} ${el.textContent ?? ''}`,
        );
        return `${document.body.innerText}\n${attrs.join('\n')}`;
      })]);
    await collect('canvas');
    const sub = await textOf(page, `${tid(`gen-node-${EXAMPLE_NODE}`)} .gen-node__sub`);
    check(sub.includes('Once per playthrough'), `the node on the canvas reads "${sub}", not "Once per playthrough"`);
    await selectNode(page, EXAMPLE_NODE);
    for (const tab of ['purpose', 'style', 'constraints', 'fallback', 'test']) {
      await openTab(page, tab);
      await collect(`tab ${tab}`);
    }
    await openTab(page, 'purpose');
    const shown = async (field) =>
      page.locator(tid(field)).evaluate((select) => select.options[select.selectedIndex]?.text ?? '');
    const purpose = await shown('field-purpose');
    check(purpose === 'Fill a gap', `field-purpose shows "${purpose}", not "Fill a gap"`);
    const strategy = await shown('field-strategy');
    check(strategy.startsWith('Once per playthrough'), `field-strategy shows "${strategy}"`);
    await (await visible(page, tid('add-arm'))).click();
    await visible(page, tid('arm-row-0'));
    await page.locator(tid('arm-pacing-0')).selectOption('fast');
    await collect('arms');
    await openTab(page, 'fallback');
    const mode = await shown('field-fallback-mode');
    check(mode === 'Play pre-made content', `field-fallback-mode shows "${mode}"`);
    await page.locator(tid('toggle-health')).click();
    await visible(page, tid('health-panel'));
    await page.locator(tid('warm-graph')).click();
    await collect('health and warm-up');
    await page.locator(tid('warm-graph')).click();
    await page.locator(tid('open-graphs')).click();
    await collect('graph list');
    for (const [where, text] of texts) {
      const found = EMOJI.exec(text);
      check(!found, `an emoji "${found?.[0]}" (U+${found?.[0].codePointAt(0).toString(16)}) in the ${where}: "${text.slice(Math.max(0, (found?.index ?? 0) - 40), (found?.index ?? 0) + 40)}"`);
    }
    const icons = await page.locator('svg.icon').count();
    check(icons > 5, `only ${icons} SVG icons on the page`);
    // The arm row is a real arm of the document: the node's arms hold it with the pacing override.
    await page.locator(tid('save')).click();
    await saveStatus(page, /^Saved/, '"Saved"');
    const arms = (await serverGraph(base, graph)).body.nodes.find((n) => n.id === EXAMPLE_NODE).config.arms;
    check(
      JSON.stringify(arms) === JSON.stringify([{ id: 'control', weight: 1, overrides: { style: { pacing: 'fast' } } }]),
      `the saved arms are ${JSON.stringify(arms)}`,
    );
  },
};

// --- running one ----------------------------------------------------------------------------------

/** Run the scenario `args.scenario` (scenario_kit.mjs's runScenario). */
export function run({ browser, args, log }) {
  return runScenario(scenarios, { browser, args, log });
}
