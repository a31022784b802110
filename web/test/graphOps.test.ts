import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SceneGraph } from "../src/api/types.gen";
import {
  addGenerationNode,
  deleteScene,
  duplicateNode,
  freshId,
  parseList,
  renameId,
  renameProblem,
  updateConfig,
} from "../src/state/graphOps";

const graph = (): SceneGraph => ({
  id: "g",
  start: "a",
  scenes: [
    { id: "a", title: "A", mood: "calm" },
    { id: "b", title: "B", mood: "tense" },
    { id: "c", title: "C" },
  ],
  nodes: [],
  edges: [{ source: "b", target: "c" }],
});

describe("graph edits", () => {
  test("a node added between two scenes is gen-<from>-<to>, then -2, with the scenes' moods", () => {
    const first = addGenerationNode(graph(), "a", "b");
    assert.equal(first.id, "gen-a-b");
    const second = addGenerationNode(first.graph, "a", "b");
    assert.equal(second.id, "gen-a-b-2");
    const node = second.graph.nodes?.find((n) => n.id === "gen-a-b");
    assert.deepEqual([node?.fromScene, node?.toScene], ["a", "b"]);
    assert.equal(node?.config.style?.moodFrom, "calm");
    assert.equal(node?.config.style?.moodTo, "tense");
    assert.equal(node?.config.id, "gen-a-b");
  });

  test("a duplicate has a new id and version 1, and otherwise the same config", () => {
    const { graph: g } = addGenerationNode(graph(), "a", "b");
    const bumped = updateConfig(g, "gen-a-b", (c) => ({ ...c, version: 4, constraints: { requiredElements: ["x"] } }));
    const made = duplicateNode(bumped, "gen-a-b");
    assert.ok(made);
    assert.equal(made.id, "gen-a-b-copy");
    const copy = made.graph.nodes?.find((n) => n.id === made.id);
    const original = made.graph.nodes?.find((n) => n.id === "gen-a-b");
    assert.equal(copy?.config.id, "gen-a-b-copy");
    assert.equal(copy?.config.version, 1);
    assert.deepEqual({ ...copy?.config, id: null, version: null }, { ...original?.config, id: null, version: null });
    assert.equal(duplicateNode(made.graph, "gen-a-b")?.id, "gen-a-b-copy-2");
  });

  test("deleting a scene removes what names it and moves the start", () => {
    const { graph: g } = addGenerationNode(graph(), "a", "b");
    const left = deleteScene(g, "a");
    assert.deepEqual(
      left.scenes.map((s) => s.id),
      ["b", "c"],
    );
    assert.deepEqual(left.nodes, []);
    assert.equal(left.start, "b");
    assert.equal(deleteScene(left, "b").edges?.length, 0);
  });

  test("the last scene stays", () => {
    const one: SceneGraph = { id: "g", scenes: [{ id: "only" }] };
    assert.equal(deleteScene(one, "only"), one);
  });

  test("ids never collide with a scene or a node", () => {
    assert.equal(freshId(graph(), "a"), "a-2");
    assert.equal(freshId(graph(), "new"), "new");
  });

  test("comma-separated lists drop blanks and spaces", () => {
    assert.deepEqual(parseList(" phone_ring, ,kiss_callback ,"), ["phone_ring", "kiss_callback"]);
    assert.deepEqual(parseList(""), []);
  });

  test("a node added where a direct edge runs replaces that edge, so one path plays", () => {
    const added = addGenerationNode(graph(), "b", "c");
    assert.equal(added.replaced, true);
    assert.deepEqual(added.graph.edges, []);
    assert.equal(added.graph.nodes?.[0]?.fromScene, "b");
    const elsewhere = addGenerationNode(graph(), "a", "b");
    assert.equal(elsewhere.replaced, false);
    assert.deepEqual(elsewhere.graph.edges, [{ source: "b", target: "c" }]);
  });

  test("renaming a scene renames the start, the nodes and the edges that name it", () => {
    const withNode = addGenerationNode(graph(), "a", "b").graph;
    const renamed = renameId({ ...withNode, edges: [{ source: "b", target: "c" }] }, "b", "bridge");
    assert.deepEqual(
      renamed.scenes.map((s) => s.id),
      ["a", "bridge", "c"],
    );
    assert.equal(renamed.nodes?.[0]?.toScene, "bridge");
    assert.deepEqual(renamed.edges, [{ source: "bridge", target: "c" }]);
    assert.equal(renameId(withNode, "a", "opening").start, "opening");
  });

  test("renaming a Generation Node renames its config id too", () => {
    const { graph: g, id } = addGenerationNode(graph(), "a", "b");
    const renamed = renameId(g, id, "a_to_b");
    assert.equal(renamed.nodes?.[0]?.id, "a_to_b");
    assert.equal(renamed.nodes?.[0]?.config.id, "a_to_b");
  });

  test("a rename to a taken, empty or spaced id is refused with the reason", () => {
    const g = graph();
    assert.match(renameProblem(g, "a", "b") ?? "", /already/);
    assert.match(renameProblem(g, "a", "") ?? "", /empty/);
    assert.match(renameProblem(g, "a", "two words") ?? "", /spaces/);
    assert.equal(renameProblem(g, "a", "a"), null);
    assert.equal(renameId(g, "a", "b"), g);
  });
});
