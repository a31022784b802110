// The selected Generation Node's config in the spec's five tabs, validated on every change.
import { useEffect, useState, type ReactNode } from "react";
import type {
  Arm,
  Constraints,
  DslResult,
  Duration,
  Fallback,
  FallbackMode,
  GenerationNode,
  GenerationNodeConfig,
  GenerationType,
  GenerationValidationResult,
  Pacing,
  Purpose,
  Rating,
  SeedSource,
  Strategy,
  Style,
  TemplateListing,
  TransitionType,
  ValidationFinding,
} from "../api/types.gen";
import { Field, ListInput, NumberInput, Select, TextInput } from "./fields";
import { FindingsList } from "./Findings";
import { RulesEditor } from "./RulesEditor";

export type TabId = "purpose" | "style" | "constraints" | "fallback" | "test";

const TABS: { id: TabId; label: string }[] = [
  { id: "purpose", label: "Purpose & Strategy" },
  { id: "style", label: "Style & Duration" },
  { id: "constraints", label: "Constraints & Rules" },
  { id: "fallback", label: "Fallback" },
  { id: "test", label: "Validation & Test" },
];

const GENERATION_TYPES: GenerationType[] = ["transition", "variation", "dialogue", "environment", "npc_response"];
const PURPOSES: Purpose[] = ["gap_fill", "variation", "adaptive", "ambient"];
const STRATEGIES: { value: Strategy; label: string }[] = [
  { value: "once", label: "once: generate once, reuse forever" },
  { value: "per_playthrough", label: "per_playthrough: stable within a playthrough" },
  { value: "per_player", label: "per_player: a persistent variant per player" },
  { value: "always", label: "always: fresh every call (no cache)" },
];
const SEED_SOURCES: SeedSource[] = ["playthrough", "player", "timestamp", "fixed"];
const PACINGS: Pacing[] = ["slow", "medium", "fast"];
const TRANSITIONS: TransitionType[] = ["gradual", "abrupt"];
const RATINGS: Rating[] = ["G", "PG", "PG-13", "R"];
const FALLBACKS: { value: FallbackMode; label: string }[] = [
  { value: "default_content", label: "default_content: a pre-authored asset" },
  { value: "skip", label: "skip: cut straight to the next scene" },
  { value: "retry", label: "retry: try again N times, then skip" },
  { value: "placeholder", label: "placeholder: a loading / bridge card" },
];

export interface SidePanelProps {
  node: GenerationNode;
  tab: TabId;
  onTab: (tab: TabId) => void;
  validation: GenerationValidationResult | null;
  validationError: string | null;
  dsl: DslResult | null;
  dslError: string | null;
  templates: TemplateListing | null;
  templateBusy: boolean;
  onChange: (update: (config: GenerationNodeConfig) => GenerationNodeConfig, field: string) => void;
  onTemplate: (templateId: string) => void;
  testPanel: ReactNode;
  onClose: () => void;
}

function at(findings: ValidationFinding[], ...fields: string[]): ValidationFinding[] {
  return findings.filter((f) => fields.some((field) => f.field === field || f.field.startsWith(`${field}.`)));
}

export function SidePanel(props: SidePanelProps) {
  const { node, tab, validation, onChange } = props;
  const config = node.config;
  const findings = validation?.findings ?? [];
  const style: Style = config.style ?? {};
  const duration: Required<Duration> = {
    min: config.duration?.min ?? 5,
    max: config.duration?.max ?? 30,
    target: config.duration?.target ?? 10,
  };
  const constraints: Constraints = config.constraints ?? {};
  const fallback: Fallback = config.fallback ?? {};

  const set = <K extends keyof GenerationNodeConfig>(key: K, value: GenerationNodeConfig[K]) =>
    onChange((c) => ({ ...c, [key]: value }), String(key));
  const setStyle = (patch: Partial<Style>, field: string) =>
    onChange((c) => ({ ...c, style: { ...(c.style ?? {}), ...patch } }), `style.${field}`);
  const setDuration = (patch: Partial<Duration>, field: string) =>
    onChange((c) => ({ ...c, duration: { ...(c.duration ?? duration), ...patch } }), `duration.${field}`);
  const setConstraints = (patch: Partial<Constraints>, field: string) =>
    onChange((c) => ({ ...c, constraints: { ...(c.constraints ?? {}), ...patch } }), `constraints.${field}`);
  const setFallback = (patch: Partial<Fallback>, field: string) =>
    onChange((c) => ({ ...c, fallback: { ...(c.fallback ?? {}), ...patch } }), `fallback.${field}`);

  const status = config.enabled === false ? "disabled" : (validation?.status ?? null);
  const templates = props.templates?.templates ?? [];

  return (
    <aside className="side-panel" data-testid="side-panel">
      <header className="side-panel__head">
        <div className="side-panel__title">
          <span className="gen-node__icon" aria-hidden>
            🎲
          </span>
          <div>
            <div className="side-panel__id">{node.id}</div>
            <div className="muted small">
              {node.fromScene} → {node.toScene} · v{config.version ?? 1}
            </div>
          </div>
        </div>
        <span className={`badge badge-${statusBadge(status)}`}>{status ?? "checking…"}</span>
        <button type="button" className="icon-button" title="Close (Esc)" onClick={props.onClose}>
          ✕
        </button>
      </header>
      <nav className="tabs" role="tablist">
        {TABS.map((t) => {
          const count = t.id === "test" ? findings.length : tabFindings(t.id, findings).length;
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
              {count ? (
                <span className={`tab__count sev-${worst(t.id === "test" ? findings : tabFindings(t.id, findings))}`}>
                  {count}
                </span>
              ) : null}
            </button>
          );
        })}
      </nav>
      <div className="side-panel__body">
        {tab === "purpose" ? (
          <section>
            <Field label="Generation type">
              <Select
                testId="field-generation-type"
                value={config.generationType}
                options={GENERATION_TYPES}
                onChange={(v) => set("generationType", v)}
              />
            </Field>
            <Field label="Purpose" hint="gap_fill bridges two scenes; adaptive reacts to the player.">
              <Select
                testId="field-purpose"
                value={config.purpose ?? "gap_fill"}
                options={PURPOSES}
                onChange={(v) => set("purpose", v)}
              />
            </Field>
            <Field label="Strategy" findings={at(findings, "strategy")}>
              <Select
                testId="field-strategy"
                value={config.strategy ?? "once"}
                options={STRATEGIES}
                onChange={(v) => set("strategy", v)}
              />
            </Field>
            <div className="field-row">
              <Field label="Seed source" findings={at(findings, "seedSource")}>
                <Select
                  testId="field-seed-source"
                  value={config.seedSource ?? ""}
                  allowNone="(from the strategy)"
                  options={SEED_SOURCES}
                  onChange={(v) => set("seedSource", (v || null))}
                />
              </Field>
              <Field label="Seed" findings={at(findings, "seed")}>
                <NumberInput
                  testId="field-seed"
                  value={config.seed}
                  allowEmpty
                  min={0}
                  onChange={(v) => set("seed", v)}
                />
              </Field>
            </div>
            <Field
              label="Variants"
              hint="A pool of variants served in turn (empty: one)."
              findings={at(findings, "variants")}
            >
              <NumberInput
                testId="field-variants"
                value={config.variants}
                allowEmpty
                min={1}
                max={32}
                onChange={(v) => set("variants", v)}
              />
            </Field>
            <div className="field-row">
              <Field
                label="Refresh after (s)"
                hint="Cached content older than this is refreshed."
                findings={at(findings, "refreshAfterS")}
              >
                <NumberInput
                  testId="field-refresh-after"
                  value={config.refreshAfterS}
                  allowEmpty
                  min={0}
                  placeholder="never"
                  onChange={(v) => set("refreshAfterS", v)}
                />
              </Field>
              <label className="check check--field">
                <input
                  type="checkbox"
                  data-testid="field-hybrid"
                  checked={config.hybrid === true}
                  onChange={(e) => set("hybrid", e.target.checked ? true : null)}
                />
                Hybrid: serve the cached result at once, refresh it in the background
              </label>
            </div>
            <ArmsField
              arms={config.arms ?? null}
              findings={at(findings, "arms")}
              onChange={(arms) => set("arms", arms)}
            />
            <Field
              label="Template"
              hint={
                props.templateBusy ? "Loading the template…" : "Choosing a template fills this node with its settings."
              }
            >
              <Select
                testId="template-select"
                value={config.templateId ?? ""}
                allowNone="(no template)"
                options={templates.map((t) => ({
                  value: t.id,
                  label: `${t.id} · ${t.generationType}${t.status !== "ok" ? ` (${t.status})` : ""}`,
                }))}
                onChange={(v) => props.onTemplate(v)}
              />
            </Field>
            <label className="check">
              <input
                type="checkbox"
                data-testid="field-enabled"
                checked={config.enabled !== false}
                onChange={(e) => set("enabled", e.target.checked)}
              />
              Enabled (a disabled node is skipped at play time)
            </label>
          </section>
        ) : null}
        {tab === "style" ? (
          <section>
            <div className="field-row">
              <Field label="Mood from" findings={at(findings, "style.moodFrom")}>
                <TextInput
                  testId="field-mood-from"
                  value={style.moodFrom}
                  onChange={(v) => setStyle({ moodFrom: v || null }, "moodFrom")}
                />
              </Field>
              <Field label="Mood to" findings={at(findings, "style.moodTo")}>
                <TextInput
                  testId="field-mood-to"
                  value={style.moodTo}
                  onChange={(v) => setStyle({ moodTo: v || null }, "moodTo")}
                />
              </Field>
            </div>
            <div className="field-row">
              <Field label="Pacing">
                <Select
                  testId="field-pacing"
                  value={style.pacing ?? "medium"}
                  options={PACINGS}
                  onChange={(v) => setStyle({ pacing: v }, "pacing")}
                />
              </Field>
              <Field label="Transition">
                <Select
                  testId="field-transition-type"
                  value={style.transitionType ?? "gradual"}
                  options={TRANSITIONS}
                  onChange={(v) => setStyle({ transitionType: v }, "transitionType")}
                />
              </Field>
            </div>
            <h4>Duration (seconds)</h4>
            <div className="field-row three">
              <Field label="Min" findings={at(findings, "duration.min")}>
                <NumberInput
                  testId="field-duration-min"
                  value={duration.min}
                  step={0.5}
                  onChange={(v) => v !== null && setDuration({ min: v }, "min")}
                />
              </Field>
              <Field label="Target" findings={at(findings, "duration.target")}>
                <NumberInput
                  testId="field-duration-target"
                  value={duration.target}
                  step={0.5}
                  onChange={(v) => v !== null && setDuration({ target: v }, "target")}
                />
              </Field>
              <Field label="Max" findings={at(findings, "duration.max")}>
                <NumberInput
                  testId="field-duration-max"
                  value={duration.max}
                  step={0.5}
                  onChange={(v) => v !== null && setDuration({ max: v }, "max")}
                />
              </Field>
            </div>
            <DurationBar duration={duration} />
          </section>
        ) : null}
        {tab === "constraints" ? (
          <section>
            <Field label="Rating" findings={at(findings, "constraints.rating")}>
              <Select
                testId="field-rating"
                value={constraints.rating ?? "PG"}
                options={RATINGS}
                onChange={(v) => setConstraints({ rating: v }, "rating")}
              />
            </Field>
            <Field
              label="Required elements"
              hint="Comma separated, e.g. phone_ring, kiss_callback"
              findings={at(findings, "constraints.requiredElements")}
            >
              <ListInput
                testId="required-elements"
                value={constraints.requiredElements}
                onChange={(v) => setConstraints({ requiredElements: v }, "requiredElements")}
              />
            </Field>
            <Field label="Avoid elements" hint="Comma separated" findings={at(findings, "constraints.avoidElements")}>
              <ListInput
                testId="avoid-elements"
                value={constraints.avoidElements}
                onChange={(v) => setConstraints({ avoidElements: v }, "avoidElements")}
              />
            </Field>
            <Field
              label="Content rules"
              hint="Comma separated rule ids"
              findings={at(findings, "constraints.contentRules")}
            >
              <ListInput
                testId="field-content-rules"
                value={constraints.contentRules}
                onChange={(v) => setConstraints({ contentRules: v }, "contentRules")}
              />
            </Field>
            {at(findings, "constraints")
              .filter((f) => f.field === "constraints")
              .map((f) => (
                <p key={f.code} className={`field__finding sev-${f.severity}`}>
                  {f.message}
                </p>
              ))}
            <Field label="Rules (DSL)" hint="Evaluated per player at play time; see docs/dsl.md.">
              <RulesEditor
                source={config.rules ?? ""}
                result={props.dsl}
                error={props.dslError}
                onChange={(v) => set("rules", v === "" ? null : v)}
              />
            </Field>
          </section>
        ) : null}
        {tab === "fallback" ? (
          <section>
            <Field label="Mode" findings={at(findings, "fallback.mode")}>
              <Select
                testId="field-fallback-mode"
                value={fallback.mode ?? "skip"}
                options={FALLBACKS}
                onChange={(v) => setFallback({ mode: v }, "mode")}
              />
            </Field>
            <Field
              label="Default content id"
              hint={
                fallback.mode === "default_content" ? "Required for default_content." : "Used by default_content only."
              }
              findings={at(findings, "fallback.defaultContentId")}
            >
              <TextInput
                testId="field-default-content-id"
                value={fallback.defaultContentId}
                onChange={(v) => setFallback({ defaultContentId: v || null }, "defaultContentId")}
              />
            </Field>
            <div className="field-row">
              <Field label="Max retries" findings={at(findings, "fallback.maxRetries")}>
                <NumberInput
                  testId="field-max-retries"
                  value={fallback.maxRetries}
                  allowEmpty
                  min={0}
                  max={10}
                  onChange={(v) => setFallback({ maxRetries: v }, "maxRetries")}
                />
              </Field>
              <Field label="Timeout (ms)" findings={at(findings, "fallback.timeoutMs")}>
                <NumberInput
                  testId="field-timeout-ms"
                  value={fallback.timeoutMs}
                  allowEmpty
                  min={1}
                  step={100}
                  placeholder="server default"
                  onChange={(v) => setFallback({ timeoutMs: v }, "timeoutMs")}
                />
              </Field>
            </div>
            <p className="muted small">
              Force a failure in “Validation &amp; Test” to watch this path: the answer shows the fallback that was
              applied.
            </p>
          </section>
        ) : null}
        {tab === "test" ? props.testPanel : null}
      </div>
      <footer className="side-panel__validation">
        <div className="side-panel__validation-head">
          <strong>Validation</strong>
          {props.validationError ? (
            <span className="sev-error small">{props.validationError}</span>
          ) : validation ? (
            <span className="muted small">
              {validation.status} · complexity {validation.complexity.toFixed(1)}
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

function tabFindings(tab: TabId, findings: ValidationFinding[]): ValidationFinding[] {
  const prefixes: Record<TabId, string[]> = {
    purpose: [
      "strategy",
      "seed",
      "seedSource",
      "variants",
      "purpose",
      "generationType",
      "templateId",
      "arms",
      "refreshAfterS",
      "hybrid",
    ],
    style: ["style", "duration"],
    constraints: ["constraints", "rules"],
    fallback: ["fallback"],
    test: [],
  };
  return at(findings, ...prefixes[tab]);
}

function worst(findings: ValidationFinding[]): string {
  return findings.some((f) => f.severity === "error")
    ? "error"
    : findings.some((f) => f.severity === "warning")
      ? "warning"
      : "suggestion";
}

export function statusBadge(status: string | null): string {
  switch (status) {
    case "ok":
      return "ok";
    case "warnings":
      return "warning";
    case "errors":
      return "error";
    case "disabled":
      return "disabled";
    default:
      return "unknown";
  }
}

function DurationBar({ duration }: { duration: Required<Duration> }) {
  const hi = Math.max(duration.max, duration.target, duration.min, 1) * 1.1;
  const pct = (v: number) => `${Math.max(0, Math.min(100, (v / hi) * 100))}%`;
  const ok = duration.min <= duration.target && duration.target <= duration.max && duration.min > 0;
  return (
    <div className={`duration-bar${ok ? "" : " is-bad"}`} aria-hidden>
      <div
        className="duration-bar__range"
        style={{
          left: pct(Math.min(duration.min, duration.max)),
          width: `calc(${pct(Math.abs(duration.max - duration.min))})`,
        }}
      />
      <div
        className="duration-bar__target"
        style={{ left: pct(duration.target) }}
        title={`target ${duration.target}s`}
      />
      <span className="duration-bar__label">
        {duration.min}s – {duration.max}s, target {duration.target}s
      </span>
    </div>
  );
}

/** A/B arms as JSON: `[{"id": "a", "weight": 1, "overrides": {...}}]`; the text is kept while it does not parse. */
function ArmsField({
  arms,
  findings,
  onChange,
}: {
  arms: Arm[] | null;
  findings: ValidationFinding[];
  onChange: (arms: Arm[] | null) => void;
}) {
  const shown = arms && arms.length ? JSON.stringify(arms, null, 2) : "";
  const [text, setText] = useState(shown);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setText((current) => {
      try {
        return JSON.stringify(current.trim() ? JSON.parse(current) : null) ===
          JSON.stringify(arms && arms.length ? arms : null)
          ? current
          : shown;
      } catch {
        return current;
      }
    });
  }, [shown, arms]);
  return (
    <Field
      label="A/B arms (JSON)"
      hint='e.g. [{"id": "control"}, {"id": "fast", "overrides": {"style": {"pacing": "fast"}}}]'
      findings={findings}
    >
      <textarea
        data-testid="field-arms"
        className="rules__source"
        rows={Math.min(10, Math.max(2, text.split("\n").length))}
        spellCheck={false}
        value={text}
        placeholder="(no arms)"
        onChange={(e) => {
          const raw = e.target.value;
          setText(raw);
          if (!raw.trim()) {
            setProblem(null);
            onChange(null);
            return;
          }
          try {
            const parsed: unknown = JSON.parse(raw);
            if (!Array.isArray(parsed)) throw new Error("arms are a JSON array");
            setProblem(null);
            onChange(parsed as Arm[]);
          } catch (err) {
            setProblem(err instanceof Error ? err.message : String(err));
          }
        }}
      />
      {problem ? <span className="field__finding sev-error">Not applied: {problem}</span> : null}
    </Field>
  );
}
