import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GenerateContentResponse, GenerationValidationResult } from "../src/api/types.gen";
import { initialTestRun, testRunReducer, type Outcome, type TestRunAction, type TestRunState } from "../src/state/testRun";

const run = (...actions: TestRunAction[]): TestRunState => actions.reduce(testRunReducer, initialTestRun);
const outcome = (): Outcome => ({
  response: {} as GenerateContentResponse,
  seedText: null,
  requestJson: "{}",
  configJson: "{}",
  at: new Date(0),
});

describe("test panel state", () => {
  test("a generation is busy until it answers; each answer counts a run", () => {
    let s = run({ type: "generateStarted" });
    assert.equal(s.busy, "generate");
    s = testRunReducer(s, { type: "generated", outcome: outcome() });
    assert.equal(s.busy, null);
    assert.equal(s.runs, 1);
    assert.ok(s.outcome);
  });

  test("starting a generation clears the last error and notice; a failure keeps the last outcome", () => {
    let s = run({ type: "invalidateStarted" }, { type: "invalidated", notice: "dropped" });
    assert.equal(s.notice, "dropped");
    s = run({ type: "generateStarted" }, { type: "generated", outcome: outcome() }, { type: "generateStarted" });
    assert.equal(s.notice, null);
    s = testRunReducer(s, { type: "failed", message: "rate limited" });
    assert.equal(s.busy, null);
    assert.equal(s.error, "rate limited");
    assert.ok(s.outcome, "the last outcome stays on screen");
    assert.equal(testRunReducer(s, { type: "generateStarted" }).error, null);
  });

  test("validating for a player never changes what is running", () => {
    const deep = { result: { status: "ok" } as GenerationValidationResult, configJson: "{}" };
    let s = run({ type: "generateStarted" }, { type: "validateStarted" }, { type: "validateFailed", message: "x" });
    assert.equal(s.busy, "generate");
    assert.equal(s.error, "x");
    s = run({ type: "validateStarted" }, { type: "validated", deep });
    assert.equal(s.deep, deep);
    assert.equal(s.busy, null);
  });

  test("the form fields keep what was typed", () => {
    const s = run(
      { type: "field", field: "playerId", value: "ann" },
      { type: "field", field: "fail", value: "GEN_TIMEOUT" },
    );
    assert.equal(s.playerId, "ann");
    assert.equal(s.fail, "GEN_TIMEOUT");
    assert.equal(s.playthroughId, "editor-playthrough");
  });
});
