// The top bar, one row from 1280 px up: the graph (its title is the picker; the graph list beside it has
// search, new, import and export), the save indicator, undo / redo / save, warming the cache, and the
// health, budgets and server indicators. Adding scenes and Generation Nodes is on the canvas (CanvasTools).
import type { ReactNode } from "react";
import type { GraphHealth } from "../api/types.gen";
import { NodeStatusLabels } from "../api/labels.gen";
import { saveStatus, statusBadge } from "../state/status";
import { useEditor } from "../state/store";
import { Icon } from "./Icon";

export function TopBar(props: {
  onSwitchGraph: (id: string) => void;
  onSave: () => void;
  showGraphList: boolean;
  onToggleGraphList: () => void;
  /** The graph list, shown under its button. */
  graphList: ReactNode;
  showWarmup: boolean;
  onToggleWarmup: () => void;
  /** The warm-up panel, shown under its button. */
  warmup: ReactNode;
  health: GraphHealth | null;
  showHealth: boolean;
  onToggleHealth: () => void;
  showWorld: boolean;
  onToggleWorld: () => void;
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
    <header className="topbar" data-testid="topbar">
      <div className="brand">
        <Icon name="dice" /> dyngen
      </div>
      <select
        data-testid="graph-select"
        className="graph-select"
        value={graphId ?? ""}
        onChange={(e) => props.onSwitchGraph(e.target.value)}
        disabled={!graphs?.length}
        title={graph ? `${graph.title || graph.id} (${graph.id}): switch graph` : "Stored graphs"}
        aria-label="Graph"
      >
        {!graphs?.length ? <option value="">(no graphs)</option> : null}
        {graphs?.map((g) => (
          <option key={g.id} value={g.id}>
            {g.id === graphId && graph ? graph.title || g.id : g.title || g.id}
          </option>
        ))}
      </select>
      <div className="popover-anchor">
        <button
          type="button"
          data-testid="open-graphs"
          className={props.showGraphList ? "is-on" : ""}
          onClick={props.onToggleGraphList}
          aria-expanded={props.showGraphList}
          title="All graphs: search, new, import and export"
        >
          <Icon name="list" /> Graphs
        </button>
        {props.graphList}
      </div>
      <span className={`save-status ${saveClass}`} data-testid="save-status" aria-live="polite">
        {saveText}
      </span>
      <div className="toolbar">
        <button
          type="button"
          className="icon-button"
          data-testid="undo"
          onClick={undo}
          disabled={!canUndo}
          title="Undo (Ctrl+Z)"
          aria-label="Undo"
        >
          <Icon name="undo" />
        </button>
        <button
          type="button"
          className="icon-button"
          data-testid="redo"
          onClick={redo}
          disabled={!canRedo}
          title="Redo (Ctrl+Shift+Z / Ctrl+Y)"
          aria-label="Redo"
        >
          <Icon name="redo" />
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
          data-testid="toggle-world"
          className={props.showWorld ? "is-on" : ""}
          onClick={props.onToggleWorld}
          aria-pressed={props.showWorld}
          disabled={!graph}
          title="Characters and lore: the graph's world, which prompts draw on"
          aria-label="Characters and lore"
        >
          World
        </button>
        <button
          type="button"
          data-testid="toggle-health"
          className={props.showHealth ? "is-on" : ""}
          onClick={props.onToggleHealth}
          aria-pressed={props.showHealth}
        >
          Health
          {health ? (
            <span className={`dot dot-${statusBadge(health.status)}`} aria-label={NodeStatusLabels[health.status]} />
          ) : null}
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
          data-testid="server-status"
          title={serviceDown ?? `server ${props.serviceStatus ?? "…"}`}
        >
          <Icon name="dot" /> {serviceDown ? "server: " + serviceDown : "server ok"}
        </span>
      </div>
    </header>
  );
}
