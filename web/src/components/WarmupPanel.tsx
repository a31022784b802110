// Warm the cache for a stored graph (its saved version): every transition generated ahead of play, with
// progress, failures by error code, and the nodes skipped and why.
import { useEffect, useState } from "react";
import { describeError, isMissingRoute } from "../api/client";
import { api } from "../api/endpoints";
import type { WarmupReport } from "../api/types.gen";
import { WarmupStatusLabels, ErrorCodeLabels } from "../api/labels.gen";
import type { ErrorCode } from "../api/types.gen";
import { useInViewport } from "./inViewport";

const POLL_MS = 500;
const DONE = new Set(["complete", "failed", "cancelled"]);

export function WarmupPanel({
  graphId,
  unsaved,
  onClose,
  onDone,
}: {
  graphId: string;
  unsaved: boolean;
  onClose: () => void;
  onDone: () => void;
}) {
  const [playthroughId, setPlaythroughId] = useState("editor-playthrough");
  const [playerId, setPlayerId] = useState("editor");
  const [concurrency, setConcurrency] = useState(4);
  const [warmupId, setWarmupId] = useState<string | null>(null);
  const [report, setReport] = useState<WarmupReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const box = useInViewport<HTMLDivElement>();
  const running = warmupId !== null && !(report && DONE.has(report.status));

  useEffect(() => {
    if (!warmupId) return;
    let live = true;
    let timer = 0;
    const poll = async () => {
      try {
        const next = await api.warmup(warmupId);
        if (!live) return;
        setReport(next);
        if (DONE.has(next.status)) {
          onDone();
          return;
        }
      } catch (err) {
        if (live) setError(describeError(err));
        return;
      }
      timer = window.setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [warmupId]);

  async function start() {
    setError(null);
    setReport(null);
    try {
      const started = await api.warm(graphId, {
        playthrough_id: playthroughId || null,
        player_id: playerId || null,
        concurrency,
      });
      setWarmupId(started.warmup_id);
    } catch (err) {
      setError(isMissingRoute(err) ? "Warm-up is not available on this server." : describeError(err));
    }
  }

  const finished = report
    ? report.generated + report.cached + Object.values(report.failed).reduce<number>((a, b) => a + (b ?? 0), 0)
    : 0;
  const share = report && report.total > 0 ? finished / report.total : 0;
  return (
    <div ref={box} className="popover warmup" role="dialog" aria-label="Warm the cache" data-testid="warmup-panel">
      <strong>Warm the cache of {graphId}</strong>
      <p className="muted small">
        Generates every Generation Node of the saved version ahead of play.
        {unsaved ? " Your unsaved changes are not included: save first." : ""}
      </p>
      <label>
        Playthrough id (for nodes made once per playthrough)
        <input value={playthroughId} onChange={(e) => setPlaythroughId(e.target.value)} disabled={running} />
      </label>
      <label>
        Player id (for nodes made once per player)
        <input value={playerId} onChange={(e) => setPlayerId(e.target.value)} disabled={running} />
      </label>
      <label>
        Concurrency
        <input
          type="number"
          min={1}
          max={64}
          value={concurrency}
          onChange={(e) => setConcurrency(Math.max(1, Math.min(64, Number(e.target.value) || 1)))}
          disabled={running}
        />
      </label>
      <div className="actions">
        {running && warmupId ? (
          <button
            type="button"
            onClick={() => void api.cancelWarmup(warmupId).then(setReport, (err) => setError(describeError(err)))}
          >
            Cancel
          </button>
        ) : (
          <button type="button" className="primary" data-testid="warmup-start" onClick={() => void start()}>
            {report ? "Warm again" : "Start"}
          </button>
        )}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {error ? <p className="error-box">{error}</p> : null}
      {report ? (
        <div className="warmup__report" data-testid="warmup-report" data-status={report.status}>
          <div className="warmup__bar" aria-hidden>
            <span style={{ width: `${Math.round(share * 100)}%` }} />
          </div>
          <div className="small">
            <strong>{WarmupStatusLabels[report.status]}</strong> · {finished}/{report.total} · {report.generated} generated ·{" "}
            {report.cached} already cached
            {report.cost > 0 ? ` · $${report.cost.toFixed(4)}` : ""}
          </div>
          {Object.entries(report.failed).length ? (
            <div className="small sev-error">
              failed:{" "}
              {Object.entries(report.failed)
                .map(([code, n]) => `${ErrorCodeLabels[code as ErrorCode] ?? code} × ${n ?? 0}`)
                .join(", ")}
            </div>
          ) : null}
          {report.skipped.length ? (
            <ul className="small muted warmup__skipped">
              {report.skipped.map((s) => (
                <li key={s.node_id}>
                  skipped <code>{s.node_id}</code>: {s.reason}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
