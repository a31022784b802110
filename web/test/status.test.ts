import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GenerateContentResponse, ValidationFinding } from "../src/api/types.gen";
import { cacheLine, findingsAt, saveStatus, statusBadge, tabFindings, worst } from "../src/state/status";
import { shiftIntoView } from "../src/components/inViewport";

const finding = (field: string, severity: ValidationFinding["severity"] = "error"): ValidationFinding => ({
  code: "X",
  field,
  message: "m",
  severity,
});

describe("status", () => {
  test("a validation status maps to its badge; anything unknown is unknown", () => {
    assert.deepEqual(
      ["ok", "warnings", "errors", "disabled", null, "??"].map(statusBadge),
      ["ok", "warning", "error", "disabled", "unknown", "unknown"],
    );
  });

  test("findings at a field include the ones below it, not a field that only shares the prefix", () => {
    const all = [finding("style"), finding("style.pacing"), finding("styles"), finding("seed")];
    assert.deepEqual(
      findingsAt(all, "style").map((f) => f.field),
      ["style", "style.pacing"],
    );
  });

  test("each tab counts its own fields' findings, the test tab counts them all", () => {
    const all = [finding("seed"), finding("duration.min"), finding("rules"), finding("fallback.mode")];
    assert.deepEqual(tabFindings("purpose", all).map((f) => f.field), ["seed"]);
    assert.deepEqual(tabFindings("style", all).map((f) => f.field), ["duration.min"]);
    assert.deepEqual(tabFindings("constraints", all).map((f) => f.field), ["rules"]);
    assert.deepEqual(tabFindings("fallback", all).map((f) => f.field), ["fallback.mode"]);
    assert.equal(tabFindings("test", all).length, 4);
  });

  test("the worst severity wins", () => {
    assert.equal(worst([finding("a", "suggestion"), finding("b", "warning")]), "warning");
    assert.equal(worst([finding("a", "warning"), finding("b", "error")]), "error");
    assert.equal(worst([]), "suggestion");
  });

  test("the save indicator", () => {
    assert.deepEqual(saveStatus({ kind: "idle" }, false), { text: "Saved", className: "is-clean" });
    assert.deepEqual(saveStatus({ kind: "idle" }, true), { text: "Unsaved changes", className: "is-dirty" });
    assert.deepEqual(saveStatus({ kind: "saving" }, true), { text: "Saving…", className: "is-dirty" });
    assert.deepEqual(saveStatus({ kind: "failed", message: "x" }, true), {
      text: "Unsaved changes",
      className: "is-error",
    });
    assert.deepEqual(saveStatus({ kind: "conflict", serverVersion: 2, author: null }, true), {
      text: "Unsaved changes",
      className: "is-dirty",
    });
  });

  test("the cache line names the fallback when one played, never 'generated'", () => {
    const answer = (patch: Partial<GenerateContentResponse>): GenerateContentResponse => ({
      cache: { hit: false },
      cache_key: "k",
      cost: {},
      deterministic: true,
      status: "complete",
      ...patch,
    });
    assert.equal(cacheLine(answer({})), "miss (generated)");
    assert.equal(cacheLine(answer({ cache: { hit: true, tier: "memory" } })), "hit (memory)");
    const failed = cacheLine(
      answer({
        status: "failed",
        fallback: { applied: true, mode: "default_content", reason: "GEN_TIMEOUT: late" },
        error: { code: "GEN_TIMEOUT", message: "late" },
      }),
    );
    assert.equal(failed, "miss: fallback played (Play pre-made content, after Generation timed out)");
    assert.ok(!failed.includes("generated"));
  });

  test("a popover sticking out of the window is shifted back in by as much as it sticks out", () => {
    assert.equal(shiftIntoView(-217, 123, 1280), 225);
    assert.equal(shiftIntoView(1000, 1340, 1280), -68);
    assert.equal(shiftIntoView(100, 400, 1280), 0);
    // Wider than the window: its left edge stays in view.
    assert.equal(shiftIntoView(100, 1500, 1280), -92);
  });
});
