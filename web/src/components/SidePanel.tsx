// The selected Generation Node's config in the spec's five tabs (one component each, in tabs/), validated
// on every change.
import type { ReactNode } from "react";
import type {
  DslResult,
  GenerationNode,
  GenerationValidationResult,
  SceneGraph,
  TemplateListing,
} from "../api/types.gen";
import { NodeStatusLabels } from "../api/labels.gen";
import { statusBadge, tabFindings, worst, type TabId } from "../state/status";
import { FindingsList } from "./Findings";
import { Icon } from "./Icon";
import { IdRename } from "./IdRename";
import type { ConfigChange } from "./tabs/config";
import { ConstraintsTab } from "./tabs/ConstraintsTab";
import { FallbackTab } from "./tabs/FallbackTab";
import { PromptTab } from "./tabs/PromptTab";
import { PurposeTab } from "./tabs/PurposeTab";
import { StyleTab } from "./tabs/StyleTab";

const TABS: { id: TabId; label: string }[] = [
  { id: "purpose", label: "Purpose & Strategy" },
  { id: "style", label: "Style & Duration" },
  { id: "constraints", label: "Constraints & Rules" },
  { id: "fallback", label: "Fallback" },
  { id: "test", label: "Validation & Test" },
  { id: "prompt", label: "Prompt" },
];

export interface SidePanelProps {
  graph: SceneGraph;
  node: GenerationNode;
  tab: TabId;
  onTab: (tab: TabId) => void;
  validation: GenerationValidationResult | null;
  validationError: string | null;
  dsl: DslResult | null;
  dslError: string | null;
  templates: TemplateListing | null;
  templateBusy: boolean;
  onChange: ConfigChange;
  onTemplate: (templateId: string) => void;
  testPanel: ReactNode;
  onClose: () => void;
  /** Renames the node; answers why not (null: renamed). */
  onRename: (next: string) => string | null;
}

export function SidePanel(props: SidePanelProps) {
  const { node, tab, validation, onChange } = props;
  const config = node.config;
  const findings = validation?.findings ?? [];
  const status = config.enabled === false ? "disabled" : (validation?.status ?? null);
  const tabProps = { config, findings, onChange };

  return (
    <aside className="side-panel" data-testid="side-panel">
      <header className="side-panel__head">
        <div className="side-panel__title">
          <span className="gen-node__icon">
            <Icon name="dice" />
          </span>
          <div>
            <IdRename id={node.id} noun="node" onRename={props.onRename} />
            <div className="muted small">
              {node.fromScene} → {node.toScene} · v{config.version ?? 1}
            </div>
          </div>
        </div>
        <span className={`badge badge-${statusBadge(status)}`}>{status ? NodeStatusLabels[status] : "checking…"}</span>
        <button type="button" className="icon-button" title="Close (Esc)" aria-label="Close" onClick={props.onClose}>
          <Icon name="close" />
        </button>
      </header>
      <nav className="tabs" role="tablist">
        {TABS.map((t) => {
          const counted = tabFindings(t.id, findings);
          return (
            <button
              key={t.id}
              type="button"
              role="tab"
              aria-selected={tab === t.id}
              className={`tab${tab === t.id ? " is-active" : ""}`}
              data-testid={`tab-${t.id}`}
              onClick={() => props.onTab(t.id)}
            >
              {t.label}
              {counted.length ? <span className={`tab__count sev-${worst(counted)}`}>{counted.length}</span> : null}
            </button>
          );
        })}
      </nav>
      <div className="side-panel__body">
        {tab === "purpose" ? (
          <PurposeTab
            {...tabProps}
            templates={props.templates}
            templateBusy={props.templateBusy}
            onTemplate={props.onTemplate}
          />
        ) : null}
        {tab === "style" ? <StyleTab {...tabProps} /> : null}
        {tab === "constraints" ? <ConstraintsTab {...tabProps} dsl={props.dsl} dslError={props.dslError} /> : null}
        {tab === "fallback" ? <FallbackTab {...tabProps} /> : null}
        {tab === "test" ? props.testPanel : null}
        {tab === "prompt" ? <PromptTab {...tabProps} graph={props.graph} nodeId={node.id} /> : null}
      </div>
      <footer className="side-panel__validation">
        <div className="side-panel__validation-head">
          <strong>Validation</strong>
          {props.validationError ? (
            <span className="sev-error small">{props.validationError}</span>
          ) : validation ? (
            <span className="muted small">
              {NodeStatusLabels[validation.status]} · complexity {validation.complexity.toFixed(1)}
              {validation.cache_key ? ` · key ${validation.cache_key}` : ""}
            </span>
          ) : (
            <span className="muted small">checking…</span>
          )}
        </div>
        <FindingsList findings={findings} empty="No findings: the node is valid." />
      </footer>
    </aside>
  );
}
