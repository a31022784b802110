// Undo/redo history of a document. Edits that share a coalesce key within a short window (typing in one
// field) become one step, so undo goes back a whole edit rather than one keystroke.
import { useCallback, useMemo, useReducer } from "react";

export const COALESCE_MS = 1200;
export const LIMIT = 200;

export interface State<T> {
  past: T[];
  present: T;
  future: T[];
  lastKey: string | null;
  lastAt: number;
}

export type Action<T> =
  | { type: "apply"; update: (doc: T) => T; key: string | null; at: number }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "reset"; doc: T };

/** The history's transitions (pure; `useHistory` wraps it). */
export function reducer<T>(state: State<T>, action: Action<T>): State<T> {
  switch (action.type) {
    case "apply": {
      const next = action.update(state.present);
      if (next === state.present) return state;
      const merge = action.key !== null && action.key === state.lastKey && action.at - state.lastAt < COALESCE_MS;
      return {
        past: merge ? state.past : [...state.past, state.present].slice(-LIMIT),
        present: next,
        future: [],
        lastKey: action.key,
        lastAt: action.at,
      };
    }
    case "undo": {
      const previous = state.past[state.past.length - 1];
      if (previous === undefined) return state;
      return {
        past: state.past.slice(0, -1),
        present: previous,
        future: [state.present, ...state.future],
        lastKey: null,
        lastAt: 0,
      };
    }
    case "redo": {
      const [next, ...rest] = state.future;
      if (next === undefined) return state;
      return { past: [...state.past, state.present], present: next, future: rest, lastKey: null, lastAt: 0 };
    }
    case "reset":
      return { past: [], present: action.doc, future: [], lastKey: null, lastAt: 0 };
  }
}

export interface History<T> {
  doc: T;
  canUndo: boolean;
  canRedo: boolean;
  apply: (update: (doc: T) => T, coalesceKey?: string) => void;
  undo: () => void;
  redo: () => void;
  reset: (doc: T) => void;
}

export function useHistory<T>(initial: T): History<T> {
  const [state, dispatch] = useReducer(reducer<T>, {
    past: [],
    present: initial,
    future: [],
    lastKey: null,
    lastAt: 0,
  } as State<T>);
  const apply = useCallback(
    (update: (doc: T) => T, coalesceKey?: string) =>
      dispatch({ type: "apply", update, key: coalesceKey ?? null, at: Date.now() }),
    [],
  );
  const undo = useCallback(() => dispatch({ type: "undo" }), []);
  const redo = useCallback(() => dispatch({ type: "redo" }), []);
  const reset = useCallback((doc: T) => dispatch({ type: "reset", doc }), []);
  return useMemo(
    () => ({
      doc: state.present,
      canUndo: state.past.length > 0,
      canRedo: state.future.length > 0,
      apply,
      undo,
      redo,
      reset,
    }),
    [state, apply, undo, redo, reset],
  );
}
