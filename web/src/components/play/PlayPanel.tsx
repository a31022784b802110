// Play mode: walk the saved graph as a player, from its start scene, through the game's by-reference
// runtime route (`POST /api/graphs/{g}/advance`): choose at branches, set the player's context, see each
// scene card and play each transition (video with captions, or dialogue) with where it came from.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { describeError } from "../../api/client";
import { extras } from "../../api/editorExtras";
import { api } from "../../api/endpoints";
import type { AdvanceResponse, GenerateContentResponse, Scene, SceneGraph } from "../../api/types.gen";
import { Icon } from "../Icon";
import { SceneThumb } from "../media/SceneThumb";
import {
  currentScene,
  exitsOf,
  playerContext,
  socialContext,
  sourceOf,
  type Exit,
  type PlayerForm,
  type Step,
} from "./playModel";

const freshPlaythrough = () => `play-${Math.random().toString(36).slice(2, 10)}`;

export function PlayPanel({ graphId, unsaved, onClose }: { graphId: string; unsaved: boolean; onClose: () => void }) {
  const [graph, setGraph] = useState<SceneGraph | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [steps, setSteps] = useState<Step[]>([]);
  const [busy, setBusy] = useState(false);
  const [form, setForm] = useState<PlayerForm>({
    playthroughId: freshPlaythrough(),
    playerId: "designer",
    flags: "",
    choices: "",
    affinity: "",
  });

  const restart = useCallback(async () => {
    setError(null);
    try {
      const loaded = await api.getGraph(graphId);
      setGraph(loaded.graph);
      setVersion(loaded.version);
      const start = loaded.graph.start ?? loaded.graph.scenes[0]?.id;
      setSteps(start ? [{ kind: "start", scene: start }] : []);
    } catch (err) {
      setError(`The saved graph could not be loaded: ${describeError(err)}`);
    }
  }, [graphId]);

  useEffect(() => {
    void restart();
  }, [restart]);

  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    // A block body: scrollIntoView returns a promise in newer browsers, which React would take as a cleanup.
    void end.current?.scrollIntoView({ block: "nearest" });
  }, [steps.length]);

  const here = currentScene(steps);
  const last = steps[steps.length - 1];
  const exits: Exit[] = useMemo(() => {
    if (!graph || !here) return [];
    if (last?.kind === "step") {
      const known = new Map(exitsOf(graph, here).map((e) => [e.target, e]));
      return (last.answer.exits ?? []).map((target) => known.get(target) ?? { target, via: null });
    }
    return exitsOf(graph, here);
  }, [graph, here, last]);

  async function go(exit: Exit) {
    if (!here) return;
    setBusy(true);
    setError(null);
    try {
      const social = socialContext(form);
      const answer = await extras.advance(graphId, {
        from_scene: here,
        to_scene: exit.target,
        player_context: playerContext(form),
        ...(social ? { social_context: social } : {}),
        ...(version ? { graph_version: version } : {}),
      });
      setSteps((s) => [...s, { kind: "step", answer }]);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  const sceneById = (id: string): Scene | undefined => graph?.scenes.find((s) => s.id === id);
  return (
    <section className="play-page" data-testid="play-panel" aria-label="Play">
      <header className="drawer__head">
        <strong>Play {graph?.title || graphId}</strong>
        <span className="muted small">
          {version ? `saved version ${version}` : ""} · as the game plays it (by reference)
        </span>
        <span className="spacer" />
        <button
          type="button"
          data-testid="play-restart"
          onClick={() => void restart()}
          title="Start again from the start scene in the same playthrough: what was made is served from the cache"
        >
          Restart
        </button>
        <button
          type="button"
          data-testid="play-new"
          onClick={() => {
            setForm((f) => ({ ...f, playthroughId: freshPlaythrough() }));
            void restart();
          }}
          title="Start again from the start scene as a new playthrough (per-playthrough nodes generate anew)"
        >
          New playthrough
        </button>
        <button type="button" className="icon-button" onClick={onClose} title="Back to the graph (Esc)">
          <Icon name="close" />
        </button>
      </header>
      {unsaved ? (
        <p className="notice pad" data-testid="play-unsaved">
          You have unsaved changes: play runs the saved graph. Save to play what you see on the canvas.
        </p>
      ) : null}
      <div className="play-layout">
        <PlayerPanel form={form} onChange={setForm} />
        <ol className="play-steps" data-testid="play-steps">
          {steps.map((step, i) =>
            step.kind === "start" ? (
              <li key={i}>
                <SceneCard scene={sceneById(step.scene)} id={step.scene} />
              </li>
            ) : (
              <li key={i}>
                <Transition answer={step.answer} />
                {step.answer.scene ? <SceneCard scene={step.answer.scene} id={step.answer.scene.id} /> : null}
              </li>
            ),
          )}
          {error ? (
            <li className="error-box" role="alert" data-testid="play-error">
              {error}
            </li>
          ) : null}
          {here && graph ? (
            <li className="play-choices" data-testid="play-choices" ref={end}>
              {exits.length === 0 ? (
                <strong data-testid="play-end">The end: no exit leaves {sceneById(here)?.title || here}.</strong>
              ) : (
                <>
                  <span className="field__label">{exits.length > 1 ? "Choose where to go" : "Continue"}</span>
                  {exits.map((exit) => (
                    <button
                      key={exit.target}
                      type="button"
                      className="primary"
                      disabled={busy}
                      data-testid={`play-go-${exit.target}`}
                      onClick={() => void go(exit)}
                    >
                      → {sceneById(exit.target)?.title || exit.target}
                      {exit.via ? <span className="muted small"> via {exit.via}</span> : null}
                    </button>
                  ))}
                  {busy ? <span className="muted small">Playing…</span> : null}
                </>
              )}
            </li>
          ) : null}
        </ol>
      </div>
    </section>
  );
}

function PlayerPanel({ form, onChange }: { form: PlayerForm; onChange: (f: PlayerForm) => void }) {
  const set = (patch: Partial<PlayerForm>) => onChange({ ...form, ...patch });
  return (
    <aside className="play-player" data-testid="play-player">
      <strong>Player</strong>
      <label>
        Playthrough
        <input value={form.playthroughId} onChange={(e) => set({ playthroughId: e.target.value })} />
      </label>
      <label>
        Player id
        <input value={form.playerId} onChange={(e) => set({ playerId: e.target.value })} />
      </label>
      <label>
        Flags <span className="muted small">(one key=value a line)</span>
        <textarea
          rows={3}
          data-testid="play-flags"
          placeholder="met_mara=true"
          value={form.flags}
          onChange={(e) => set({ flags: e.target.value })}
        />
      </label>
      <label>
        Choices <span className="muted small">(key=value)</span>
        <textarea
          rows={3}
          data-testid="play-choices-input"
          placeholder="ch1=trust"
          value={form.choices}
          onChange={(e) => set({ choices: e.target.value })}
        />
      </label>
      <label>
        Affinity <span className="muted small">(-100 to 100; empty: the node's own)</span>
        <input
          type="number"
          data-testid="play-affinity"
          value={form.affinity}
          onChange={(e) => set({ affinity: e.target.value })}
        />
      </label>
      <p className="muted small">Changes apply to the next step. The same playthrough gets the same content again.</p>
    </aside>
  );
}

function SceneCard({ scene, id }: { scene: Scene | undefined; id: string }) {
  return (
    <article className="play-scene" data-testid={`play-scene-${id}`}>
      <SceneThumb name={scene?.image} size="large" />
      <div>
        <div className="muted small">Scene {id}</div>
        <h3>{scene?.title || id}</h3>
        <div className="scene-node__meta">
          {scene?.mood ? <span className="chip">mood: {scene.mood}</span> : null}
          {scene?.location ? <span className="chip">at {scene.location}</span> : null}
        </div>
        {scene?.summary ? <p>{scene.summary}</p> : null}
      </div>
    </article>
  );
}

function Transition({ answer }: { answer: AdvanceResponse }) {
  if (!answer.content) {
    return (
      <div className="play-transition muted small" data-testid="play-transition">
        {answer.scene ? "A plain edge: nothing plays between these scenes." : "This exit leads nowhere."}
      </div>
    );
  }
  const content = answer.content;
  const { cache, fallback } = sourceOf(content);
  return (
    <div
      className="play-transition"
      data-testid="play-transition"
      data-node={answer.node_id ?? ""}
      data-cache={content.cache.hit ? (content.cache.tier ?? "hit") : "miss"}
      data-fallback={content.fallback?.applied ? content.fallback.mode : ""}
    >
      <div className="play-transition__head">
        <strong>{answer.node_id}</strong>
        <span className="chip" data-testid="play-cache">
          {cache}
        </span>
        {fallback ? (
          <span className="badge badge-warning" data-testid="play-fallback" title={content.fallback?.reason}>
            {fallback}
          </span>
        ) : null}
      </div>
      <Playback content={content} />
    </div>
  );
}

function Playback({ content }: { content: GenerateContentResponse }) {
  const payload = content.content;
  if (!payload) {
    return <p className="muted small">Nothing plays (the game cuts to the next scene).</p>;
  }
  const links = content.artifacts ?? [];
  const captions = links.find((a) => a.role === "captions")?.url;
  const poster = links.find((a) => a.role === "poster")?.url;
  if (payload.type === "video" && payload.url) {
    return (
      <video
        className="play-video"
        data-testid="play-video"
        controls
        muted
        playsInline
        preload="metadata"
        src={payload.url}
        poster={poster}
        crossOrigin="anonymous"
      >
        {/* Not shown by default: the built-in renderer burns the captions in (as in the test panel). */}
        {captions ? <track kind="captions" srcLang="en" label="Captions" src={captions} /> : null}
      </video>
    );
  }
  const lines = payload.beats?.length
    ? payload.beats.map((b) => ({ who: b.speaker ?? null, text: b.text }))
    : (payload.dialogue ?? []).map((text) => ({ who: null, text }));
  return (
    <>
      {lines.length ? (
        <ol className="test-dialogue" data-testid="play-dialogue">
          {lines.map((line, i) => (
            <li key={i}>
              {line.who ? <span className="speaker">{line.who}: </span> : null}
              {line.text}
            </li>
          ))}
        </ol>
      ) : null}
      {payload.placeholder ? <p className="muted small">A placeholder card plays here.</p> : null}
      {payload.content_id && !payload.placeholder ? (
        <p className="muted small">The game plays its asset {payload.content_id}.</p>
      ) : null}
    </>
  );
}
