// The stored graphs: a list with search that opens one, a new graph, and graphs as JSON files (export the
// open document; import a file, checked by the server before it is stored, with every finding shown).
import { useRef, useState } from "react";
import { ApiError, describeError } from "../api/client";
import { api } from "../api/endpoints";
import { NodeStatusLabels } from "../api/labels.gen";
import type { GraphHealth, GraphSummary, SceneGraph, ValidationFinding } from "../api/types.gen";
import { detailsAsFindings } from "../state/checks";
import { exportFile, importId, readGraphFile, searchGraphs } from "../state/graphFiles";
import { statusBadge } from "../state/status";
import { FindingsList } from "./Findings";
import { Icon } from "./Icon";
import { useInViewport } from "./inViewport";

type Pending =
  | { kind: "checking"; name: string }
  | { kind: "problem"; name: string; message: string; findings: ValidationFinding[] }
  | { kind: "ready"; name: string; graph: SceneGraph; health: GraphHealth; asId: string };

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function GraphList({
  graphs,
  current,
  dirty,
  onOpen,
  onNew,
  onImported,
  onClose,
}: {
  graphs: GraphSummary[];
  /** The open document (exported as it is edited). */
  current: SceneGraph | null;
  dirty: boolean;
  onOpen: (id: string) => void;
  onNew: () => void;
  /** An import was stored: list the graphs again and open it. */
  onImported: (id: string, version: number) => void;
  onClose: () => void;
}) {
  const box = useInViewport<HTMLDivElement>();
  const fileInput = useRef<HTMLInputElement | null>(null);
  const [query, setQuery] = useState("");
  const [pending, setPending] = useState<Pending | null>(null);
  const [storing, setStoring] = useState(false);
  const shown = searchGraphs(graphs, query);
  const taken = graphs.map((g) => g.id);

  async function check(file: File) {
    setPending({ kind: "checking", name: file.name });
    const read = readGraphFile(await file.text());
    if (read.kind === "problem") {
      setPending({ kind: "problem", name: file.name, message: read.message, findings: [] });
      return;
    }
    try {
      const health = await api.graphHealth(read.graph);
      setPending({ kind: "ready", name: file.name, graph: read.graph, health, asId: importId(read.graph.id, taken) });
    } catch (err) {
      setPending({
        kind: "problem",
        name: file.name,
        message: `The server refused the graph: ${describeError(err)}`,
        findings: err instanceof ApiError && err.status === 422 ? detailsAsFindings(err) : [],
      });
    }
  }

  async function store(ready: Extract<Pending, { kind: "ready" }>) {
    setStoring(true);
    const graph: SceneGraph = { ...ready.graph, id: ready.asId };
    try {
      const replace = taken.includes(ready.asId);
      const saved = replace ? await api.saveGraph(graph) : await api.createGraph(graph);
      setPending(null);
      onImported(saved.id, saved.version);
    } catch (err) {
      setPending({
        kind: "problem",
        name: ready.name,
        message: `Not imported: ${describeError(err)}`,
        findings: err instanceof ApiError && err.status === 422 ? detailsAsFindings(err) : [],
      });
    } finally {
      setStoring(false);
    }
  }

  const errors = pending?.kind === "ready" ? pending.health.nodes.filter((n) => n.status === "errors").length : 0;
  return (
    <div ref={box} className="popover graph-list" role="dialog" aria-label="Graphs" data-testid="graph-list">
      <div className="graph-list__head">
        <strong>Graphs</strong>
        <span className="spacer" />
        <button type="button" className="icon-button" aria-label="Close" title="Close (Esc)" onClick={onClose}>
          <Icon name="close" />
        </button>
      </div>
      <label className="graph-list__search">
        <Icon name="search" />
        <input
          type="search"
          data-testid="graph-search"
          aria-label="Search graphs"
          placeholder="Search by title, id or author"
          value={query}
          autoFocus
          onChange={(e) => setQuery(e.target.value)}
        />
      </label>
      <ul className="graph-list__items">
        {shown.map((g) => (
          <li key={g.id}>
            <button
              type="button"
              data-testid={`graph-item-${g.id}`}
              className={`graph-list__item${g.id === current?.id ? " is-current" : ""}`}
              onClick={() => onOpen(g.id)}
            >
              <span className="graph-list__title">{g.title || g.id}</span>
              <span className="muted small">
                {g.id} · version {g.version}
                {g.author ? ` · ${g.author}` : ""}
              </span>
            </button>
          </li>
        ))}
        {shown.length === 0 ? (
          <li className="muted small" data-testid="graph-search-empty">
            {graphs.length ? `No graph matches "${query}".` : "No graphs yet."}
          </li>
        ) : null}
      </ul>
      <div className="actions">
        <button type="button" data-testid="new-graph" onClick={onNew}>
          <Icon name="plus" /> New graph
        </button>
        <button type="button" data-testid="import-graph" onClick={() => fileInput.current?.click()}>
          <Icon name="upload" /> Import file…
        </button>
        <button
          type="button"
          data-testid="export-graph"
          disabled={!current}
          title={dirty ? "Downloads the graph as edited, unsaved changes included" : "Downloads the graph as a JSON file"}
          onClick={() => {
            if (!current) return;
            const file = exportFile(current);
            download(file.name, file.text);
          }}
        >
          <Icon name="download" /> Export
        </button>
        <input
          ref={fileInput}
          type="file"
          accept="application/json,.json"
          data-testid="import-file"
          hidden
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = "";
            if (file) void check(file);
          }}
        />
      </div>
      {pending ? (
        <div className="graph-import" data-testid="import-result" data-state={pending.kind}>
          {pending.kind === "checking" ? <p className="muted small">Checking {pending.name}…</p> : null}
          {pending.kind === "problem" ? (
            <>
              <p className="error-box" data-testid="import-problem">
                {pending.name}: {pending.message}
              </p>
              {pending.findings.length ? (
                <FindingsList findings={pending.findings} testId="import-findings" />
              ) : null}
            </>
          ) : null}
          {pending.kind === "ready" ? (
            <>
              <p className="small">
                <strong>{pending.graph.title || pending.graph.id}</strong> from {pending.name}:{" "}
                {pending.graph.scenes.length} scenes, {(pending.graph.nodes ?? []).length} Generation Nodes ·{" "}
                <span className={`badge badge-${statusBadge(pending.health.status)}`}>
                  {NodeStatusLabels[pending.health.status]}
                </span>
              </p>
              {errors ? (
                <p className="sev-error small" data-testid="import-problem">
                  {errors} node{errors === 1 ? " has" : "s have"} errors: the server will refuse it until they are
                  fixed.
                </p>
              ) : null}
              <label className="small">
                Store as id
                <input
                  type="text"
                  data-testid="import-id"
                  value={pending.asId}
                  onChange={(e) => setPending({ ...pending, asId: e.target.value.trim() })}
                />
              </label>
              <p className="muted small">
                {taken.includes(pending.asId)
                  ? `Replaces ${pending.asId}: saved as its next version (the old ones stay in the history).`
                  : `A new graph ${pending.asId}.`}
              </p>
              <div className="actions">
                <button
                  type="button"
                  className="primary"
                  data-testid="import-confirm"
                  disabled={storing || !pending.asId || errors > 0}
                  onClick={() => void store(pending)}
                >
                  {taken.includes(pending.asId) ? "Replace and open" : "Import and open"}
                </button>
                <button type="button" onClick={() => setPending(null)}>
                  Cancel
                </button>
              </div>
            </>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
