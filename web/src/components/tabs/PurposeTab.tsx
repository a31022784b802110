// "Purpose & Strategy": what the node generates, how often, its seed, variants, A/B arms and template.
import {
  GenerationTypeLabels,
  PacingLabels,
  PurposeLabels,
  SeedSourceLabels,
  StrategyLabels,
  TransitionTypeLabels,
} from "../../api/labels.gen";
import {
  GenerationTypeValues,
  PacingValues,
  PurposeValues,
  SeedSourceValues,
  StrategyValues,
  TransitionTypeValues,
  type Arm,
  type GenerationNodeConfig,
  type Strategy,
  type TemplateListing,
  type ValidationFinding,
} from "../../api/types.gen";
import { findingsAt } from "../../state/status";
import { Icon } from "../Icon";
import { Field, NumberInput, Select, TextInput, labelled } from "../fields";
import type { TabProps } from "./config";

const STRATEGY_MEANS: Record<Strategy, string> = {
  once: "generated once, reused by every player",
  per_playthrough: "stays the same within a playthrough",
  per_player: "each player keeps their own",
  always: "new content on every call (no cache)",
};
const STRATEGIES = labelled(StrategyValues, StrategyLabels, STRATEGY_MEANS);

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
          options={labelled(GenerationTypeValues, GenerationTypeLabels)}
          onChange={(v) => set("generationType", v)}
        />
      </Field>
      <Field
        label="Purpose"
        hint={`"${PurposeLabels.gap_fill}" bridges two scenes; "${PurposeLabels.adaptive}" reacts to the player.`}
      >
        <Select
          testId="field-purpose"
          value={config.purpose ?? "gap_fill"}
          options={labelled(PurposeValues, PurposeLabels)}
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
            options={labelled(SeedSourceValues, SeedSourceLabels)}
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
            label: `${t.id} · ${GenerationTypeLabels[t.generationType]}${t.status !== "ok" ? ` (${t.status})` : ""}`,
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
/** The overrides an arm row edits as fields; any other override is kept as it is and counted. */
const ROW_KEYS = new Set(["style", "duration"]);
const ROW_STYLE_KEYS = new Set(["pacing", "transitionType", "moodTo"]);
const ROW_DURATION_KEYS = new Set(["target"]);

type Overrides = Record<string, unknown>;

function objectAt(overrides: Overrides, key: string): Overrides {
  const value = overrides[key];
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Overrides) : {};
}

/** The overrides with `section.key` set (or removed when `value` is empty); an emptied section goes too. */
function withOverride(overrides: Overrides, section: string, key: string, value: unknown): Overrides {
  const inner: Overrides = { ...objectAt(overrides, section) };
  if (value === "" || value === null || value === undefined) delete inner[key];
  else inner[key] = value;
  const next: Overrides = { ...overrides };
  if (Object.keys(inner).length) next[section] = inner;
  else delete next[section];
  return next;
}

function otherOverrides(overrides: Overrides): number {
  let count = Object.keys(overrides).filter((k) => !ROW_KEYS.has(k)).length;
  count += Object.keys(objectAt(overrides, "style")).filter((k) => !ROW_STYLE_KEYS.has(k)).length;
  count += Object.keys(objectAt(overrides, "duration")).filter((k) => !ROW_DURATION_KEYS.has(k)).length;
  return count;
}

function freshArmId(arms: Arm[]): string {
  const taken = new Set(arms.map((a) => a.id));
  if (!arms.length) return "control";
  for (let n = arms.length + 1; ; n += 1) if (!taken.has(`variant_${n}`)) return `variant_${n}`;
}

/** A/B arms as rows: an id, a weight (the share of players) and what the arm changes (pacing, transition,
 * mood, target duration). Overrides these rows do not show are kept untouched. */
function ArmsField({
  arms,
  findings,
  onChange,
}: {
  arms: Arm[] | null;
  findings: ValidationFinding[];
  onChange: (arms: Arm[] | null) => void;
}) {
  const rows = arms ?? [];
  const total = rows.reduce((sum, a) => sum + (a.weight ?? 1), 0);
  const setRow = (index: number, arm: Arm) => onChange(rows.map((a, i) => (i === index ? arm : a)));
  return (
    <Field
      as="div"
      label="A/B test arms"
      hint="Each player gets one arm, in proportion to its weight; an arm changes only what it sets."
      findings={findings}
    >
      <div className="arms-rows" data-testid="field-arms">
        {rows.length ? (
          <div className="arms-rows__head" aria-hidden>
            <span>Arm</span>
            <span>Weight</span>
            <span>Pacing</span>
            <span>Transition</span>
            <span>Mood to</span>
            <span>Target s</span>
            <span />
          </div>
        ) : (
          <p className="muted small">No arms: every player gets the node as configured.</p>
        )}
        {rows.map((arm, index) => {
          const overrides: Overrides = arm.overrides ?? {};
          const style = objectAt(overrides, "style");
          const duration = objectAt(overrides, "duration");
          const others = otherOverrides(overrides);
          const set = (section: string, key: string, value: unknown) =>
            setRow(index, { ...arm, overrides: withOverride(overrides, section, key, value) });
          const share = total > 0 ? Math.round(((arm.weight ?? 1) / total) * 100) : 0;
          return (
            <div className="arms-rows__row" key={index} data-testid={`arm-row-${index}`}>
              <TextInput testId={`arm-id-${index}`} value={arm.id} onChange={(v) => setRow(index, { ...arm, id: v })} />
              <span className="arms-rows__weight" title={`${share}% of players`}>
                <NumberInput
                  testId={`arm-weight-${index}`}
                  value={arm.weight ?? 1}
                  min={0}
                  step={0.5}
                  onChange={(v) => v !== null && setRow(index, { ...arm, weight: v })}
                />
              </span>
              <Select
                testId={`arm-pacing-${index}`}
                value={typeof style.pacing === "string" ? (style.pacing as (typeof PacingValues)[number]) : ""}
                allowNone="as node"
                options={labelled(PacingValues, PacingLabels)}
                onChange={(v) => set("style", "pacing", v)}
              />
              <Select
                testId={`arm-transition-${index}`}
                value={
                  typeof style.transitionType === "string"
                    ? (style.transitionType as (typeof TransitionTypeValues)[number])
                    : ""
                }
                allowNone="as node"
                options={labelled(TransitionTypeValues, TransitionTypeLabels)}
                onChange={(v) => set("style", "transitionType", v)}
              />
              <TextInput
                testId={`arm-mood-to-${index}`}
                value={typeof style.moodTo === "string" ? style.moodTo : ""}
                placeholder="as node"
                onChange={(v) => set("style", "moodTo", v.trim())}
              />
              <NumberInput
                testId={`arm-target-${index}`}
                value={typeof duration.target === "number" ? duration.target : null}
                allowEmpty
                min={0}
                step={0.5}
                placeholder="as node"
                onChange={(v) => set("duration", "target", v)}
              />
              <button
                type="button"
                className="icon-button"
                data-testid={`remove-arm-${index}`}
                aria-label={`Remove arm ${arm.id}`}
                title={`Remove arm ${arm.id}`}
                onClick={() => {
                  const left = rows.filter((_, i) => i !== index);
                  onChange(left.length ? left : null);
                }}
              >
                <Icon name="close" />
              </button>
              {others ? (
                <span className="muted small arms-rows__others">
                  and {others} other override{others === 1 ? "" : "s"}, kept as set
                </span>
              ) : null}
            </div>
          );
        })}
        <div>
          <button
            type="button"
            data-testid="add-arm"
            onClick={() => onChange([...rows, { id: freshArmId(rows), weight: 1, overrides: {} }])}
          >
            <Icon name="plus" /> Add arm
          </button>
        </div>
      </div>
    </Field>
  );
}
