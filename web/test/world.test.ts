import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SceneGraph } from "../src/api/types.gen";
import { addCharacter, addLore, removeCharacter, renameCharacter, worldId } from "../src/state/world";

const graph = (): SceneGraph => ({
  id: "g",
  scenes: [
    { id: "a", characters: ["mara", "vex"] },
    { id: "b", characters: ["vex"] },
  ],
  characters: [
    { id: "mara", name: "Mara", relationships: [{ to: "vex", kind: "rival of" }] },
    { id: "vex", name: "Vex", relationships: [{ to: "mara", kind: "owes" }] },
  ],
  lore: [{ id: "lore", text: "Rain.", tags: [] }],
});

describe("the graph's world", () => {
  test("new characters and lore entries get ids nothing else has", () => {
    const once = addCharacter(graph());
    const twice = addCharacter(once);
    assert.deepEqual(
      twice.characters?.map((c) => c.id),
      ["mara", "vex", "character", "character_2"],
    );
    assert.equal(addLore(graph()).lore?.[1]?.id, "lore_2");
    assert.equal(worldId(graph(), "mara"), "mara_2");
  });

  test("renaming a character follows it into scenes and relationships", () => {
    const renamed = renameCharacter(graph(), 1, "vexa");
    assert.deepEqual(
      renamed.scenes.map((s) => s.characters),
      [["mara", "vexa"], ["vexa"]],
    );
    assert.equal(renamed.characters?.[0]?.relationships?.[0]?.to, "vexa");
    assert.equal(renamed.characters?.[1]?.relationships?.[0]?.to, "mara", "its own relationships keep their targets");
  });

  test("removing a character takes it out of the scenes it was present in", () => {
    const removed = removeCharacter(graph(), 1);
    assert.deepEqual(
      removed.characters?.map((c) => c.id),
      ["mara"],
    );
    assert.deepEqual(
      removed.scenes.map((s) => s.characters),
      [["mara"], []],
    );
  });
});
