// "Constraints & Rules": the rating, required and avoided elements, content rules and the DSL rules.
import { RatingLabels } from "../../api/labels.gen";
import { RatingValues, type Constraints, type DslResult } from "../../api/types.gen";
import { useLexicon } from "../../state/lexicon";
import { findingsAt } from "../../state/status";
import { Field, Select, TagInput, labelled } from "../fields";
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
  const lexicon = useLexicon();
  const setConstraints = (patch: Partial<Constraints>, field: string) =>
    onChange((c) => ({ ...c, constraints: { ...(c.constraints ?? {}), ...patch } }), `constraints.${field}`);
  return (
    <section>
      <Field label="Rating" findings={findingsAt(findings, "constraints.rating")}>
        <Select
          testId="field-rating"
          value={constraints.rating ?? "PG"}
          options={labelled(RatingValues, RatingLabels)}
          onChange={(v) => setConstraints({ rating: v }, "rating")}
        />
      </Field>
      <Field
        as="div"
        label="Must show"
        hint="Elements the content must include; suggestions come from the lexicon and the templates."
        findings={findingsAt(findings, "constraints.requiredElements")}
      >
        <TagInput
          testId="required-elements"
          noun="element"
          value={constraints.requiredElements}
          suggestions={lexicon.elements}
          onChange={(v) => setConstraints({ requiredElements: v }, "requiredElements")}
        />
      </Field>
      <Field
        as="div"
        label="Must avoid"
        hint="Elements the content must never include."
        findings={findingsAt(findings, "constraints.avoidElements")}
      >
        <TagInput
          testId="avoid-elements"
          noun="element"
          value={constraints.avoidElements}
          suggestions={lexicon.elements}
          onChange={(v) => setConstraints({ avoidElements: v }, "avoidElements")}
        />
      </Field>
      <Field
        as="div"
        label="Content rules"
        hint="Rules the writing follows, as the templates name them."
        findings={findingsAt(findings, "constraints.contentRules")}
      >
        <TagInput
          testId="field-content-rules"
          noun="rule"
          value={constraints.contentRules}
          suggestions={lexicon.rules}
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
