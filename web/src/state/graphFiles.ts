// Graphs as files and as a list: the export's file name and text, an import's first reading (before the
// server checks it), the id an import is stored under, and the graph list's search. Pure functions,
// tested in test/graphFiles.test.ts.
import type { GraphSummary, SceneGraph } from "../api/types.gen";

/** The graph document as a file: its name and its text (the wire JSON, two-space indented). */
export function exportFile(graph: SceneGraph): { name: string; text: string } {
  const safe = graph.id.replace(/[^A-Za-z0-9_.-]+/g, "_") || "graph";
  return { name: `${safe}.json`, text: `${JSON.stringify(graph, null, 2)}\n` };
}

export type ImportReading = { kind: "graph"; graph: SceneGraph } | { kind: "problem"; message: string };

/** A file's text read as a scene graph, or why it is not one (the server's checks come after). */
export function readGraphFile(text: string): ImportReading {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { kind: "problem", message: `The file is not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!data || typeof data !== "object" || Array.isArray(data))
    return { kind: "problem", message: "The file holds JSON, but not a graph (a graph is one object)." };
  const item = data as Record<string, unknown>;
  if (!("scenes" in item) && "generationType" in item)
    return {
      kind: "problem",
      message: "This is a Generation Node config, not a graph: a graph has scenes (apply it as a template instead).",
    };
  if (!Array.isArray(item.scenes))
    return { kind: "problem", message: 'The file is not a graph: it has no "scenes" list.' };
  if (typeof item.id !== "string" || !item.id.trim())
    return { kind: "problem", message: 'The graph has no "id": give it one in the file, e.g. "id": "my_story".' };
  return { kind: "graph", graph: data as SceneGraph };
}

/** The id an import is stored under by default: its own, or `<id>_copy` (then `_copy2`, ...) when taken. */
export function importId(id: string, taken: readonly string[]): string {
  if (!taken.includes(id)) return id;
  for (let n = 1; ; n += 1) {
    const candidate = `${id}_copy${n === 1 ? "" : n}`;
    if (!taken.includes(candidate)) return candidate;
  }
}

/** The graphs whose title, id or author holds every word of the query (any case, any order). */
export function searchGraphs(graphs: readonly GraphSummary[], query: string): GraphSummary[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...graphs];
  return graphs.filter((g) => {
    const text = `${g.title} ${g.id} ${g.author ?? ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
}
