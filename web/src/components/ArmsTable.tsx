// The A/B arms of a node with their served counts, cost and review scores (refreshed after each test run).
import { useEffect, useState } from "react";
import { describeError, isMissingRoute } from "../api/client";
import { api } from "../api/endpoints";
import type { NodeArms } from "../api/types.gen";

export function ArmsTable({ nodeId, refresh }: { nodeId: string; refresh: number }) {
  const [arms, setArms] = useState<NodeArms | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .arms(nodeId)
      .then((a) => live && (setArms(a), setError(null)))
      .catch(
        (err) => live && setError(isMissingRoute(err) ? "Arms are not available on this server." : describeError(err)),
      );
    return () => {
      live = false;
    };
  }, [nodeId, refresh]);
  const ms = (v: number | null | undefined) => (v == null ? "—" : `${Math.round(v)} ms`);
  return (
    <div className="arms" data-testid="arms-table">
      <span className="field__label">A/B arms (saved config, latest generations)</span>
      {error ? <p className="muted small">{error}</p> : null}
      {arms ? (
        <table className="health-table">
          <thead>
            <tr>
              <th>Arm</th>
              <th>Weight</th>
              <th>Runs</th>
              <th>p50 / p95</th>
              <th>Cost</th>
              <th>Errors</th>
              <th>Quality</th>
              <th>Review</th>
            </tr>
          </thead>
          <tbody>
            {arms.arms.map((a) => (
              <tr key={a.arm}>
                <td>
                  <code>{a.arm}</code>
                </td>
                <td>{a.weight ?? "—"}</td>
                <td>{a.generations}</td>
                <td>
                  {ms(a.p50_latency_ms)} / {ms(a.p95_latency_ms)}
                </td>
                <td>${a.cost.toFixed(4)}</td>
                <td>{a.errors}</td>
                <td>{a.mean_quality_score?.toFixed(2) ?? "—"}</td>
                <td>
                  {a.mean_review_score?.toFixed(2) ?? "—"}
                  {a.reviews ? ` (${a.reviews})` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
