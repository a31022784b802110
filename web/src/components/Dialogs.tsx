import { useState } from "react";
import { Icon } from "./Icon";
import { useInViewport } from "./inViewport";

export function ApiKeyDialog({
  refused,
  onSave,
  onCancel,
}: {
  refused: boolean;
  onSave: (key: string) => void;
  onCancel: () => void;
}) {
  const [key, setKey] = useState("");
  return (
    <div className="modal-backdrop" role="presentation">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="api-key-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) onSave(key.trim());
        }}
      >
        <h2 id="api-key-title">API key needed</h2>
        {refused ? (
          <p className="error-box">
            The key stored in this browser was refused (unknown, revoked, or of too low a scope).
          </p>
        ) : null}
        <p>
          This server asks for an API key (an <code>editor</code> key or above:{" "}
          <code>dyngen keys create --scope editor</code>). It is kept in this browser's local storage and sent as a
          bearer token.
        </p>
        <input
          data-testid="api-key-input"
          type="password"
          autoFocus
          autoComplete="off"
          placeholder="dyngen_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <div className="actions">
          <button type="submit" className="primary" data-testid="api-key-save" disabled={!key.trim()}>
            Save key
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}

export function AddNodeChooser({
  scenes,
  initialFrom,
  initialTo,
  onAdd,
  onCancel,
}: {
  scenes: { id: string; title?: string }[];
  initialFrom: string;
  initialTo: string;
  onAdd: (from: string, to: string) => void;
  onCancel: () => void;
}) {
  const box = useInViewport<HTMLDivElement>();
  const [from, setFrom] = useState(initialFrom);
  const [to, setTo] = useState(initialTo);
  return (
    <div ref={box} className="popover" role="dialog" aria-label="Add a Generation Node">
      <strong>
        <Icon name="dice" /> Add a Generation Node
      </strong>
      <label>
        From
        <select data-testid="add-from" value={from} onChange={(e) => setFrom(e.target.value)}>
          {scenes.map((s) => (
            <option key={s.id} value={s.id}>
              {s.title ? `${s.title} (${s.id})` : s.id}
            </option>
          ))}
        </select>
      </label>
      <label>
        To
        <select data-testid="add-to" value={to} onChange={(e) => setTo(e.target.value)}>
          {scenes.map((s) => (
            <option key={s.id} value={s.id}>
              {s.title ? `${s.title} (${s.id})` : s.id}
            </option>
          ))}
        </select>
      </label>
      {from === to ? <span className="sev-warning small">Pick two different scenes.</span> : null}
      <div className="actions">
        <button
          type="button"
          className="primary"
          data-testid="add-confirm"
          disabled={from === to}
          onClick={() => onAdd(from, to)}
        >
          Add
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <p className="muted small">Tip: drag from a scene's right handle to another scene, or select two scenes first.</p>
    </div>
  );
}

const GRAPH_ID = /^[A-Za-z0-9_.-]{1,200}$/;

export function NewGraphDialog({
  taken,
  onCreate,
  onCancel,
}: {
  taken: string[];
  onCreate: (id: string, title: string) => Promise<string | null>;
  onCancel: () => void;
}) {
  const [id, setId] = useState("");
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const problem = !id
    ? null
    : !GRAPH_ID.test(id)
      ? "Letters, digits, _ . - only"
      : taken.includes(id)
        ? `A graph "${id}" exists`
        : null;
  return (
    <div className="modal-backdrop" role="presentation">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="new-graph-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (!id || problem) return;
          setBusy(true);
          void onCreate(id, title.trim()).then((failed) => {
            setBusy(false);
            setError(failed);
          });
        }}
      >
        <h2 id="new-graph-title">New scene graph</h2>
        <label className="field">
          <span className="field__label">Id</span>
          <input
            data-testid="new-graph-id"
            autoFocus
            value={id}
            onChange={(e) => setId(e.target.value.trim())}
            placeholder="chapter_2"
          />
          {problem ? <span className="field__finding sev-error">{problem}</span> : null}
        </label>
        <label className="field">
          <span className="field__label">Title</span>
          <input
            data-testid="new-graph-title"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            placeholder="Chapter 2"
          />
        </label>
        <p className="muted small">It starts with one scene; add scenes with “+ Scene” and connect them.</p>
        {error ? <p className="error-box">{error}</p> : null}
        <div className="actions">
          <button type="submit" className="primary" data-testid="new-graph-create" disabled={!id || !!problem || busy}>
            {busy ? "Creating…" : "Create"}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
