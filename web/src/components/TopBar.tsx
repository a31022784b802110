// The top bar: the graph picker, the save indicator, undo / redo / save, adding scenes and Generation
// Nodes, warming the cache, and the health, budgets and server indicators.
import type { ReactNode } from "react";
import type { GraphHealth } from "../api/types.gen";
import { saveStatus, statusBadge } from "../state/status";
import { useEditor } from "../state/store";

export function TopBar(props: {
  onSwitchGraph: (id: string) => void;
  onNewGraph: () => void;
  onSave: () => void;
  onAddScene: () => void;
  onAddGenNode: () => void;
  /** The "add a Generation Node" chooser, shown under its button. */
  chooser: ReactNode;
  showWarmup: boolean;
  onToggleWarmup: () => void;
  /** The warm-up panel, shown under its button. */
  warmup: ReactNode;
  health: GraphHealth | null;
  showHealth: boolean;
  onToggleHealth: () => void;
  showBudgets: boolean;
  onToggleBudgets: () => void;
  serviceStatus: string | null;
  serviceDown: string | null;
}) {
  const { state, graph, dirty, canUndo, canRedo, undo, redo } = useEditor();
  const { graphs, graphId, save } = state;
  const { text: saveText, className: saveClass } = saveStatus(save, dirty);
  const { health, serviceDown } = props;
  return (
    <header className="topbar">
      <div className="brand">
        <span aria-hidden>🎲</span> dyngen <span className="muted">editor</span>
      </div>
      <select
        data-testid="graph-select"
        className="graph-select"
        value={graphId ?? ""}
        onChange={(e) => props.onSwitchGraph(e.target.value)}
        disabled={!graphs?.length}
        title="Stored graphs"
      >
        {!graphs?.length ? <option value="">(no graphs)</option> : null}
        {graphs?.map((g) => (
          <option key={g.id} value={g.id}>
            {g.title ? `${g.title} (${g.id})` : g.id} · v{g.version}
          </option>
        ))}
      </select>
      <button
        type="button"
        className="icon-button new-graph"
        data-testid="new-graph"
        title="New graph"
        onClick={props.onNewGraph}
      >
        +
      </button>
      <span className={`save-status ${saveClass}`} data-testid="save-status" aria-live="polite">
        {saveText}
      </span>
      <div className="toolbar">
        <button type="button" data-testid="undo" onClick={undo} disabled={!canUndo} title="Undo (Ctrl+Z)">
          ↶ Undo
        </button>
        <button
          type="button"
          data-testid="redo"
          onClick={redo}
          disabled={!canRedo}
          title="Redo (Ctrl+Shift+Z / Ctrl+Y)"
        >
          ↷ Redo
        </button>
        <button
          type="button"
          className="primary"
          data-testid="save"
          onClick={props.onSave}
          disabled={!graph || save.kind === "saving"}
          title="Save a new version (Ctrl+S)"
        >
          Save
        </button>
      </div>
      <div className="toolbar">
        <button type="button" data-testid="add-scene" onClick={props.onAddScene} disabled={!graph} title="Add a scene">
          + Scene
        </button>
        <div className="popover-anchor">
          <button
            type="button"
            data-testid="add-gen-node"
            onClick={props.onAddGenNode}
            disabled={!graph || graph.scenes.length < 2}
            title="Add a Generation Node between the two selected scenes"
          >
            + 🎲 Generation Node
          </button>
          {props.chooser}
        </div>
      </div>
      <span className="spacer" />
      <div className="toolbar">
        <div className="popover-anchor">
          <button
            type="button"
            data-testid="warm-graph"
            className={props.showWarmup ? "is-on" : ""}
            onClick={props.onToggleWarmup}
            disabled={!graph}
            title="Generate every transition of the saved graph ahead of play"
          >
            Warm cache
          </button>
          {props.warmup}
        </div>
        <button
          type="button"
          data-testid="toggle-health"
          className={props.showHealth ? "is-on" : ""}
          onClick={props.onToggleHealth}
          aria-pressed={props.showHealth}
        >
          Health
          {health ? <span className={`dot dot-${statusBadge(health.status)}`} aria-label={health.status} /> : null}
          {health?.warnings.length ? <span className="count">{health.warnings.length}</span> : null}
        </button>
        <button
          type="button"
          data-testid="open-budgets"
          className={props.showBudgets ? "is-on" : ""}
          onClick={props.onToggleBudgets}
          aria-pressed={props.showBudgets}
        >
          Budgets
        </button>
        <span
          className={`service ${serviceDown ? "is-down" : "is-up"}`}
          title={serviceDown ?? `service ${props.serviceStatus ?? "…"}`}
        >
          ● {serviceDown ? "server: " + serviceDown : "server ok"}
        </span>
      </div>
    </header>
  );
}
