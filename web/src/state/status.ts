// What the editor shows as a status: a node's badge, the findings counted on each side-panel tab, and the
// save indicator of the top bar. Pure functions, tested in test/status.test.ts.
import { ErrorCodeLabels, FallbackModeLabels, GenerationStatusLabels } from "../api/labels.gen";
import type { GenerateContentResponse, ValidationFinding } from "../api/types.gen";
import type { SaveState } from "./editor";

export type TabId = "purpose" | "style" | "constraints" | "fallback" | "test" | "prompt";

/** The badge class of a validation status (`ok`, `warnings`, `errors`, `disabled`; anything else: unknown). */
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

/** The findings about these fields or anything below them (`style` covers `style.pacing`). */
export function findingsAt(findings: ValidationFinding[], ...fields: string[]): ValidationFinding[] {
  return findings.filter((f) => fields.some((field) => f.field === field || f.field.startsWith(`${field}.`)));
}

const TAB_FIELDS: Record<TabId, string[]> = {
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
  prompt: ["prompt", "loreTags"],
};

/** The findings a tab counts: those about its fields; the test tab counts them all. */
export function tabFindings(tab: TabId, findings: ValidationFinding[]): ValidationFinding[] {
  return tab === "test" ? findings : findingsAt(findings, ...TAB_FIELDS[tab]);
}

/** The most severe severity among findings (suggestion when there is none worse). */
export function worst(findings: ValidationFinding[]): string {
  return findings.some((f) => f.severity === "error")
    ? "error"
    : findings.some((f) => f.severity === "warning")
      ? "warning"
      : "suggestion";
}

/** The top bar's save indicator: its text and class. */
export function saveStatus(save: SaveState, dirty: boolean): { text: string; className: string } {
  const text =
    save.kind === "saving" ? "Saving…" : save.kind === "refused" ? "Save refused" : dirty ? "Unsaved changes" : "Saved";
  const className = save.kind === "refused" || save.kind === "failed" ? "is-error" : dirty ? "is-dirty" : "is-clean";
  return { text, className };
}

/** What the cache line says: a hit and its tier, a miss that generated, or (when generation failed) the
 * fallback that played instead: never "generated" for content that was not. */
export function cacheLine(response: GenerateContentResponse): string {
  const fallback = response.fallback?.applied ? response.fallback.mode : null;
  if (fallback) {
    const why = response.error ? `after ${ErrorCodeLabels[response.error.code]}` : "generation failed";
    return `miss: fallback played (${FallbackModeLabels[fallback]}, ${why})`;
  }
  if (response.cache.hit) return `hit (${response.cache.tier ?? "?"})${response.cache.stale ? ", stale: refreshing" : ""}`;
  return response.status === "complete" ? "miss (generated)" : `miss (${GenerationStatusLabels[response.status]})`;
}
