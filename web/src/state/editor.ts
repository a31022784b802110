// The editor's document state in one reducer: the open graph with its undo history, what was last saved
// (dirty / save state), the selection, and the list of stored graphs. Pure: `store.tsx` wraps it in a
// React context, the tests drive it directly.
import type { ApiError } from "../api/client";
import type { GraphSummary, SceneGraph } from "../api/types.gen";
import { reducer as historyReducer, type State as HistoryState } from "./history";
import { nodeOf, sceneOf } from "./graphOps";

export type SaveState =
  | { kind: "conflict"; serverVersion: number; author: string | null }
  | { kind: "idle" }
  | { kind: "saving" }
  | { kind: "refused"; error: ApiError }
  | { kind: "failed"; message: string };

export interface FocusRequest {
  id: string;
  at: number;
}

export interface EditorState {
  /** The stored graphs (null: not listed yet). */
  graphs: GraphSummary[] | null;
  graphId: string | null;
  history: HistoryState<SceneGraph | null>;
  /** The document as last loaded or saved, as JSON: the current one differs from it when there are unsaved edits. */
  savedJson: string | null;
  /** The server version the document was loaded or last saved as: a save over a newer one asks first. */
  baseVersion: number | null;
  save: SaveState;
  /** Selected scenes and Generation Nodes; the last one is the primary (the side panel shows it). */
  selection: string[];
  selectedEdge: string | null;
  /** Asks the canvas to centre a node (a new request each time, even for the same node). */
  focusRequest: FocusRequest | null;
}

export type EditorAction =
  | { type: "graphsListed"; graphs: GraphSummary[] }
  | { type: "opened"; id: string; graph: SceneGraph; version: number | null }
  | { type: "edit"; update: (graph: SceneGraph) => SceneGraph; key: string | null; at: number }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "select"; id: string | null; at: number }
  | { type: "canvasSelect"; ids: string[]; edge: string | null }
  | { type: "clearSelection" }
  | { type: "clearEdge" }
  | { type: "saveStarted" }
  | { type: "saveConflict"; serverVersion: number; author: string | null }
  | { type: "saved"; graph: SceneGraph; version: number }
  | { type: "saveRefused"; error: ApiError }
  | { type: "saveFailed"; message: string }
  | { type: "saveDismissed" };

export const initialEditorState: EditorState = {
  graphs: null,
  graphId: null,
  history: { past: [], present: null, future: [], lastKey: null, lastAt: 0 },
  savedJson: null,
  baseVersion: null,
  save: { kind: "idle" },
  selection: [],
  selectedEdge: null,
  focusRequest: null,
};

function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export function editorReducer(state: EditorState, action: EditorAction): EditorState {
  switch (action.type) {
    case "graphsListed":
      return { ...state, graphs: action.graphs };
    case "opened":
      return {
        ...state,
        graphId: action.id,
        history: historyReducer(state.history, { type: "reset", doc: action.graph }),
        savedJson: JSON.stringify(action.graph),
        baseVersion: action.version,
        save: { kind: "idle" },
        selection: [],
        selectedEdge: null,
      };
    case "edit": {
      const { update } = action;
      const history = historyReducer(state.history, {
        type: "apply",
        update: (g) => (g ? update(g) : g),
        key: action.key,
        at: action.at,
      });
      return history === state.history ? state : { ...state, history };
    }
    case "undo":
    case "redo": {
      const history = historyReducer(state.history, action);
      return history === state.history ? state : { ...state, history };
    }
    case "select":
      return {
        ...state,
        selection: action.id ? [action.id] : [],
        selectedEdge: null,
        focusRequest: action.id ? { id: action.id, at: action.at } : state.focusRequest,
      };
    case "canvasSelect":
      return {
        ...state,
        selection: sameIds(action.ids, state.selection) ? state.selection : action.ids,
        selectedEdge: action.edge,
      };
    case "clearSelection":
      return state.selection.length ? { ...state, selection: [] } : state;
    case "clearEdge":
      return { ...state, selectedEdge: null };
    case "saveStarted":
      return { ...state, save: { kind: "saving" } };
    case "saveConflict":
      return { ...state, save: { kind: "conflict", serverVersion: action.serverVersion, author: action.author } };
    case "saved": {
      const sent = action.graph;
      return {
        ...state,
        savedJson: JSON.stringify(sent),
        baseVersion: action.version,
        save: { kind: "idle" },
        graphs:
          state.graphs?.map((g) =>
            g.id === sent.id ? { ...g, version: action.version, title: sent.title ?? g.title } : g,
          ) ?? state.graphs,
      };
    }
    case "saveRefused":
      return { ...state, save: { kind: "refused", error: action.error } };
    case "saveFailed":
      return { ...state, save: { kind: "failed", message: action.message } };
    case "saveDismissed":
      return { ...state, save: { kind: "idle" } };
  }
}

// ---- selectors -------------------------------------------------------------------------------------

export function graphOf(state: EditorState): SceneGraph | null {
  return state.history.present;
}

/** Unsaved edits: the document differs from what was loaded or saved (`graphJson` spares a second stringify). */
export function isDirty(state: EditorState, graphJson?: string | null): boolean {
  const graph = graphOf(state);
  const json = graphJson !== undefined ? graphJson : graph ? JSON.stringify(graph) : null;
  return json !== null && state.savedJson !== null && json !== state.savedJson;
}

export function canUndo(state: EditorState): boolean {
  return state.history.past.length > 0;
}

export function canRedo(state: EditorState): boolean {
  return state.history.future.length > 0;
}

/** The last selected id: the one the side panel shows. */
export function primaryOf(state: EditorState): string | null {
  return state.selection[state.selection.length - 1] ?? null;
}

export function selectedNodeOf(state: EditorState) {
  const graph = graphOf(state);
  const primary = primaryOf(state);
  return graph && primary ? (nodeOf(graph, primary) ?? null) : null;
}

export function selectedSceneOf(state: EditorState) {
  const graph = graphOf(state);
  const primary = primaryOf(state);
  return graph && primary && !nodeOf(graph, primary) ? (sceneOf(graph, primary) ?? null) : null;
}
