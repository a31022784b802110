import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { COALESCE_MS, LIMIT, reducer, type State } from "../src/state/history";

const start = (doc: number): State<number> => ({ past: [], present: doc, future: [], lastKey: null, lastAt: 0 });
const apply = (state: State<number>, value: number, key: string | null = null, at = 0) =>
  reducer(state, { type: "apply", update: () => value, key, at });

describe("undo history", () => {
  test("undo and redo walk back and forth, and a new edit drops the redo branch", () => {
    let s = apply(apply(start(0), 1), 2);
    s = reducer(s, { type: "undo" });
    assert.equal(s.present, 1);
    s = reducer(s, { type: "redo" });
    assert.equal(s.present, 2);
    s = reducer(reducer(s, { type: "undo" }), { type: "undo" });
    assert.equal(s.present, 0);
    s = apply(s, 7);
    assert.deepEqual(s.future, []);
    assert.equal(reducer(s, { type: "redo" }).present, 7);
  });

  test("typing in one field within the window is one step; another field or a pause is a new one", () => {
    let s = apply(start(0), 1, "field:a", 1000);
    s = apply(s, 2, "field:a", 1000 + COALESCE_MS - 1);
    assert.equal(s.past.length, 1, "two keystrokes in the same field coalesce");
    s = apply(s, 3, "field:b", 1000 + COALESCE_MS);
    assert.equal(s.past.length, 2, "another field is a new step");
    s = apply(s, 4, "field:b", 1000 + 3 * COALESCE_MS);
    assert.equal(s.past.length, 3, "a pause is a new step");
    assert.equal(reducer(s, { type: "undo" }).present, 3);
  });

  test("an edit that changes nothing is not a step", () => {
    const s = start(5);
    assert.equal(reducer(s, { type: "apply", update: (d) => d, key: null, at: 0 }), s);
  });

  test("the history keeps at most LIMIT steps", () => {
    let s = start(0);
    for (let i = 1; i <= LIMIT + 20; i += 1) s = apply(s, i);
    assert.equal(s.past.length, LIMIT);
  });

  test("undo with nothing to undo keeps the state", () => {
    const s = start(1);
    assert.equal(reducer(s, { type: "undo" }), s);
    assert.equal(reducer(s, { type: "redo" }), s);
  });
});
