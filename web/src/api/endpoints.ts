// One function per HTTP route the editor uses.
import { request, requestText, send } from "./client";
import type {
  BudgetReport,
  DslResult,
  GenerateContentRequest,
  GenerateContentResponse,
  GenerationNodeConfig,
  GenerationRecord,
  GenerationValidationResult,
  GraphHealth,
  GraphSummary,
  InvalidateResult,
  Lexicon,
  NodeArms,
  NodeStats,
  PromptPreview,
  PromptRequest,
  ReviewResult,
  SavedGraph,
  SceneGraph,
  TemplateListing,
  ValidationContext,
  WarmRequest,
  WarmupReport,
} from "./types.gen";

const enc = encodeURIComponent;

export interface ServiceHealth {
  status: string;
  providers?: Record<string, { status: string }>;
  dev_tools?: boolean;
}

export const api = {
  health: () => request<ServiceHealth>("/api/health"),
  listGraphs: () => request<GraphSummary[]>("/api/graphs"),
  /** The graph and its version (the `X-Graph-Version` header). */
  getGraph: async (id: string): Promise<{ graph: SceneGraph; version: number | null }> => {
    const response = await send(`/api/graphs/${enc(id)}`);
    const version = Number(response.headers.get("X-Graph-Version"));
    return {
      graph: (await response.json()) as SceneGraph,
      version: Number.isInteger(version) && version > 0 ? version : null,
    };
  },
  createGraph: (graph: SceneGraph) => request<SavedGraph>("/api/graphs", { method: "POST", body: graph }),
  saveGraph: (graph: SceneGraph) => request<SavedGraph>(`/api/graphs/${enc(graph.id)}`, { method: "PUT", body: graph }),
  /** The prompt a node's provider would get (the graph as edited, a player); nothing is generated. */
  nodePrompt: (graphId: string, nodeId: string, body: PromptRequest, signal?: AbortSignal) =>
    request<PromptPreview>(`/api/graphs/${enc(graphId)}/nodes/${enc(nodeId)}/prompt`, {
      method: "POST",
      body,
      ...(signal ? { signal } : {}),
    }),
  graphHealth: (graph: SceneGraph, signal?: AbortSignal) =>
    request<GraphHealth>("/api/health/graph", { method: "POST", body: graph, ...(signal ? { signal } : {}) }),
  // No context: the editor checks the node as designed; the player-specific checks belong to a request.
  validate: (config: GenerationNodeConfig, signal?: AbortSignal) =>
    request<GenerationValidationResult>("/api/validate-generation-config", {
      method: "POST",
      body: { config },
      ...(signal ? { signal } : {}),
    }),
  /** The deeper check for one request: the node with its scenes and a player (the checks a game's call meets). */
  validateInContext: (config: GenerationNodeConfig, context: ValidationContext) =>
    request<GenerationValidationResult>("/api/validate-generation-config", {
      method: "POST",
      body: { config, context },
    }),
  compileRules: (source: string, signal?: AbortSignal) =>
    request<DslResult>("/api/dsl/compile", { method: "POST", body: { source }, ...(signal ? { signal } : {}) }),
  nodeStats: (nodeId: string) => request<NodeStats>(`/api/nodes/${enc(nodeId)}/stats`),
  templates: () => request<TemplateListing>("/api/templates"),
  template: (id: string) => request<GenerationNodeConfig>(`/api/templates/${enc(id)}`),
  lexicon: () => request<Lexicon>("/api/lexicon"),
  generation: (id: string) => request<GenerationRecord>(`/api/generations/${enc(id)}`),
  invalidate: (nodeId: string) =>
    request<InvalidateResult>("/api/cache/invalidate", { method: "POST", body: { node_id: nodeId } }),
  /** The answer, and its seed as written (a 64-bit seed does not fit a JS number). */
  generate: async (
    body: GenerateContentRequest,
  ): Promise<{ response: GenerateContentResponse; seedText: string | null }> => {
    const text = await requestText("/api/generate-content", { method: "POST", body });
    const seed = /"seed"\s*:\s*(\d+)/.exec(text);
    return { response: JSON.parse(text) as GenerateContentResponse, seedText: seed?.[1] ?? null };
  },
  budgets: (nodeId?: string) => request<BudgetReport>(nodeId ? `/api/budgets?node_id=${enc(nodeId)}` : "/api/budgets"),
  arms: (nodeId: string) => request<NodeArms>(`/api/nodes/${enc(nodeId)}/arms`),
  warm: (graphId: string, body: WarmRequest) =>
    request<{ warmup_id: string; status: string }>(`/api/graphs/${enc(graphId)}/warm`, { method: "POST", body }),
  warmup: (warmupId: string) => request<WarmupReport>(`/api/warmups/${enc(warmupId)}`),
  cancelWarmup: (warmupId: string) =>
    request<WarmupReport>(`/api/warmups/${enc(warmupId)}/cancel`, { method: "POST", body: {} }),
  review: (generationId: string, score: number) =>
    request<ReviewResult>(`/api/generations/${enc(generationId)}/review`, { method: "POST", body: { score } }),
};
