// The graph's world as pure edits: characters and lore added, renamed and removed, with every place that
// names a character (scenes, relationships) kept in step.
import type { SceneGraph } from "../api/types.gen";

/** `base`, or `base_2`, `base_3`, ...: an id no character or lore entry of the graph has. */
export function worldId(graph: SceneGraph, base: string): string {
  const taken = new Set([...(graph.characters ?? []).map((c) => c.id), ...(graph.lore ?? []).map((l) => l.id)]);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n += 1) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

export function addCharacter(graph: SceneGraph): SceneGraph {
  const id = worldId(graph, "character");
  return { ...graph, characters: [...(graph.characters ?? []), { id, name: "New character", relationships: [] }] };
}

export function addLore(graph: SceneGraph): SceneGraph {
  return { ...graph, lore: [...(graph.lore ?? []), { id: worldId(graph, "lore"), text: "", tags: [] }] };
}

/** The character at `index` gets id `to`; scenes and relationships that named its old id name the new one. */
export function renameCharacter(graph: SceneGraph, index: number, to: string): SceneGraph {
  const from = (graph.characters ?? [])[index]?.id;
  if (from === undefined) return graph;
  return {
    ...graph,
    characters: (graph.characters ?? []).map((c, i) => ({
      ...c,
      id: i === index ? to : c.id,
      relationships: (c.relationships ?? []).map((r) => (r.to === from ? { ...r, to } : r)),
    })),
    scenes: graph.scenes.map((s) =>
      s.characters?.includes(from) ? { ...s, characters: s.characters.map((c) => (c === from ? to : c)) } : s,
    ),
  };
}

/** The character at `index` leaves the graph, and the scenes that named it as present. */
export function removeCharacter(graph: SceneGraph, index: number): SceneGraph {
  const gone = (graph.characters ?? [])[index]?.id;
  return {
    ...graph,
    characters: (graph.characters ?? []).filter((_, i) => i !== index),
    scenes: graph.scenes.map((s) =>
      gone !== undefined && s.characters?.includes(gone)
        ? { ...s, characters: s.characters.filter((c) => c !== gone) }
        : s,
    ),
  };
}
