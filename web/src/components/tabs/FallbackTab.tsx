// "Fallback": what plays when generation fails (mode, default content, retries, timeout).
import { FallbackModeLabels } from "../../api/labels.gen";
import { FallbackModeValues, type Fallback } from "../../api/types.gen";
import { findingsAt } from "../../state/status";
import { Field, NumberInput, Select, TextInput, labelled } from "../fields";
import { FallbackPreview } from "../media/FallbackPreview";
import type { TabProps } from "./config";

const MODES = labelled(FallbackModeValues, FallbackModeLabels);

export function FallbackTab({ config, findings, onChange }: TabProps) {
  const fallback: Fallback = config.fallback ?? {};
  const setFallback = (patch: Partial<Fallback>, field: string) =>
    onChange((c) => ({ ...c, fallback: { ...(c.fallback ?? {}), ...patch } }), `fallback.${field}`);
  return (
    <section>
      <Field label="Mode" findings={findingsAt(findings, "fallback.mode")}>
        <Select
          testId="field-fallback-mode"
          value={fallback.mode ?? "skip"}
          options={MODES}
          onChange={(v) => setFallback({ mode: v }, "mode")}
        />
      </Field>
      <Field
        label="Default content id"
        hint={
          fallback.mode === "default_content"
            ? `Required for "${FallbackModeLabels.default_content}".`
            : `Used by "${FallbackModeLabels.default_content}" only.`
        }
        findings={findingsAt(findings, "fallback.defaultContentId")}
      >
        <TextInput
          testId="field-default-content-id"
          value={fallback.defaultContentId}
          onChange={(v) => setFallback({ defaultContentId: v || null }, "defaultContentId")}
        />
      </Field>
      <div className="field-row">
        <Field label="Max retries" findings={findingsAt(findings, "fallback.maxRetries")}>
          <NumberInput
            testId="field-max-retries"
            value={fallback.maxRetries}
            allowEmpty
            min={0}
            max={10}
            onChange={(v) => setFallback({ maxRetries: v }, "maxRetries")}
          />
        </Field>
        <Field label="Timeout (ms)" findings={findingsAt(findings, "fallback.timeoutMs")}>
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
      <FallbackPreview fallback={fallback} />
      <p className="muted small">
        Force a failure in “Validation &amp; Test” to watch this path: the answer shows the fallback that was
        applied.
      </p>
    </section>
  );
}
