import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GraphSummary, SceneGraph } from "../src/api/types.gen";
import { exportFile, importId, readGraphFile, searchGraphs } from "../src/state/graphFiles";

const graph: SceneGraph = { id: "the call/v2", title: "The call", scenes: [{ id: "a", title: "A" }] };

describe("graph files", () => {
  test("an export is the graph's JSON under a file name made from its id", () => {
    const file = exportFile(graph);
    assert.equal(file.name, "the_call_v2.json");
    assert.deepEqual(JSON.parse(file.text), graph);
  });

  test("an exported file reads back as the same graph", () => {
    assert.deepEqual(readGraphFile(exportFile(graph).text), { kind: "graph", graph });
  });

  test("a file that is not a graph says why", () => {
    const problem = (text: string) => {
      const read = readGraphFile(text);
      return read.kind === "problem" ? read.message : "";
    };
    assert.match(problem("{ not json"), /not JSON/);
    assert.match(problem("[1, 2]"), /not a graph/);
    assert.match(problem('{"id": "n", "generationType": "transition"}'), /Node config, not a graph/);
    assert.match(problem('{"id": "g"}'), /no "scenes"/);
    assert.match(problem('{"scenes": []}'), /no "id"/);
  });

  test("an import whose id is taken is offered as a copy", () => {
    assert.equal(importId("g", ["h"]), "g");
    assert.equal(importId("g", ["g"]), "g_copy");
    assert.equal(importId("g", ["g", "g_copy"]), "g_copy2");
  });

  test("the graph list's search matches every word in the title, id or author", () => {
    const graphs: GraphSummary[] = [
      { id: "three_scenes", title: "The call", version: 3, author: "mara" },
      { id: "harbour", title: "Night at the harbour", version: 1 },
    ];
    assert.deepEqual(
      searchGraphs(graphs, "CALL three").map((g) => g.id),
      ["three_scenes"],
    );
    assert.deepEqual(
      searchGraphs(graphs, "mara").map((g) => g.id),
      ["three_scenes"],
    );
    assert.deepEqual(
      searchGraphs(graphs, "  ").map((g) => g.id),
      ["three_scenes", "harbour"],
    );
    assert.deepEqual(searchGraphs(graphs, "dragon"), []);
  });
});
