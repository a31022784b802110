// Pure edits of a scene graph (the document the editor saves). Each returns a new graph.
import type { GenerationNode, GenerationNodeConfig, Scene, SceneGraph, SceneRef } from "../api/types.gen";

export function sceneOf(graph: SceneGraph, id: string): Scene | undefined {
  return graph.scenes.find((s) => s.id === id);
}

export function nodeOf(graph: SceneGraph, id: string): GenerationNode | undefined {
  return (graph.nodes ?? []).find((n) => n.id === id);
}

/** The scene as a generation request names it: the server's `Scene.ref()` field for field (the content
 * digest of the cache key covers it, so the editor's request and the game's share an entry). */
export function sceneRef(scene: Scene | undefined): SceneRef | null {
  if (!scene) return null;
  const ref: SceneRef = { id: scene.id };
  if (scene.title) ref.title = scene.title;
  if (scene.characters?.length) ref.characters = scene.characters;
  if (scene.mood) ref.mood = scene.mood;
  if (scene.summary) ref.summary = scene.summary;
  if (scene.location) ref.location = scene.location;
  if (scene.emotionalState) ref.emotionalState = scene.emotionalState;
  if (scene.image) ref.image = scene.image;
  return ref;
}

function takenIds(graph: SceneGraph): Set<string> {
  return new Set([...graph.scenes.map((s) => s.id), ...(graph.nodes ?? []).map((n) => n.id)]);
}

export function freshId(graph: SceneGraph, base: string): string {
  const taken = takenIds(graph);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n += 1) {
    const candidate = `${base}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

export function defaultTransition(id: string, from: Scene | undefined, to: Scene | undefined): GenerationNodeConfig {
  return {
    id,
    generationType: "transition",
    purpose: "gap_fill",
    style: {
      moodFrom: from?.mood ?? null,
      moodTo: to?.mood ?? null,
      pacing: "medium",
      transitionType: "gradual",
    },
    duration: { min: 5, max: 30, target: 10 },
    constraints: { rating: "PG", requiredElements: [], avoidElements: [], contentRules: [] },
    strategy: "per_playthrough",
    fallback: { mode: "skip" },
    enabled: true,
    version: 1,
  };
}

/** A Generation Node between two scenes. It replaces a direct edge between them (`replaced`), so there is
 * one path from `from` to `to` and it is clear which one plays. */
export function addGenerationNode(
  graph: SceneGraph,
  from: string,
  to: string,
): { graph: SceneGraph; id: string; replaced: boolean } {
  const id = freshId(graph, `gen-${from}-${to}`);
  const node: GenerationNode = {
    id,
    fromScene: from,
    toScene: to,
    config: defaultTransition(id, sceneOf(graph, from), sceneOf(graph, to)),
  };
  const edges = graph.edges ?? [];
  const kept = edges.filter((e) => !(e.source === from && e.target === to));
  const replaced = kept.length !== edges.length;
  return {
    graph: { ...graph, nodes: [...(graph.nodes ?? []), node], ...(replaced ? { edges: kept } : {}) },
    id,
    replaced,
  };
}

/** Why `next` cannot be the new id of `current` (null: it can). Ids are unique across scenes and nodes. */
export function renameProblem(graph: SceneGraph, current: string, next: string): string | null {
  if (next === current) return null;
  if (!next) return "An id cannot be empty.";
  if (next.length > 200) return "An id is at most 200 characters.";
  if (/\s/.test(next) || [...next].some((ch) => ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127)) return "An id has no spaces or control characters (use _ or -).";
  if (takenIds(graph).has(next)) return `"${next}" is already the id of another scene or node.`;
  return null;
}

/** Renames a scene or a Generation Node, and every reference to it: a scene's start, the nodes and edges
 * that name it; a node's own config id. The graph is returned unchanged when the rename is refused. */
export function renameId(graph: SceneGraph, current: string, next: string): SceneGraph {
  if (next === current || renameProblem(graph, current, next) !== null) return graph;
  if (sceneOf(graph, current)) {
    const swap = (id: string) => (id === current ? next : id);
    return {
      ...graph,
      start: graph.start === current ? next : (graph.start ?? null),
      scenes: graph.scenes.map((s) => (s.id === current ? { ...s, id: next } : s)),
      nodes: (graph.nodes ?? []).map((n) =>
        n.fromScene === current || n.toScene === current
          ? { ...n, fromScene: swap(n.fromScene), toScene: swap(n.toScene) }
          : n,
      ),
      edges: (graph.edges ?? []).map((e) =>
        e.source === current || e.target === current ? { ...e, source: swap(e.source), target: swap(e.target) } : e,
      ),
    };
  }
  if (nodeOf(graph, current)) {
    return {
      ...graph,
      nodes: (graph.nodes ?? []).map((n) =>
        n.id === current
          ? { ...n, id: next, config: { ...n.config, id: n.config.id === current || !n.config.id ? next : n.config.id } }
          : n,
      ),
    };
  }
  return graph;
}

/** A copy of a node: a new id, version 1 and no cache key of its own, so it shares nothing cached. */
export function duplicateNode(graph: SceneGraph, id: string): { graph: SceneGraph; id: string } | null {
  const node = nodeOf(graph, id);
  if (!node) return null;
  const copyId = freshId(graph, `${id}-copy`);
  const config: GenerationNodeConfig = { ...structuredClone(node.config), id: copyId, version: 1 };
  const copy: GenerationNode = { ...node, id: copyId, config };
  return { graph: { ...graph, nodes: [...(graph.nodes ?? []), copy] }, id: copyId };
}

export function updateConfig(
  graph: SceneGraph,
  id: string,
  update: (config: GenerationNodeConfig) => GenerationNodeConfig,
): SceneGraph {
  return {
    ...graph,
    nodes: (graph.nodes ?? []).map((n) => (n.id === id ? { ...n, config: update(n.config) } : n)),
  };
}

export function updateScene(graph: SceneGraph, id: string, patch: Partial<Scene>): SceneGraph {
  return { ...graph, scenes: graph.scenes.map((s) => (s.id === id ? { ...s, ...patch } : s)) };
}

export function addScene(graph: SceneGraph): { graph: SceneGraph; id: string } {
  const id = freshId(graph, `scene_${graph.scenes.length + 1}`);
  return { graph: { ...graph, scenes: [...graph.scenes, { id, title: "New scene" }] }, id };
}

export function deleteGenerationNode(graph: SceneGraph, id: string): SceneGraph {
  return { ...graph, nodes: (graph.nodes ?? []).filter((n) => n.id !== id) };
}

/** Removes a scene and everything attached to it (the nodes and edges that name it). */
export function deleteScene(graph: SceneGraph, id: string): SceneGraph {
  if (graph.scenes.length <= 1) return graph; // a graph needs a scene
  const scenes = graph.scenes.filter((s) => s.id !== id);
  return {
    ...graph,
    start: graph.start === id ? (scenes[0]?.id ?? null) : (graph.start ?? null),
    scenes,
    nodes: (graph.nodes ?? []).filter((n) => n.fromScene !== id && n.toScene !== id),
    edges: (graph.edges ?? []).filter((e) => e.source !== id && e.target !== id),
  };
}

export function deleteEdge(graph: SceneGraph, source: string, target: string): SceneGraph {
  return { ...graph, edges: (graph.edges ?? []).filter((e) => !(e.source === source && e.target === target)) };
}

/** Comma-separated text to a list (blank items dropped). */
export function parseList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
