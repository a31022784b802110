// "Style & Duration": the mood, pacing and transition, and the duration range with its target.
import { PacingLabels, TransitionTypeLabels } from "../../api/labels.gen";
import { PacingValues, TransitionTypeValues, type Duration, type Style } from "../../api/types.gen";
import { findingsAt } from "../../state/status";
import { Field, NumberInput, Select, TextInput, labelled } from "../fields";
import type { TabProps } from "./config";

export function StyleTab({ config, findings, onChange }: TabProps) {
  const style: Style = config.style ?? {};
  const duration: Required<Duration> = {
    min: config.duration?.min ?? 5,
    max: config.duration?.max ?? 30,
    target: config.duration?.target ?? 10,
  };
  const setStyle = (patch: Partial<Style>, field: string) =>
    onChange((c) => ({ ...c, style: { ...(c.style ?? {}), ...patch } }), `style.${field}`);
  const setDuration = (patch: Partial<Duration>, field: string) =>
    onChange((c) => ({ ...c, duration: { ...(c.duration ?? duration), ...patch } }), `duration.${field}`);
  return (
    <section>
      <div className="field-row">
        <Field label="Mood from" findings={findingsAt(findings, "style.moodFrom")}>
          <TextInput
            testId="field-mood-from"
            value={style.moodFrom}
            onChange={(v) => setStyle({ moodFrom: v || null }, "moodFrom")}
          />
        </Field>
        <Field label="Mood to" findings={findingsAt(findings, "style.moodTo")}>
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
            options={labelled(PacingValues, PacingLabels)}
            onChange={(v) => setStyle({ pacing: v }, "pacing")}
          />
        </Field>
        <Field label="Transition">
          <Select
            testId="field-transition-type"
            value={style.transitionType ?? "gradual"}
            options={labelled(TransitionTypeValues, TransitionTypeLabels)}
            onChange={(v) => setStyle({ transitionType: v }, "transitionType")}
          />
        </Field>
      </div>
      <h4>Duration (seconds)</h4>
      <div className="field-row three">
        <Field label="Min" findings={findingsAt(findings, "duration.min")}>
          <NumberInput
            testId="field-duration-min"
            value={duration.min}
            step={0.5}
            onChange={(v) => v !== null && setDuration({ min: v }, "min")}
          />
        </Field>
        <Field label="Target" findings={findingsAt(findings, "duration.target")}>
          <NumberInput
            testId="field-duration-target"
            value={duration.target}
            step={0.5}
            onChange={(v) => v !== null && setDuration({ target: v }, "target")}
          />
        </Field>
        <Field label="Max" findings={findingsAt(findings, "duration.max")}>
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
  );
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
