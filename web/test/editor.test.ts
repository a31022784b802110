import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ApiError } from "../src/api/client";
import type { GraphSummary, SceneGraph } from "../src/api/types.gen";
import {
  canRedo,
  canUndo,
  editorReducer,
  graphOf,
  initialEditorState,
  isDirty,
  primaryOf,
  selectedNodeOf,
  selectedSceneOf,
  type EditorAction,
  type EditorState,
} from "../src/state/editor";
import { addGenerationNode } from "../src/state/graphOps";
import { COALESCE_MS } from "../src/state/history";

const graph = (): SceneGraph => ({
  id: "g",
  title: "G",
  start: "a",
  scenes: [
    { id: "a", title: "A" },
    { id: "b", title: "B" },
  ],
  nodes: [],
  edges: [],
});

const run = (state: EditorState, ...actions: EditorAction[]): EditorState => actions.reduce(editorReducer, state);
const opened = (version: number | null = 3): EditorState =>
  run(initialEditorState, { type: "opened", id: "g", graph: graph(), version });
const retitle = (title: string, key: string | null = null, at = 0): EditorAction => ({
  type: "edit",
  update: (g) => ({ ...g, title }),
  key,
  at,
});

describe("editor store: the document and its history", () => {
  test("an opened graph is clean, with nothing to undo, at the version it was loaded as", () => {
    const s = opened(3);
    assert.equal(graphOf(s)?.id, "g");
    assert.equal(s.graphId, "g");
    assert.equal(s.baseVersion, 3);
    assert.equal(isDirty(s), false);
    assert.equal(canUndo(s), false);
    assert.equal(canRedo(s), false);
  });

  test("an edit makes the document dirty; undo makes it clean again and redo dirty again", () => {
    let s = run(opened(), retitle("H"));
    assert.equal(graphOf(s)?.title, "H");
    assert.equal(isDirty(s), true);
    assert.equal(canUndo(s), true);
    s = run(s, { type: "undo" });
    assert.equal(graphOf(s)?.title, "G");
    assert.equal(isDirty(s), false, "back to what was loaded: nothing unsaved");
    assert.equal(canRedo(s), true);
    s = run(s, { type: "redo" });
    assert.equal(graphOf(s)?.title, "H");
    assert.equal(isDirty(s), true);
  });

  test("typing in one field coalesces into one undo step", () => {
    const s = run(opened(), retitle("H", "title", 1000), retitle("Ha", "title", 1000 + COALESCE_MS - 1));
    assert.equal(s.history.past.length, 1);
    assert.equal(graphOf(run(s, { type: "undo" }))?.title, "G");
  });

  test("an edit that changes nothing, or with no document open, leaves the state as it is", () => {
    const s = opened();
    assert.equal(editorReducer(s, { type: "edit", update: (g) => g, key: null, at: 0 }), s);
    assert.equal(editorReducer(initialEditorState, retitle("H")), initialEditorState);
    assert.equal(editorReducer(s, { type: "undo" }), s);
    assert.equal(editorReducer(s, { type: "redo" }), s);
  });

  test("opening another graph drops the history and the selection", () => {
    let s = run(opened(), retitle("H"), { type: "select", id: "a", at: 1 });
    s = run(s, { type: "opened", id: "g", graph: graph(), version: 4 });
    assert.equal(canUndo(s), false);
    assert.deepEqual(s.selection, []);
    assert.equal(s.baseVersion, 4);
    assert.equal(isDirty(s), false);
  });
});

describe("editor store: selection", () => {
  test("select picks one id, clears the edge and asks the canvas to centre it", () => {
    let s = run(opened(), { type: "canvasSelect", ids: [], edge: "a->b" });
    assert.equal(s.selectedEdge, "a->b");
    s = run(s, { type: "select", id: "b", at: 42 });
    assert.deepEqual(s.selection, ["b"]);
    assert.equal(s.selectedEdge, null);
    assert.deepEqual(s.focusRequest, { id: "b", at: 42 });
    assert.equal(selectedSceneOf(s)?.id, "b");
    assert.equal(selectedNodeOf(s), null);
  });

  test("selecting nothing keeps the last focus request", () => {
    const s = run(opened(), { type: "select", id: "a", at: 1 }, { type: "select", id: null, at: 2 });
    assert.deepEqual(s.selection, []);
    assert.deepEqual(s.focusRequest, { id: "a", at: 1 });
  });

  test("the last of several selected ids is the primary; a Generation Node there is the selected node", () => {
    let s = run(opened(), { type: "edit", update: (g) => addGenerationNode(g, "a", "b").graph, key: null, at: 0 });
    s = run(s, { type: "canvasSelect", ids: ["a", "gen-a-b"], edge: null });
    assert.equal(primaryOf(s), "gen-a-b");
    assert.equal(selectedNodeOf(s)?.id, "gen-a-b");
    assert.equal(selectedSceneOf(s), null);
  });

  test("the canvas reporting the same selection keeps the same array", () => {
    const s = run(opened(), { type: "canvasSelect", ids: ["a", "b"], edge: null });
    const again = run(s, { type: "canvasSelect", ids: ["a", "b"], edge: null });
    assert.equal(again.selection, s.selection);
  });

  test("clearing the selection keeps the selected edge; clearEdge drops it", () => {
    let s = run(opened(), { type: "canvasSelect", ids: ["a"], edge: "a->b" }, { type: "clearSelection" });
    assert.deepEqual(s.selection, []);
    assert.equal(s.selectedEdge, "a->b");
    s = run(s, { type: "clearEdge" });
    assert.equal(s.selectedEdge, null);
  });
});

describe("editor store: saving", () => {
  const listed: GraphSummary[] = [
    { id: "g", title: "G", version: 3 },
    { id: "other", title: "O", version: 1 },
  ];

  test("a save marks what was sent as saved, at the new version, in the graph list too", () => {
    let s = run(opened(3), { type: "graphsListed", graphs: listed }, retitle("H"), { type: "saveStarted" });
    assert.equal(s.save.kind, "saving");
    const sent = graphOf(s) as SceneGraph;
    s = run(s, { type: "saved", graph: sent, version: 4 });
    assert.equal(s.save.kind, "idle");
    assert.equal(isDirty(s), false);
    assert.equal(s.baseVersion, 4);
    assert.deepEqual(
      s.graphs?.map((g) => [g.id, g.title, g.version]),
      [
        ["g", "H", 4],
        ["other", "O", 1],
      ],
    );
    assert.equal(canUndo(s), true, "a save keeps the undo history");
  });

  test("an edit made while the save was under way stays unsaved", () => {
    let s = run(opened(3), retitle("H"), { type: "saveStarted" });
    const sent = graphOf(s) as SceneGraph;
    s = run(s, retitle("I"), { type: "saved", graph: sent, version: 4 });
    assert.equal(isDirty(s), true);
    s = run(s, { type: "undo" });
    assert.equal(isDirty(s), false, "undoing back to what was saved is clean");
  });

  test("a conflict, a refusal and a failure keep the edits unsaved and the base version", () => {
    const edited = run(opened(3), retitle("H"), { type: "saveStarted" });
    const conflict = run(edited, { type: "saveConflict", serverVersion: 5, author: "ann" });
    assert.deepEqual(conflict.save, { kind: "conflict", serverVersion: 5, author: "ann" });
    const error = { status: 422, message: "invalid" } as unknown as ApiError;
    const refused = run(edited, { type: "saveRefused", error });
    assert.equal(refused.save.kind === "refused" && refused.save.error, error);
    const failed = run(edited, { type: "saveFailed", message: "offline" });
    assert.deepEqual(failed.save, { kind: "failed", message: "offline" });
    for (const s of [conflict, refused, failed]) {
      assert.equal(isDirty(s), true);
      assert.equal(s.baseVersion, 3);
    }
    assert.equal(run(failed, { type: "saveDismissed" }).save.kind, "idle");
  });

  test("nothing open is never dirty", () => {
    assert.equal(isDirty(initialEditorState), false);
  });
});
