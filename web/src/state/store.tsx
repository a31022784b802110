// The editor's store: `editorReducer` in a React context, with the derived values every view reads
// (the document, dirty, the selected node or scene) and named actions.
import { createContext, useCallback, useContext, useMemo, useReducer, type Dispatch, type ReactNode } from "react";
import type { SceneGraph } from "../api/types.gen";
import {
  canRedo,
  canUndo,
  editorReducer,
  graphOf,
  initialEditorState,
  isDirty,
  selectedNodeOf,
  selectedSceneOf,
  type EditorAction,
  type EditorState,
} from "./editor";

export interface EditorStore {
  state: EditorState;
  dispatch: Dispatch<EditorAction>;
  graph: SceneGraph | null;
  /** The document as JSON (null: none open); the server checks key on it. */
  graphJson: string | null;
  dirty: boolean;
  canUndo: boolean;
  canRedo: boolean;
  selectedNode: ReturnType<typeof selectedNodeOf>;
  selectedScene: ReturnType<typeof selectedSceneOf>;
  /** Changes the open document as one undo step (edits sharing `coalesceKey` in a short window merge). */
  edit: (update: (graph: SceneGraph) => SceneGraph, coalesceKey?: string) => void;
  undo: () => void;
  redo: () => void;
  /** Selects one id (null: nothing) and asks the canvas to centre it. */
  select: (id: string | null) => void;
  clearSelection: () => void;
}

const EditorContext = createContext<EditorStore | null>(null);

export function EditorProvider({ children }: { children: ReactNode }) {
  const [state, dispatch] = useReducer(editorReducer, initialEditorState);
  const graph = graphOf(state);
  const graphJson = useMemo(() => (graph ? JSON.stringify(graph) : null), [graph]);
  const edit = useCallback(
    (update: (graph: SceneGraph) => SceneGraph, coalesceKey?: string) =>
      dispatch({ type: "edit", update, key: coalesceKey ?? null, at: Date.now() }),
    [],
  );
  const undo = useCallback(() => dispatch({ type: "undo" }), []);
  const redo = useCallback(() => dispatch({ type: "redo" }), []);
  const select = useCallback((id: string | null) => dispatch({ type: "select", id, at: Date.now() }), []);
  const clearSelection = useCallback(() => dispatch({ type: "clearSelection" }), []);
  const store = useMemo<EditorStore>(
    () => ({
      state,
      dispatch,
      graph,
      graphJson,
      dirty: isDirty(state, graphJson),
      canUndo: canUndo(state),
      canRedo: canRedo(state),
      selectedNode: selectedNodeOf(state),
      selectedScene: selectedSceneOf(state),
      edit,
      undo,
      redo,
      select,
      clearSelection,
    }),
    [state, graph, graphJson, edit, undo, redo, select, clearSelection],
  );
  return <EditorContext.Provider value={store}>{children}</EditorContext.Provider>;
}

export function useEditor(): EditorStore {
  const store = useContext(EditorContext);
  if (!store) throw new Error("useEditor needs an <EditorProvider> above it");
  return store;
}
