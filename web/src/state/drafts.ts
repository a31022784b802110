// Unsaved work survives a reload or a crash: the current document of each graph is kept in localStorage
// until it is saved or discarded, and offered back when the graph is opened again.
import type { SceneGraph } from "../api/types.gen";

export interface Draft {
  graph: SceneGraph;
  savedAt: string;
  /** The server version the edits started from (null: unknown). */
  baseVersion: number | null;
}

function storageKey(graphId: string): string {
  return `dyngen.draft.${graphId}`;
}

export function loadDraft(graphId: string): Draft | null {
  try {
    const raw = localStorage.getItem(storageKey(graphId));
    if (!raw) return null;
    const draft = JSON.parse(raw) as Draft;
    if (!draft || !draft.graph || !Array.isArray(draft.graph.scenes)) return null;
    return { ...draft, baseVersion: typeof draft.baseVersion === "number" ? draft.baseVersion : null };
  } catch {
    return null;
  }
}

export function storeDraft(graph: SceneGraph, baseVersion: number | null): boolean {
  try {
    const draft: Draft = { graph, savedAt: new Date().toISOString(), baseVersion };
    localStorage.setItem(storageKey(graph.id), JSON.stringify(draft));
    return true;
  } catch {
    return false;
  }
}

export function dropDraft(graphId: string): void {
  localStorage.removeItem(storageKey(graphId));
}
