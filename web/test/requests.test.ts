import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BudgetReport, SceneGraph } from "../src/api/types.gen";
import { addGenerationNode } from "../src/state/graphOps";
import { budgetBlock, buildRequest } from "../src/state/requests";
// What the server's `node_request` makes of these graphs (a by-reference call, a warm-up, `dyngen play`):
// written by tests/unit/test_editor_requests.py, which keeps it in step with the Python.
import fixture from "./fixtures/node_requests.json";

const scenes: SceneGraph = {
  id: "g",
  scenes: [
    { id: "cafe", title: "Cafe", mood: "romantic", summary: "coffee", image: "cafe.png" },
    { id: "roof", title: "Roof", mood: "intense" },
  ],
};

const report = (over: Partial<BudgetReport> = {}): BudgetReport => ({
  period: "day",
  period_start: "2026-11-25T00:00:00Z",
  period_end: "2026-11-26T00:00:00Z",
  global: { limit: null, spent: 0, reserved: 0, remaining: null, exhausted: false },
  nodes: [],
  history: [],
  ...over,
});

describe("Test Generation request", () => {
  test("it carries the node's config, its two scenes and the player, as a game would send it", () => {
    const { graph, id } = addGenerationNode(scenes, "cafe", "roof");
    const node = graph.nodes?.find((n) => n.id === id);
    assert.ok(node);
    const request = buildRequest(graph, node, { playthroughId: "p1", playerId: "", provider: "", fail: "" });
    assert.equal(request.type, "transition");
    assert.equal(request.node_id, id);
    assert.deepEqual(request.from_scene, {
      id: "cafe",
      title: "Cafe",
      mood: "romantic",
      summary: "coffee",
      image: "cafe.png",
    });
    assert.deepEqual(request.to_scene, { id: "roof", title: "Roof", mood: "intense" });
    assert.deepEqual(request.player_context, { playthroughId: "p1", playerId: null });
    assert.equal(request.strategy, "per_playthrough");
    assert.equal("provider" in request, false, "no provider: the server's default");
    assert.equal("simulate" in request, false);
  });

  test("a forced failure and a provider are sent when chosen", () => {
    const { graph, id } = addGenerationNode(scenes, "cafe", "roof");
    const node = graph.nodes?.find((n) => n.id === id);
    assert.ok(node);
    const request = buildRequest(graph, node, {
      playthroughId: "p",
      playerId: "q",
      provider: "builtin_video",
      fail: "GEN_TIMEOUT",
    });
    assert.equal(request.provider, "builtin_video");
    assert.deepEqual(request.simulate, { fail_with: "GEN_TIMEOUT" });
  });

  test("the graph's lexicon is sent, so the element check reads it as at run time", () => {
    const { graph, id } = addGenerationNode(scenes, "cafe", "roof");
    const node = graph.nodes?.find((n) => n.id === id);
    assert.ok(node);
    const plain = buildRequest(graph, node, { playthroughId: "p", playerId: "", provider: "", fail: "" });
    assert.equal("lexicon" in plain, false);
    const lexicon = { phone_ring: ["her cell trills"] };
    const request = buildRequest({ ...graph, lexicon }, node, { playthroughId: "p", playerId: "", provider: "", fail: "" });
    assert.deepEqual(request.lexicon, lexicon);
  });
});

/** The JSON as the server reads it: a null is an absent field. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

describe("Test Generation request is the game's request (issue 14: one cache entry for both)", () => {
  for (const c of fixture.cases) {
    test(`${c.name}: buildRequest makes what the server's node_request makes`, () => {
      const graph = c.graph as unknown as SceneGraph;
      const node = graph.nodes?.find((n) => n.id === c.node_id);
      assert.ok(node, c.node_id);
      const request = buildRequest(graph, node, {
        playthroughId: c.player.playthroughId,
        playerId: c.player.playerId,
        provider: "",
        fail: "",
      });
      assert.deepEqual(withoutNulls(request), c.request);
    });
  }

  test("a provider chosen in the panel replaces the node's own", () => {
    const world = fixture.cases.find((c) => c.name === "world");
    assert.ok(world);
    const graph = world.graph as unknown as SceneGraph;
    const node = graph.nodes?.find((n) => n.id === world.node_id);
    assert.ok(node);
    assert.equal(node.config.provider, "builtin");
    const options = { playthroughId: "p", playerId: "", provider: "", fail: "" as const };
    assert.equal(buildRequest(graph, node, options).provider, "builtin");
    assert.equal(buildRequest(graph, node, { ...options, provider: "openai" }).provider, "openai");
  });
});

describe("budget block", () => {
  test("a spent node budget names the node, the amounts and when it resets", () => {
    const spent = report({
      nodes: [{ node_id: "n", limit: 0.5, spent: 0.5, reserved: 0.1, remaining: 0, exhausted: true }],
    });
    const reason = budgetBlock({ kind: "ok", report: spent }, "n");
    assert.ok(reason);
    assert.match(reason, /node n used \$0\.60 of \$0\.50 this day/);
    assert.equal(budgetBlock({ kind: "ok", report: spent }, "other"), null);
  });

  test("a spent global budget blocks every node", () => {
    const global = { limit: 1, spent: 1, reserved: 0, remaining: 0, exhausted: true };
    assert.match(budgetBlock({ kind: "ok", report: report({ global }) }, "n") ?? "", /Global budget spent/);
  });

  test("no report (no budgets on this server) blocks nothing", () => {
    assert.equal(budgetBlock({ kind: "unavailable", message: "404" }, "n"), null);
    assert.equal(budgetBlock({ kind: "ok", report: report() }, "n"), null);
  });
});
