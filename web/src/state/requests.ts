// What Test Generation sends (the request a game would send for the node between its two scenes) and
// whether the node's budget lets it run.
import type { BudgetReport, GenerateContentRequest, GenerationNode, SceneGraph, Simulate } from "../api/types.gen";
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

export function buildRequest(
  graph: SceneGraph,
  node: GenerationNode,
  options: { playthroughId: string; playerId: string; provider: string; fail: FailCode | "" },
): GenerateContentRequest {
  const c = node.config;
  const request: GenerateContentRequest = {
    type: c.generationType,
    purpose: c.purpose,
    node_id: c.id || node.id,
    from_scene: sceneRef(sceneOf(graph, node.fromScene)),
    to_scene: sceneRef(sceneOf(graph, node.toScene)),
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
  };
  // The graph's own phrases per element: the server checks the content with them, as it does at run time.
  if (graph.lexicon) request.lexicon = graph.lexicon;
  if (options.provider) request.provider = options.provider;
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
