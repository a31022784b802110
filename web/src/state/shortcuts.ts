// The editor's keyboard shortcuts: Ctrl/Cmd+S save, +Z undo, +Shift+Z or +Y redo, +D duplicate, Delete or
// Backspace delete the selection, Escape closes what is open. D, Delete and Backspace are left to a field
// that has the focus.
import { useEffect } from "react";

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export interface Shortcuts {
  save: () => void;
  undo: () => void;
  redo: () => void;
  duplicate: () => void;
  deleteSelection: () => void;
  /** Escape; `typing` says whether a field has the focus. */
  escape: (typing: boolean) => void;
}

export function useShortcuts({ save, undo, redo, duplicate, deleteSelection, escape }: Shortcuts): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "s") {
        e.preventDefault();
        save();
      } else if (mod && key === "z" && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if (mod && ((key === "z" && e.shiftKey) || key === "y")) {
        e.preventDefault();
        redo();
      } else if (mod && key === "d" && !isTyping(e.target)) {
        e.preventDefault();
        duplicate();
      } else if ((e.key === "Delete" || e.key === "Backspace") && !isTyping(e.target) && !mod) {
        e.preventDefault();
        deleteSelection();
      } else if (e.key === "Escape") {
        escape(isTyping(e.target));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [save, undo, redo, duplicate, deleteSelection, escape]);
}
