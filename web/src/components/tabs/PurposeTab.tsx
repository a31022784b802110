// "Purpose & Strategy": what the node generates, how often, its seed, variants, A/B arms and template.
import { useEffect, useState } from "react";
import {
  GenerationTypeValues,
  PurposeValues,
  SeedSourceValues,
  StrategyValues,
  type Arm,
  type GenerationNodeConfig,
  type Strategy,
  type TemplateListing,
  type ValidationFinding,
} from "../../api/types.gen";
import { findingsAt } from "../../state/status";
import { Field, NumberInput, Select } from "../fields";
import type { TabProps } from "./config";

const STRATEGY_MEANS: Record<Strategy, string> = {
  once: "generate once, reuse forever",
  per_playthrough: "stable within a playthrough",
  per_player: "a persistent variant per player",
  always: "fresh every call (no cache)",
};
const STRATEGIES = StrategyValues.map((value) => ({ value, label: `${value}: ${STRATEGY_MEANS[value]}` }));

export function PurposeTab({
  config,
  findings,
  onChange,
  templates,
  templateBusy,
  onTemplate,
}: TabProps & { templates: TemplateListing | null; templateBusy: boolean; onTemplate: (templateId: string) => void }) {
  const set = <K extends keyof GenerationNodeConfig>(key: K, value: GenerationNodeConfig[K]) =>
    onChange((c) => ({ ...c, [key]: value }), String(key));
  return (
    <section>
      <Field label="Generation type">
        <Select
          testId="field-generation-type"
          value={config.generationType}
          options={GenerationTypeValues}
          onChange={(v) => set("generationType", v)}
        />
      </Field>
      <Field label="Purpose" hint="gap_fill bridges two scenes; adaptive reacts to the player.">
        <Select
          testId="field-purpose"
          value={config.purpose ?? "gap_fill"}
          options={PurposeValues}
          onChange={(v) => set("purpose", v)}
        />
      </Field>
      <Field label="Strategy" findings={findingsAt(findings, "strategy")}>
        <Select
          testId="field-strategy"
          value={config.strategy ?? "once"}
          options={STRATEGIES}
          onChange={(v) => set("strategy", v)}
        />
      </Field>
      <div className="field-row">
        <Field label="Seed source" findings={findingsAt(findings, "seedSource")}>
          <Select
            testId="field-seed-source"
            value={config.seedSource ?? ""}
            allowNone="(from the strategy)"
            options={SeedSourceValues}
            onChange={(v) => set("seedSource", (v || null))}
          />
        </Field>
        <Field label="Seed" findings={findingsAt(findings, "seed")}>
          <NumberInput testId="field-seed" value={config.seed} allowEmpty min={0} onChange={(v) => set("seed", v)} />
        </Field>
      </div>
      <Field
        label="Variants"
        hint="A pool of variants served in turn (empty: one)."
        findings={findingsAt(findings, "variants")}
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
          findings={findingsAt(findings, "refreshAfterS")}
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
        findings={findingsAt(findings, "arms")}
        onChange={(arms) => set("arms", arms)}
      />
      <Field
        label="Template"
        hint={templateBusy ? "Loading the template…" : "Choosing a template fills this node with its settings."}
      >
        <Select
          testId="template-select"
          value={config.templateId ?? ""}
          allowNone="(no template)"
          options={(templates?.templates ?? []).map((t) => ({
            value: t.id,
            label: `${t.id} · ${t.generationType}${t.status !== "ok" ? ` (${t.status})` : ""}`,
          }))}
          onChange={(v) => onTemplate(v)}
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
