import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SceneGraph } from "../src/api/types.gen";
import { addGenerationNode } from "../src/state/graphOps";
import { completeLayout } from "../src/state/layout";

const base: SceneGraph = {
  id: "g",
  start: "a",
  scenes: [{ id: "a" }, { id: "b" }, { id: "lonely" }],
  edges: [{ source: "a", target: "b" }],
};

describe("layout", () => {
  test("scenes go left to right from the start; unreached ones on a row of their own", () => {
    const layout = completeLayout(base, {});
    assert.ok(layout.a && layout.b && layout.lonely);
    assert.ok(layout.a.x < layout.b.x);
    assert.equal(layout.a.y, layout.b.y);
    assert.ok(layout.lonely.y > layout.a.y);
  });

  test("stored places are kept", () => {
    assert.deepEqual(completeLayout(base, { a: { x: 7, y: 9 } }).a, { x: 7, y: 9 });
  });

  test("Generation Nodes sit between their scenes, below, and never on top of each other", () => {
    const one = addGenerationNode(base, "a", "b").graph;
    const two = addGenerationNode(one, "a", "b").graph;
    const layout = completeLayout(two, {});
    const first = layout["gen-a-b"];
    const second = layout["gen-a-b-2"];
    assert.ok(first && second && layout.a && layout.b);
    assert.ok(first.x > layout.a.x && first.x < layout.b.x, "between the scenes");
    assert.ok(first.y > layout.a.y, "below them");
    assert.ok(Math.abs(first.y - second.y) >= 105, "not overlapping");
  });
});
