// What Test Generation sends (the request a game would send for the node between its two scenes) and
// whether the node's budget lets it run.
//
// The request is the server's `domain.graph.node_request` for the node and player, field for field, so
// Test Generation, a warm-up and a game's by-reference call share cache entries (issue 14).
// web/test/requests.test.ts checks it against what the Python makes (web/test/fixtures/node_requests.json).
import type {
  BudgetReport,
  Character,
  GenerateContentRequest,
  GenerationNode,
  Scene,
  SceneGraph,
  Simulate,
} from "../api/types.gen";
import { sceneOf, sceneRef } from "./graphOps";

export type FailCode = NonNullable<Simulate["fail_with"]>;
export const FAIL_CODES: FailCode[] = [
  "GEN_TIMEOUT",
  "GEN_CONSTRAINT_FAIL",
  "GEN_PROVIDER_UNAVAILABLE",
  "GEN_EMPTY_OUTPUT",
];

export type BudgetState =
  | { kind: "unknown" }
  | { kind: "unavailable"; message: string }
  | { kind: "ok"; report: BudgetReport }
  | { kind: "error"; message: string };

/** The characters present in the scenes, then those they have a relationship with, in the graph's order
 * (the server's `cast_of`); unknown ids are left out. */
export function castOf(graph: SceneGraph, scenes: (Scene | undefined)[]): Character[] {
  const characters = graph.characters ?? [];
  const present = new Set(scenes.flatMap((s) => s?.characters ?? []));
  const related = new Set(
    characters.filter((c) => present.has(c.id)).flatMap((c) => (c.relationships ?? []).map((r) => r.to)),
  );
  return characters.filter((c) => present.has(c.id) || related.has(c.id));
}

export function buildRequest(
  graph: SceneGraph,
  node: GenerationNode,
  options: { playthroughId: string; playerId: string; provider: string; fail: FailCode | "" },
): GenerateContentRequest {
  const c = node.config;
  const from = sceneOf(graph, node.fromScene);
  const to = sceneOf(graph, node.toScene);
  const request: GenerateContentRequest = {
    type: c.generationType,
    purpose: c.purpose,
    node_id: c.id || node.id,
    from_scene: sceneRef(from),
    to_scene: sceneRef(to),
    style: c.style,
    duration: c.duration,
    constraints: c.constraints,
    strategy: c.strategy,
    seed_source: c.seedSource ?? null,
    seed: c.seed ?? null,
    fallback: c.fallback,
    template_id: c.templateId ?? null,
    version: c.version,
    player_context: {
      playthroughId: options.playthroughId || null,
      playerId: options.playerId || null,
    },
    social_context: c.socialContext ?? null,
    variants: c.variants ?? null,
    rules: c.rules ?? null,
    hybrid: c.hybrid ?? null,
    refresh_after_s: c.refreshAfterS ?? null,
    arms: c.arms ?? null,
    prompt: c.prompt ?? null,
    lore_tags: c.loreTags ?? null,
  };
  // The graph's world: the cast of the two scenes and every lore entry (the server picks the entries the
  // node's tags and scenes call for once the node is resolved).
  const cast = castOf(graph, [from, to]);
  if (cast.length) request.characters = cast;
  if (graph.lore?.length) request.lore = graph.lore;
  // The graph's own phrases per element: the server checks the content with them, as it does at run time.
  if (graph.lexicon) request.lexicon = graph.lexicon;
  // The provider chosen in the panel, else the node's own; neither: the server's default.
  const provider = options.provider || c.provider;
  if (provider) request.provider = provider;
  if (options.fail) request.simulate = { fail_with: options.fail };
  return request;
}

export function budgetBlock(state: BudgetState, nodeId: string): string | null {
  if (state.kind !== "ok") return null;
  const { report } = state;
  const node = report.nodes.find((n) => n.node_id === nodeId);
  const money = (v: number | null) => (v === null ? "∞" : `$${v.toFixed(2)}`);
  if (node?.exhausted) {
    return `Budget spent: node ${nodeId} used ${money(node.spent + node.reserved)} of ${money(node.limit)} this ${report.period} (resets ${new Date(report.period_end).toLocaleString()}).`;
  }
  if (report.global.exhausted) {
    return `Global budget spent: ${money(report.global.spent + report.global.reserved)} of ${money(report.global.limit)} this ${report.period} (resets ${new Date(report.period_end).toLocaleString()}).`;
  }
  return null;
}
