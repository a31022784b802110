// The selected scene's fields (what a transition is generated from: mood, summary, location, image, the
// characters present).
import type { Character, Scene } from "../api/types.gen";
import { Field, TextInput } from "./fields";
import { Icon } from "./Icon";
import { IdRename } from "./IdRename";
import { ImagePicker } from "./media/ImagePicker";

export function SceneEditor({
  scene,
  characters,
  isStart,
  onChange,
  onMakeStart,
  onClose,
  onRename,
}: {
  scene: Scene;
  characters: Character[];
  isStart: boolean;
  onChange: (patch: Partial<Scene>, field: string) => void;
  onMakeStart: () => void;
  onClose: () => void;
  /** Renames the scene; answers why not (null: renamed). */
  onRename: (next: string) => string | null;
}) {
  return (
    <aside className="side-panel" data-testid="scene-panel">
      <header className="side-panel__head">
        <div className="side-panel__title">
          <span className="gen-node__icon">
            <Icon name="scene" />
          </span>
          <div>
            <div className="side-panel__id">{scene.title || scene.id}</div>
            <IdRename id={scene.id} noun="scene" onRename={onRename} />
            {isStart ? <div className="muted small">start scene</div> : null}
          </div>
        </div>
        <button type="button" className="icon-button" title="Close (Esc)" aria-label="Close" onClick={onClose}>
          <Icon name="close" />
        </button>
      </header>
      <div className="side-panel__body">
        <section>
          <Field label="Title">
            <TextInput testId="scene-title" value={scene.title} onChange={(v) => onChange({ title: v }, "title")} />
          </Field>
          <div className="field-row">
            <Field label="Mood">
              <TextInput
                testId="scene-mood"
                value={scene.mood}
                onChange={(v) => onChange({ mood: v || null }, "mood")}
              />
            </Field>
            <Field label="Emotional state">
              <TextInput
                testId="scene-emotional-state"
                value={scene.emotionalState}
                onChange={(v) => onChange({ emotionalState: v || null }, "emotionalState")}
              />
            </Field>
          </div>
          <Field label="Location">
            <TextInput
              testId="scene-location"
              value={scene.location}
              onChange={(v) => onChange({ location: v || null }, "location")}
            />
          </Field>
          <Field label="Summary">
            <textarea
              data-testid="scene-summary"
              rows={4}
              value={scene.summary ?? ""}
              onChange={(e) => onChange({ summary: e.target.value || null }, "summary")}
            />
          </Field>
          <fieldset className="scene-characters" data-testid="scene-characters">
            <legend className="field__label">Characters present</legend>
            {characters.length === 0 ? (
              <span className="muted small">The graph has no characters yet: add them under “World”.</span>
            ) : null}
            {characters.map((c) => {
              const present = scene.characters ?? [];
              return (
                <label key={c.id} className="checkbox">
                  <input
                    type="checkbox"
                    data-testid={`scene-character-${c.id}`}
                    checked={present.includes(c.id)}
                    onChange={(e) => {
                      const next = e.target.checked ? [...present, c.id] : present.filter((id) => id !== c.id);
                      onChange({ characters: next.length ? next : null }, "characters");
                    }}
                  />
                  {c.name || c.id}
                </label>
              );
            })}
          </fieldset>
          <Field
            label="Image"
            hint="An uploaded image, or a file under the server's assets folder; the video provider starts or ends on it."
          >
            <ImagePicker value={scene.image} onChange={(v) => onChange({ image: v }, "image")} />
            <TextInput
              testId="scene-image"
              value={scene.image}
              onChange={(v) => onChange({ image: v || null }, "image")}
            />
          </Field>
          <div className="actions">
            <button type="button" disabled={isStart} onClick={onMakeStart}>
              {isStart ? "This is the start scene" : "Make start scene"}
            </button>
          </div>
          <p className="muted small">
            Drag from this scene's right handle to another scene to put a Generation Node between them. Shift-click a
            second scene and press “Add Generation Node” to do the same.
          </p>
        </section>
      </div>
    </aside>
  );
}
