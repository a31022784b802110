// The outcome of a Test Generation: the content (video with captions, dialogue, choices), its latency, cost,
// cache tier and seed, the fallback that was applied, and a review of the result.
import { useEffect, useRef, useState } from "react";
import { apiKey, describeError, isMissingRoute, mediaUrl } from "../api/client";
import { api } from "../api/endpoints";
import type { Beat, ElementCheck, GenerationRecord, ReviewResult, StageInfo } from "../api/types.gen";
import type { Outcome } from "../state/testRun";
import { ErrorCodeLabels, FallbackModeLabels, GenerationStatusLabels } from "../api/labels.gen";
import { cacheLine } from "../state/status";
import { Icon } from "./Icon";
import { rememberPoster } from "./media/mediaStore";

function vtt(beats: Beat[]): string {
  const stamp = (s: number) => {
    const ms = Math.round(s * 1000);
    const h = Math.floor(ms / 3_600_000);
    const m = Math.floor((ms % 3_600_000) / 60_000);
    const sec = Math.floor((ms % 60_000) / 1000);
    const rest = ms % 1000;
    const pad = (n: number, w = 2) => String(n).padStart(w, "0");
    return `${pad(h)}:${pad(m)}:${pad(sec)}.${pad(rest, 3)}`;
  };
  const cues = beats.map(
    (b, i) =>
      `${i + 1}\n${stamp(b.start)} --> ${stamp(b.start + b.duration)}\n${b.speaker ? `<v ${b.speaker}>` : ""}${b.text}`,
  );
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

export function Result({ outcome, stale }: { outcome: Outcome; stale: boolean }) {
  const { response } = outcome;
  const content = response.content ?? null;
  const [record, setRecord] = useState<GenerationRecord | null>(null);
  useEffect(() => {
    setRecord(null);
    if (!response.generation_id) return;
    let live = true;
    api
      .generation(response.generation_id)
      .then((r) => live && setRecord(r))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [response.generation_id]);
  const tier = cacheLine(response);
  const money = record ? `$${(record.cost ?? 0).toFixed(4)}` : null;
  return (
    <div className={`test-result${stale ? " is-stale" : ""}`} data-testid="test-result" data-status={response.status}>
      <div className="test-result__head">
        <span className={`badge badge-${response.status === "complete" ? "ok" : "error"}`}>{GenerationStatusLabels[response.status]}</span>
        <span className="muted small">{outcome.at.toLocaleTimeString()}</span>
        {stale ? <span className="sev-warning small">The config changed since this test.</span> : null}
      </div>
      <dl className="test-meta" data-testid="test-meta">
        <div>
          <dt>Latency</dt>
          <dd data-testid="meta-latency">{(response.cost.time_ms ?? 0).toFixed(1)} ms</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="meta-cost">
            {response.cost.tokens ?? 0} tokens{money ? ` · ${money}` : ""}
          </dd>
        </div>
        <div>
          <dt>Cache</dt>
          <dd data-testid="meta-cache">{tier}</dd>
        </div>
        <div className="wide2">
          <dt>Seed</dt>
          <dd data-testid="meta-seed">
            {outcome.seedText ?? response.seed ?? "—"}
            {response.deterministic ? " (deterministic)" : ""}
          </dd>
        </div>
        <div>
          <dt>Provider</dt>
          <dd data-testid="meta-provider">{response.provider ?? "—"}</dd>
        </div>
        {response.arm ? (
          <div>
            <dt>Arm</dt>
            <dd data-testid="meta-arm">{response.arm}</dd>
          </div>
        ) : null}
        {response.variant ? (
          <div>
            <dt>Variant</dt>
            <dd>
              {response.variant.index + 1} of {response.variant.pool_size}
            </dd>
          </div>
        ) : null}
        {response.rating ? (
          <div>
            <dt>Rating</dt>
            <dd>
              {response.rating.effective}
              {response.rating.clamped ? ` (clamped from ${response.rating.requested})` : ""}
            </dd>
          </div>
        ) : null}
        <div className="wide">
          <dt>Cache key</dt>
          <dd>
            <code>{response.cache_key}</code>
          </dd>
        </div>
      </dl>
      {response.fallback?.applied ? (
        <div
          className="test-fallback"
          data-testid="test-fallback"
          data-mode={response.fallback.mode}
          data-code={response.error?.code ?? ""}
        >
          <strong>
            Fallback applied: {FallbackModeLabels[response.fallback.mode]}{" "}
            <span className="muted">({response.fallback.mode})</span>
          </strong>
          {response.error ? (
            <span>
              {" "}
              after {ErrorCodeLabels[response.error.code]} (<code>{response.error.code}</code>): {response.error.message}
            </span>
          ) : null}
          {response.error && response.fallback.reason === `${response.error.code}: ${response.error.message}` ? null : (
            <div className="muted small">{response.fallback.reason}</div>
          )}
        </div>
      ) : response.error ? (
        <div className="error-box">
          <code>{response.error.code}</code>: {response.error.message}
        </div>
      ) : null}
      {response.stages?.length ? <Stages stages={response.stages} /> : null}
      {response.elements?.length ? <ElementChecks checks={response.elements} /> : null}
      {content?.type === "video" && content.url ? (
        <VideoPreview url={content.url} beats={content.beats ?? []} record={record} />
      ) : null}
      {content && content.type !== "video" && (content.dialogue?.length || content.beats?.length) ? (
        <ol className="test-dialogue" data-testid="test-dialogue">
          {(content.beats?.length
            ? content.beats.map((b) => ({
                who: b.speaker ?? (b.kind === "narration" ? "narration" : null),
                text: b.text,
                at: b.start,
              }))
            : (content.dialogue ?? []).map((text) => ({ who: null, text, at: null }))
          ).map((line, i) => (
            <li key={i}>
              {line.at !== null ? <span className="muted small">{line.at.toFixed(1)}s </span> : null}
              {line.who ? <span className="speaker">{line.who}: </span> : null}
              {line.text}
            </li>
          ))}
        </ol>
      ) : null}
      {content?.choices?.length ? (
        <ul className="test-choices">
          {content.choices.map((c) => (
            <li key={c.id}>
              <code>{c.id}</code> {c.text}
            </li>
          ))}
        </ul>
      ) : null}
      {content?.content_id || content?.placeholder ? (
        <p className="muted small">
          {content.placeholder ? "Placeholder content" : ""}
          {content.content_id ? ` content id: ${content.content_id}` : ""}
        </p>
      ) : null}
      {!content && !response.fallback?.applied && response.status === "complete" ? (
        <p className="muted">No content.</p>
      ) : null}
      {response.generation_id &&
      response.status === "complete" &&
      !(response.fallback?.applied && response.fallback.mode !== "retry") ? (
        <Review generationId={response.generation_id} />
      ) : response.fallback?.applied ? (
        <p className="muted small" data-testid="review-score">
          Fallback content is not reviewed: review a generated result.
        </p>
      ) : null}
      <details className="test-request">
        <summary>Request sent</summary>
        <pre>{outcome.requestJson}</pre>
      </details>
    </div>
  );
}

// A pipeline's stages: the script (a text provider's beats, perhaps from the cache) and its render.
function Stages({ stages }: { stages: StageInfo[] }) {
  return (
    <ol className="test-stages" data-testid="test-stages">
      {stages.map((s) => (
        <li key={s.stage} data-stage={s.stage} data-cache-hit={s.cache_hit ? "true" : "false"}>
          <strong>{s.stage === "script" ? "Script" : "Render"}</strong> by <code>{s.provider}</code>
          {s.cache_hit ? " · from the cache" : ` · ${s.tokens ?? 0} tokens · $${(s.cost ?? 0).toFixed(4)}`}
          {s.generation_id ? <span className="muted small"> · generation {s.generation_id}</span> : null}
        </li>
      ))}
    </ol>
  );
}

const VERIFIED: Record<string, string> = {
  lexicon: "found by the lexicon",
  model_report: "found where the model said",
  judge: "confirmed by the judge",
  unverified: "cannot be verified (no text)",
  absent: "not found",
};

// How each required and avoided element was verified, with the words that show it.
function ElementChecks({ checks }: { checks: ElementCheck[] }) {
  return (
    <table className="test-elements" data-testid="test-elements">
      <thead>
        <tr>
          <th>Element</th>
          <th>Verified</th>
          <th>Where</th>
        </tr>
      </thead>
      <tbody>
        {checks.map((c) => {
          const good = c.verified_by === "unverified" ? null : (c.role === "avoided") === (c.verified_by === "absent");
          return (
            <tr key={`${c.role}:${c.element}`} data-element={c.element} data-verified-by={c.verified_by}>
              <td>
                {c.role === "avoided" ? "avoid " : ""}
                <code>{c.element}</code>
              </td>
              <td className={good === null ? "sev-warning" : good ? "" : "sev-error"}>{VERIFIED[c.verified_by]}</td>
              <td className="muted small">
                {c.quote ? `“${c.quote}”` : ""}
                {c.beat !== null && c.beat !== undefined ? ` (beat ${c.beat + 1})` : ""}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function VideoPreview({ url, beats, record }: { url: string; beats: Beat[]; record: GenerationRecord | null }) {
  // Without an API key the artifact URL plays as it is (no fetch first): the video starts sooner.
  const [src, setSrc] = useState<string | null>(() => (apiKey() ? null : url));
  const [poster, setPoster] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [captions, setCaptions] = useState<string | undefined>(undefined);
  useEffect(() => {
    const made = URL.createObjectURL(new Blob([vtt(beats)], { type: "text/vtt" }));
    setCaptions(made);
    return () => URL.revokeObjectURL(made);
  }, [beats]);
  useEffect(() => {
    let revoke = () => undefined as void;
    let live = true;
    if (!apiKey()) {
      setSrc(url);
      return;
    }
    mediaUrl(url)
      .then((m) => {
        if (live) {
          setSrc(m.url);
          revoke = m.revoke;
        } else m.revoke();
      })
      .catch((err) => live && setError(describeError(err)));
    return () => {
      live = false;
      revoke();
    };
  }, [url]);
  const posterArtifact = record?.artifacts?.find((a) => a.role === "poster");
  useEffect(() => {
    if (!posterArtifact) return;
    if (record?.node_id) rememberPoster(record.node_id, `/api/artifacts/${posterArtifact.id}`);
    let revoke = () => undefined as void;
    let live = true;
    mediaUrl(`/api/artifacts/${posterArtifact.id}`)
      .then((m) => {
        if (live) {
          setPoster(m.url);
          revoke = m.revoke;
        } else m.revoke();
      })
      .catch(() => undefined);
    return () => {
      live = false;
      revoke();
    };
  }, [posterArtifact?.id]); // eslint-disable-line react-hooks/exhaustive-deps
  const ref = useRef<HTMLVideoElement>(null);
  if (error) return <p className="error-box">Video not loaded: {error}</p>;
  return (
    <div className="video-wrap">
      {src ? (
        // Muted so the browser lets it start by itself: the result plays as soon as it arrives.
        <video
          ref={ref}
          data-testid="test-video"
          controls
          autoPlay
          muted
          playsInline
          preload="auto"
          poster={poster}
          src={src}
          crossOrigin="anonymous"
        >
          {/* The built-in renderer burns the captions in; the track is there to switch on (or for players
              whose video has none burned in), so it is not shown by default and nothing appears twice. */}
          {captions ? <track kind="captions" srcLang="en" label="Captions" src={captions} /> : null}
        </video>
      ) : (
        <div className="video-placeholder">Loading video…</div>
      )}
      {beats.length ? (
        <ol className="captions-list">
          {beats.map((b, i) => (
            <li key={i}>
              <button type="button" className="link" onClick={() => ref.current && (ref.current.currentTime = b.start)}>
                {b.start.toFixed(1)}s
              </button>{" "}
              {b.speaker ? <span className="speaker">{b.speaker}: </span> : null}
              {b.text}
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}

function Review({ generationId }: { generationId: string }) {
  const [state, setState] = useState<
    | { kind: "idle" }
    | { kind: "busy" }
    | { kind: "done"; result: ReviewResult }
    | { kind: "off"; message: string }
    | { kind: "error"; message: string }
  >({ kind: "idle" });
  const [score, setScore] = useState<number | null>(null);
  async function send(value: number) {
    setScore(value);
    setState({ kind: "busy" });
    try {
      setState({ kind: "done", result: await api.review(generationId, value) });
    } catch (err) {
      if (isMissingRoute(err)) {
        setState({
          kind: "off",
          message: "Reviews are not available on this server (POST /api/generations/{id}/review answered 404).",
        });
      } else {
        setState({ kind: "error", message: describeError(err) });
      }
    }
  }
  const off = state.kind === "off";
  return (
    <div className="review" data-testid="review-score">
      <span className="field__label">Review this result</span>
      <div className="review__buttons">
        {[1, 2, 3, 4, 5].map((n) => (
          <button
            key={n}
            type="button"
            data-testid={`review-${n}`}
            className={score !== null && n <= score ? "is-on" : ""}
            disabled={off || state.kind === "busy"}
            aria-pressed={score === n}
            onClick={() => void send(n)}
            title={`${n} of 5`}
          >
            <Icon name={n <= (score ?? 0) ? "starFilled" : "star"} /> {n}
          </button>
        ))}
      </div>
      {state.kind === "done" ? (
        <span className="muted small" data-testid="review-result">
          Saved {state.result.score}/5 · mean {state.result.mean_score?.toFixed(2) ?? "—"} over {state.result.reviews}{" "}
          review
          {state.result.reviews === 1 ? "" : "s"}
        </span>
      ) : null}
      {state.kind === "off" || state.kind === "error" ? (
        <span className="sev-warning small">{state.message}</span>
      ) : null}
    </div>
  );
}
