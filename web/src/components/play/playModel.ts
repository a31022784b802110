// Play mode's rules without React: a saved graph's exits (as the server orders them), the player's context
// from the small panel's text, and how each step's answer is summed up (cache tier, fallback).
import type {
  AdvanceResponse,
  GenerateContentResponse,
  PlayerContext,
  SceneGraph,
  SocialContext,
} from "../../api/types.gen";

export interface Exit {
  target: string;
  /** The Generation Node on the way (an edge with `generate: true` is `edge:<from>-><to>`), or null. */
  via: string | null;
}

/** What can follow a scene, one per target scene: the enabled Generation Nodes leaving it (generated
 * edges count), then the plain edges (the server's `SceneGraph.exits`). */
export function exitsOf(graph: SceneGraph, sceneId: string): Exit[] {
  const found = new Map<string, Exit>();
  for (const node of graph.nodes ?? []) {
    if (node.fromScene === sceneId && node.config.enabled !== false && !found.has(node.toScene))
      found.set(node.toScene, { target: node.toScene, via: node.id });
  }
  for (const edge of graph.edges ?? []) {
    if (edge.source === sceneId && edge.meta?.generate && !found.has(edge.target))
      found.set(edge.target, { target: edge.target, via: `edge:${edge.source}->${edge.target}` });
  }
  for (const edge of graph.edges ?? []) {
    if (edge.source === sceneId && !found.has(edge.target)) found.set(edge.target, { target: edge.target, via: null });
  }
  return [...found.values()];
}

export type Scalar = boolean | number | string;

/** `key=value` lines as a map: true/false and numbers as such, anything else as text; blank lines and
 * lines without `=` are left out. */
export function parsePairs(text: string): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const at = line.indexOf("=");
    if (!line || at <= 0) continue;
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (value === "true" || value === "false") out[key] = value === "true";
    else if (value !== "" && Number.isFinite(Number(value))) out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}

export interface PlayerForm {
  playthroughId: string;
  playerId: string;
  flags: string;
  choices: string;
  affinity: string;
}

export function playerContext(form: PlayerForm): PlayerContext {
  const flags = parsePairs(form.flags);
  const choices = parsePairs(form.choices);
  return {
    playthroughId: form.playthroughId || null,
    playerId: form.playerId || null,
    flags: Object.keys(flags).length ? flags : null,
    choices: Object.keys(choices).length ? choices : null,
  };
}

/** The player's affinity as the social context (null: the node's own social context applies). */
export function socialContext(form: PlayerForm): SocialContext | null {
  const affinity = Number(form.affinity);
  if (form.affinity.trim() === "" || !Number.isFinite(affinity)) return null;
  return { relationshipValues: { affinity } };
}

/** Where a step's content came from, in a few words: the cache tier or a fresh generation, and the fallback. */
export function sourceOf(answer: GenerateContentResponse): { cache: string; fallback: string | null } {
  const cache = answer.cache.hit
    ? `cache hit (${answer.cache.tier ?? "cache"}${answer.cache.stale ? ", stale" : ""})`
    : answer.fallback?.applied
      ? "not generated"
      : answer.status === "complete"
        ? `cache miss: generated${answer.provider ? ` by ${answer.provider}` : ""}`
        : `cache miss (${answer.status})`;
  const fallback = answer.fallback?.applied
    ? `fallback ${answer.fallback.mode}${answer.error ? ` after ${answer.error.code}` : ""}`
    : null;
  return { cache, fallback };
}

export type Step = { kind: "start"; scene: string } | { kind: "step"; answer: AdvanceResponse };

/** The scene the player is in after `steps` (null once a step led nowhere). */
export function currentScene(steps: Step[]): string | null {
  const last = steps[steps.length - 1];
  if (!last) return null;
  return last.kind === "start" ? last.scene : (last.answer.scene?.id ?? null);
}
