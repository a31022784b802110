// Browser scenarios of play mode, scene images and editable budgets (issue 19), run like scenarios.mjs (by
// driver.mjs, in fresh browser contexts of the session's chromium). By hand:
//
//   node driver.mjs --once designer_scenarios.mjs scenario=<scenario> base=http://127.0.0.1:PORT \
//        screenshot=OUT.png graph=GRAPH_ID
//
// Elements are found by their data-testid names. `run` answers true when the scenario holds, else false,
// having logged what failed.

import { FLAGS, check, runScenario, textOf, tid, until, visible } from './scenario_kit.mjs';

export { FLAGS }; // chromium's switches, for driver.mjs

const PLAY_DEADLINE_MS = 60000; // over the node's 40 s deadline (then its fallback plays); never asserted

async function getJson(base, path) {
  const response = await fetch(`${base}${path}`);
  check(response.ok, `GET ${path} answered ${response.status}`);
  return response.json();
}

async function openEditor(page, base, graphId) {
  await page.goto(`${base}/?graph=${encodeURIComponent(graphId)}`);
  await visible(page, tid('canvas'), 15000);
  await until(
    async () => (await page.locator(tid('graph-select')).inputValue()) === graphId,
    `graph-select to show ${graphId}`,
  );
}

/** A small PNG (a blue 48x32 picture), made here so the test needs no file. */
function png() {
  return Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAPklEQVR4nO3OMQHAIADAMEDIhKEYWfv39GRHoiDz2Wf8ybod+BIqQkWoCBWhIlSEilARKkJFqAgVoSJUhMoL/F4BgM26NRAAAAAASUVORK5CYII=',
    'base64',
  );
}

const scenarios = {
  /** Play the graph from its start scene through three scenes: a Generation Node (video or dialogue, with
   * its cache tier), a branch where the player chooses, a plain edge, and the end. */
  async play_three_scenes({ page, base, graph, log }) {
    await openEditor(page, base, graph);
    await (await visible(page, tid('open-play'))).click();
    await visible(page, tid('play-panel'));
    await visible(page, tid('play-scene-cafe_date'));
    await (await visible(page, tid('play-flags'))).fill('met_theo=true');
    await (await visible(page, tid('play-affinity'))).fill('40');

    await (await visible(page, tid('play-go-rooftop_chase'))).click();
    const first = await visible(page, tid('play-transition'), PLAY_DEADLINE_MS);
    check((await first.getAttribute('data-node')) === 'cafe_to_rooftops', 'the first step plays cafe_to_rooftops');
    const cache = await first.getAttribute('data-cache');
    check(cache === 'miss', `a fresh playthrough's first step is a cache miss, not ${cache}`);
    const source = await textOf(page, tid('play-cache'));
    check(/cache miss|not generated/.test(source), `the step says where it came from: "${source}"`);
    const fallback = await first.getAttribute('data-fallback');
    if (fallback) {
      check((await textOf(page, tid('play-fallback'))).includes(fallback), 'an applied fallback is named');
    } else {
      const played = await until(
        async () =>
          (await page.locator(tid('play-video')).count()) ? 'video' : (await page.locator(tid('play-dialogue')).count()) ? 'dialogue' : null,
        'a video or dialogue in the first step',
      );
      if (played === 'video') {
        const track = await page.locator(`${tid('play-video')} track`).count();
        check(track === 1, 'the video carries its captions track');
      }
      log(`first step played as ${played}`);
    }
    await visible(page, tid('play-scene-rooftop_chase'));

    // A branch: two exits leave the rooftops; the player picks one.
    const choices = await page.locator('[data-testid^="play-go-"]').count();
    check(choices === 2, `the rooftops offer 2 exits, not ${choices}`);
    await (await visible(page, tid('play-go-dawn_aftermath'))).click();
    await visible(page, tid('play-scene-dawn_aftermath'), PLAY_DEADLINE_MS);
    const steps = await page.locator(tid('play-transition')).count();
    check(steps === 2, `two steps were played, not ${steps}`);
    check(
      (await page.locator(tid('play-transition')).nth(1).textContent()).includes('plain edge'),
      'the plain edge says nothing plays',
    );
    await visible(page, tid('play-end'));

    // Again in the same playthrough: what was generated comes from the cache, and the step says which tier.
    await (await visible(page, tid('play-restart'))).click();
    await until(async () => (await page.locator(tid('play-transition')).count()) === 0, 'the restart to clear the steps');
    await (await visible(page, tid('play-go-rooftop_chase'))).click();
    const again = await visible(page, tid('play-transition'), PLAY_DEADLINE_MS);
    const tier = await again.getAttribute('data-cache');
    if (!fallback) {
      check(tier !== 'miss', `the replayed step is served from the cache, not ${tier}`);
      check((await textOf(page, tid('play-cache'))).startsWith('cache hit'), 'the step names the cache hit');
    }
    log(`replayed step: cache ${tier}`);
  },

  /** Upload a scene image in the scene panel: it shows there and on the canvas, and is saved as the scene's image. */
  async upload_image({ page, base, graph }) {
    await openEditor(page, base, graph);
    await (await visible(page, tid('scene-node-dawn_aftermath'))).click();
    await visible(page, tid('scene-panel'));
    await page.locator(tid('image-file')).setInputFiles({ name: 'dawn.png', mimeType: 'image/png', buffer: png() });
    const thumb = await visible(page, `${tid('scene-panel')} ${tid('scene-thumb')}`);
    await until(async () => thumb.evaluate((img) => img.complete && img.naturalWidth === 48), 'the thumbnail to load');
    const onCanvas = await visible(page, `${tid('scene-node-dawn_aftermath')} ${tid('scene-thumb')}`);
    await until(async () => onCanvas.evaluate((img) => img.naturalWidth === 48), 'the canvas thumbnail to load');
    await page.keyboard.press('Control+s');
    const saved = await until(async () => {
      const body = await getJson(base, `/api/graphs/${encodeURIComponent(graph)}`);
      const image = body.scenes.find((s) => s.id === 'dawn_aftermath').image;
      return /^[0-9a-f]{32}$/.test(image ?? '') ? image : null;
    }, 'the saved scene to name the uploaded artifact');
    const listed = await getJson(base, '/api/artifacts');
    check(
      listed.images.some((i) => i.artifact_id === saved && i.name === 'dawn.png' && i.width === 48),
      `the upload is listed as a stored image: ${JSON.stringify(listed.images.slice(0, 3))}`,
    );
    await (await visible(page, tid('image-choose'))).click();
    await visible(page, `${tid('image-gallery')} img`);
  },

  /** The budget page explains itself, and a node's limit is set, shown, kept in history and reset. */
  async edit_budget({ page, base, graph }) {
    const before = await getJson(base, '/api/budgets');
    await openEditor(page, base, graph);
    await (await visible(page, tid('open-budgets'))).click();
    const explainer = await textOf(page, tid('budget-explainer'));
    if (!before.limited) check(explainer.includes('No budget is set'), `a fresh install says so: "${explainer}"`);
    check(explainer.includes('DYNGEN_BUDGET_GLOBAL_CAP'), 'the page names where defaults come from');
    const global = await textOf(page, tid('budget-global'));
    check(!/remaining no limit/.test(global), `no "remaining no limit": "${global}"`);

    const row = tid('limit-node_cafe_to_rooftops');
    if (!(await page.locator(row).count())) {
      await page.locator(tid('limit-add-node')).selectOption('cafe_to_rooftops');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
    }
    await (await visible(page, `${row} ${tid('limit-node_cafe_to_rooftops-input')}`)).fill('2.5');
    await (await visible(page, tid('limit-node_cafe_to_rooftops-set'))).click();
    await until(
      async () => (await textOf(page, tid('limit-node_cafe_to_rooftops-value'))) === '$2.5',
      'the new limit on the page',
    );
    check((await page.locator(row).getAttribute('data-source')) === 'editor', 'the limit reads "set here"');
    const after = await getJson(base, '/api/budgets');
    const stored = after.limits.find((l) => l.scope === 'node:cafe_to_rooftops');
    check(stored.limit === 2.5 && stored.source === 'editor', `the server has ${JSON.stringify(stored)}`);
    check(after.limited, 'a budget applies now');

    await (await visible(page, tid('limit-history-toggle'))).click();
    await until(async () => (await textOf(page, tid('limit-history'))).includes('$2.5'), 'the change in the history');
    await page.locator(row).getByRole('button', { name: 'Use default' }).click();
    await until(async () => (await page.locator(row).getAttribute('data-source')) !== 'editor', 'the default back');
  },
};

/** Run the scenario `args.scenario` (scenario_kit.mjs's runScenario). */
export function run({ browser, args, log }) {
  return runScenario(scenarios, { browser, args, log }, { needsGraph: true, pageErrorsFail: true });
}
