// The "Validation & Test" tab's state: the request form, what is running, and the last outcome, notice,
// error and in-context validation. Pure: the TestPanel runs it with useReducer, the tests drive it.
import type { GenerateContentResponse, GenerationValidationResult } from "../api/types.gen";
import type { FailCode } from "./requests";

export interface Outcome {
  response: GenerateContentResponse;
  seedText: string | null;
  requestJson: string;
  configJson: string;
  at: Date;
}

export interface TestForm {
  fail: FailCode | "";
  provider: string;
  playthroughId: string;
  playerId: string;
}

export interface TestRunState extends TestForm {
  busy: null | "generate" | "invalidate";
  outcome: Outcome | null;
  error: string | null;
  notice: string | null;
  /** Generations run from this panel: the arms table refreshes on each. */
  runs: number;
  /** The last in-context validation, with the config it checked (stale once the config changes). */
  deep: { result: GenerationValidationResult; configJson: string } | null;
}

export type TestRunAction =
  | { [K in keyof TestForm]: { type: "field"; field: K; value: TestForm[K] } }[keyof TestForm]
  | { type: "generateStarted" }
  | { type: "generated"; outcome: Outcome }
  | { type: "invalidateStarted" }
  | { type: "invalidated"; notice: string }
  /** Generating or invalidating failed: nothing is running any more. */
  | { type: "failed"; message: string }
  | { type: "validateStarted" }
  | { type: "validated"; deep: { result: GenerationValidationResult; configJson: string } }
  /** The in-context validation failed (it never marks the panel busy). */
  | { type: "validateFailed"; message: string };

export const initialTestRun: TestRunState = {
  fail: "",
  provider: "",
  playthroughId: "editor-playthrough",
  playerId: "editor",
  busy: null,
  outcome: null,
  error: null,
  notice: null,
  runs: 0,
  deep: null,
};

export function testRunReducer(state: TestRunState, action: TestRunAction): TestRunState {
  switch (action.type) {
    case "field":
      return { ...state, [action.field]: action.value };
    case "generateStarted":
      return { ...state, busy: "generate", error: null, notice: null };
    case "generated":
      return { ...state, busy: null, outcome: action.outcome, runs: state.runs + 1 };
    case "invalidateStarted":
      return { ...state, busy: "invalidate", error: null };
    case "invalidated":
      return { ...state, busy: null, notice: action.notice };
    case "failed":
      return { ...state, busy: null, error: action.message };
    case "validateStarted":
      return { ...state, error: null };
    case "validated":
      return { ...state, deep: action.deep };
    case "validateFailed":
      return { ...state, error: action.message };
  }
}
