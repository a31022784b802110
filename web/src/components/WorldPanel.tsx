// The graph's world: its characters (name, description, voice, relationships) and lore entries (text, tags),
// added, edited and removed here; prompts draw on them (docs/prompts.md). The graph's findings about them
// (an unknown character, a repeated id) show under the entry they name.
import type { Character, LoreEntry, Relationship, SceneGraph, ValidationFinding } from "../api/types.gen";
import { addCharacter, addLore, removeCharacter, renameCharacter } from "../state/world";
import { Field, TagInput, TextInput } from "./fields";
import { Icon } from "./Icon";

export type WorldChange = (update: (graph: SceneGraph) => SceneGraph, field: string) => void;

function at(findings: ValidationFinding[], ...prefixes: string[]): ValidationFinding[] {
  return findings.filter((f) => prefixes.some((p) => f.field === p || f.field.startsWith(`${p}.`)));
}

export function WorldPanel({
  graph,
  findings,
  onChange,
  onClose,
}: {
  graph: SceneGraph;
  findings: ValidationFinding[];
  onChange: WorldChange;
  onClose: () => void;
}) {
  const characters = graph.characters ?? [];
  const lore = graph.lore ?? [];
  const tagSuggestions = [
    ...graph.scenes.map((s) => ({ value: s.id, detail: s.title || s.id })),
    ...graph.scenes.flatMap((s) => (s.location ? [{ value: s.location, detail: `location ${s.location}` }] : [])),
    ...characters.map((c) => ({ value: c.id, detail: c.name || c.id })),
  ].filter((s, i, all) => all.findIndex((o) => o.value === s.value) === i);
  const setCharacter = (index: number, patch: Partial<Character>, field: string) =>
    onChange(
      (g) => ({ ...g, characters: (g.characters ?? []).map((c, i) => (i === index ? { ...c, ...patch } : c)) }),
      `characters.${index}.${field}`,
    );
  const setLore = (index: number, patch: Partial<LoreEntry>, field: string) =>
    onChange(
      (g) => ({ ...g, lore: (g.lore ?? []).map((l, i) => (i === index ? { ...l, ...patch } : l)) }),
      `lore.${index}.${field}`,
    );
  const setRelationships = (index: number, relationships: Relationship[]) =>
    setCharacter(index, { relationships }, "relationships");

  return (
    <aside className="side-panel world-panel" data-testid="world-panel" aria-label="Characters and lore">
      <header className="side-panel__head">
        <div className="side-panel__title">
          <span className="gen-node__icon">
            <Icon name="list" />
          </span>
          <div>
            <div className="side-panel__id">Characters &amp; lore</div>
            <div className="muted small">
              {characters.length} characters · {lore.length} lore entries · prompts draw on them
            </div>
          </div>
        </div>
        <button type="button" className="icon-button" title="Close" aria-label="Close" onClick={onClose}>
          <Icon name="close" />
        </button>
      </header>
      <div className="side-panel__body">
        <section data-testid="world-characters">
          <h3>Characters</h3>
          {characters.length === 0 ? (
            <p className="muted small">No characters yet. Scenes name who is present; prompts describe them.</p>
          ) : null}
          {characters.map((character, index) => (
            <fieldset key={index} className="world-entry" data-testid={`character-${index}`}>
              <div className="field-row">
                <Field label="Name" findings={at(findings, `characters.${index}`)}>
                  <TextInput
                    testId={`character-${index}-name`}
                    value={character.name}
                    onChange={(v) => setCharacter(index, { name: v }, "name")}
                  />
                </Field>
                <Field label="Id" findings={at(findings, `characters.${character.id}`)}>
                  <TextInput
                    testId={`character-${index}-id`}
                    value={character.id}
                    onChange={(v) => onChange((g) => renameCharacter(g, index, v), `characters.${index}.id`)}
                  />
                </Field>
              </div>
              <Field label="Description">
                <textarea
                  data-testid={`character-${index}-description`}
                  rows={2}
                  value={character.description ?? ""}
                  onChange={(e) => setCharacter(index, { description: e.target.value || null }, "description")}
                />
              </Field>
              <Field label="Voice" hint="How they speak: words, rhythm, habits.">
                <TextInput
                  testId={`character-${index}-voice`}
                  value={character.voice}
                  onChange={(v) => setCharacter(index, { voice: v || null }, "voice")}
                />
              </Field>
              <div className="world-relationships">
                <span className="field__label">Relationships</span>
                {(character.relationships ?? []).map((relation, r) => (
                  <div key={r} className="field-row">
                    <TextInput
                      testId={`character-${index}-relationship-${r}-kind`}
                      value={relation.kind}
                      placeholder="rival of"
                      onChange={(v) =>
                        setRelationships(
                          index,
                          (character.relationships ?? []).map((x, j) => (j === r ? { ...x, kind: v } : x)),
                        )
                      }
                    />
                    <select
                      data-testid={`character-${index}-relationship-${r}-to`}
                      value={relation.to}
                      onChange={(e) =>
                        setRelationships(
                          index,
                          (character.relationships ?? []).map((x, j) => (j === r ? { ...x, to: e.target.value } : x)),
                        )
                      }
                    >
                      {characters.some((c) => c.id === relation.to) ? null : (
                        <option value={relation.to}>{relation.to} (unknown)</option>
                      )}
                      {characters.map((c) => (
                        <option key={c.id} value={c.id}>
                          {c.name || c.id}
                        </option>
                      ))}
                    </select>
                    <button
                      type="button"
                      className="icon-button"
                      title="Remove the relationship"
                      aria-label="Remove the relationship"
                      onClick={() =>
                        setRelationships(
                          index,
                          (character.relationships ?? []).filter((_, j) => j !== r),
                        )
                      }
                    >
                      <Icon name="close" />
                    </button>
                  </div>
                ))}
                <button
                  type="button"
                  className="link"
                  data-testid={`character-${index}-add-relationship`}
                  disabled={characters.length < 2}
                  onClick={() => {
                    const other = characters.find((c) => c.id !== character.id);
                    if (other) setRelationships(index, [...(character.relationships ?? []), { to: other.id, kind: "" }]);
                  }}
                >
                  + relationship
                </button>
              </div>
              <div className="actions">
                <button
                  type="button"
                  data-testid={`character-${index}-remove`}
                  onClick={() => onChange((g) => removeCharacter(g, index), `characters.${index}`)}
                >
                  Remove {character.name || character.id}
                </button>
              </div>
            </fieldset>
          ))}
          <button
            type="button"
            data-testid="add-character"
            onClick={() => onChange(addCharacter, "characters")}
          >
            + Character
          </button>
        </section>
        <section data-testid="world-lore">
          <h3>Lore</h3>
          <p className="muted small">
            A node gets the entries tagged with its scenes, their locations, the characters present or its lore tags,
            and every entry without tags.
          </p>
          {lore.map((entry, index) => (
            <fieldset key={index} className="world-entry" data-testid={`lore-${index}`}>
              <Field label="Text" findings={at(findings, `lore.${index}`)}>
                <textarea
                  data-testid={`lore-${index}-text`}
                  rows={2}
                  value={entry.text}
                  onChange={(e) => setLore(index, { text: e.target.value }, "text")}
                />
              </Field>
              <div className="field-row">
                <Field as="div" label="Tags" hint="Scene, location or character ids; none: every node">
                  <TagInput
                    testId={`lore-${index}-tags`}
                    noun="tag"
                    value={entry.tags}
                    suggestions={tagSuggestions}
                    onChange={(v) => setLore(index, { tags: v }, "tags")}
                  />
                </Field>
                <Field label="Id">
                  <TextInput
                    testId={`lore-${index}-id`}
                    value={entry.id}
                    onChange={(v) => setLore(index, { id: v }, "id")}
                  />
                </Field>
              </div>
              <div className="actions">
                <button
                  type="button"
                  data-testid={`lore-${index}-remove`}
                  onClick={() =>
                    onChange((g) => ({ ...g, lore: (g.lore ?? []).filter((_, i) => i !== index) }), `lore.${index}`)
                  }
                >
                  Remove entry
                </button>
              </div>
            </fieldset>
          ))}
          <button
            type="button"
            data-testid="add-lore"
            onClick={() => onChange(addLore, "lore")}
          >
            + Lore entry
          </button>
        </section>
      </div>
    </aside>
  );
}
