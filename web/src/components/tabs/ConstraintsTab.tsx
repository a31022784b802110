// "Constraints & Rules": the rating, required and avoided elements, content rules and the DSL rules.
import { RatingValues, type Constraints, type DslResult } from "../../api/types.gen";
import { findingsAt } from "../../state/status";
import { Field, ListInput, Select } from "../fields";
import { RulesEditor } from "../RulesEditor";
import type { TabProps } from "./config";

export function ConstraintsTab({
  config,
  findings,
  onChange,
  dsl,
  dslError,
}: TabProps & { dsl: DslResult | null; dslError: string | null }) {
  const constraints: Constraints = config.constraints ?? {};
  const setConstraints = (patch: Partial<Constraints>, field: string) =>
    onChange((c) => ({ ...c, constraints: { ...(c.constraints ?? {}), ...patch } }), `constraints.${field}`);
  return (
    <section>
      <Field label="Rating" findings={findingsAt(findings, "constraints.rating")}>
        <Select
          testId="field-rating"
          value={constraints.rating ?? "PG"}
          options={RatingValues}
          onChange={(v) => setConstraints({ rating: v }, "rating")}
        />
      </Field>
      <Field
        label="Required elements"
        hint="Comma separated, e.g. phone_ring, kiss_callback"
        findings={findingsAt(findings, "constraints.requiredElements")}
      >
        <ListInput
          testId="required-elements"
          value={constraints.requiredElements}
          onChange={(v) => setConstraints({ requiredElements: v }, "requiredElements")}
        />
      </Field>
      <Field label="Avoid elements" hint="Comma separated" findings={findingsAt(findings, "constraints.avoidElements")}>
        <ListInput
          testId="avoid-elements"
          value={constraints.avoidElements}
          onChange={(v) => setConstraints({ avoidElements: v }, "avoidElements")}
        />
      </Field>
      <Field
        label="Content rules"
        hint="Comma separated rule ids"
        findings={findingsAt(findings, "constraints.contentRules")}
      >
        <ListInput
          testId="field-content-rules"
          value={constraints.contentRules}
          onChange={(v) => setConstraints({ contentRules: v }, "contentRules")}
        />
      </Field>
      {findingsAt(findings, "constraints")
        .filter((f) => f.field === "constraints")
        .map((f) => (
          <p key={f.code} className={`field__finding sev-${f.severity}`}>
            {f.message}
          </p>
        ))}
      <Field label="Rules (DSL)" hint="Evaluated per player at play time; see docs/dsl.md.">
        <RulesEditor
          source={config.rules ?? ""}
          result={dsl}
          error={dslError}
          onChange={(v) => onChange((c) => ({ ...c, rules: v === "" ? null : v }), "rules")}
        />
      </Field>
    </section>
  );
}
