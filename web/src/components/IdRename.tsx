// A scene's or Generation Node's id, shown in full, with a rename: the new id is checked (unique, no
// spaces) before it replaces the old one everywhere the graph names it.
import { useState } from "react";
import { Icon } from "./Icon";

export function IdRename({
  id,
  noun,
  onRename,
}: {
  id: string;
  /** "scene" or "node", for the button's name. */
  noun: string;
  /** Renames; answers why not (null: renamed). */
  onRename: (next: string) => string | null;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(id);
  const [problem, setProblem] = useState<string | null>(null);
  const apply = () => {
    const next = text.trim();
    const refused = onRename(next);
    setProblem(refused);
    if (!refused) setEditing(false);
  };
  if (!editing) {
    return (
      <div className="id-rename">
        <code className="id-rename__id" data-testid="panel-id">
          {id}
        </code>
        <button
          type="button"
          className="icon-button"
          data-testid="rename-id"
          aria-label={`Rename ${noun} ${id}`}
          title={`Rename this ${noun} (the graph's references follow)`}
          onClick={() => {
            setText(id);
            setProblem(null);
            setEditing(true);
          }}
        >
          <Icon name="pencil" />
        </button>
      </div>
    );
  }
  return (
    <form
      className="id-rename is-editing"
      onSubmit={(e) => {
        e.preventDefault();
        apply();
      }}
    >
      <input
        type="text"
        data-testid="rename-input"
        aria-label={`New id of ${noun} ${id}`}
        value={text}
        autoFocus
        onChange={(e) => {
          setText(e.target.value);
          setProblem(null);
        }}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.stopPropagation();
            setEditing(false);
          }
        }}
      />
      <button type="submit" className="primary" data-testid="rename-apply">
        Rename
      </button>
      <button type="button" onClick={() => setEditing(false)}>
        Cancel
      </button>
      {problem ? (
        <span className="field__finding sev-error" data-testid="rename-problem" role="alert">
          {problem}
        </span>
      ) : null}
    </form>
  );
}
