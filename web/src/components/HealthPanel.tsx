// Every Generation Node's status and findings, and the graph-wide warnings; a row selects its node.
import type { GraphHealth } from "../api/types.gen";
import { statusBadge } from "../state/status";
import { NodeStatusLabels, SeverityLabels } from "../api/labels.gen";
import { Icon } from "./Icon";

export function HealthPanel({
  health,
  error,
  live,
  selected,
  onSelect,
  onClose,
}: {
  health: GraphHealth | null;
  error: string | null;
  live: boolean;
  selected: string | null;
  onSelect: (nodeId: string) => void;
  onClose: () => void;
}) {
  return (
    <section className="health-panel" data-testid="health-panel" aria-label="Health">
      <header className="drawer__head">
        <strong>Health</strong>
        {health ? (
          <span className={`badge badge-${statusBadge(health.status)}`}>
            {NodeStatusLabels[health.status]}
          </span>
        ) : null}
        <span className="muted small">{live ? "of the graph as edited (not yet saved)" : "of the saved graph"}</span>
        <span className="spacer" />
        <button type="button" className="icon-button" onClick={onClose} title="Close" aria-label="Close">
          <Icon name="close" />
        </button>
      </header>
      {error ? <p className="error-box">Health not checked: {error}</p> : null}
      <div className="health-panel__body">
        <ul className="health-warnings" data-testid="health-warnings">
          {health && health.warnings.length === 0 ? <li className="muted">No graph-wide warnings.</li> : null}
          {health?.warnings.map((w) => (
            <li key={w.code} className="health-warning" data-code={w.code}>
              <span className="sev-dot sev-warning" aria-hidden />
              <code>{w.code}</code> {w.message}
              {w.node_ids?.length ? (
                <span className="muted">
                  {" "}
                  (
                  {w.node_ids.map((id, i) => (
                    <span key={id}>
                      {i ? ", " : ""}
                      <button type="button" className="link" onClick={() => onSelect(id)}>
                        {id}
                      </button>
                    </span>
                  ))}
                  )
                </span>
              ) : null}
            </li>
          ))}
        </ul>
        {health?.findings?.length ? (
          <ul className="health-warnings" data-testid="health-world-findings">
            {health.findings.map((f) => (
              <li key={`${f.field}-${f.code}`} className="health-warning" data-code={f.code}>
                <span className={`sev-dot sev-${f.severity}`} aria-hidden />
                <code>{f.field}</code> {f.message} <span className="muted">(Characters &amp; lore)</span>
              </li>
            ))}
          </ul>
        ) : null}
        <table className="health-table">
          <thead>
            <tr>
              <th>Node</th>
              <th>Between</th>
              <th>Status</th>
              <th>Findings</th>
              <th>p95</th>
            </tr>
          </thead>
          <tbody>
            {health?.nodes.length === 0 ? (
              <tr>
                <td colSpan={5} className="muted">
                  No Generation Nodes yet: drag from one scene's right handle to another scene.
                </td>
              </tr>
            ) : null}
            {health?.nodes.map((n) => (
              <tr
                key={n.node_id}
                data-testid={`health-row-${n.node_id}`}
                data-status={statusBadge(n.status)}
                className={`health-row${selected === n.node_id ? " is-selected" : ""}`}
                onClick={() => onSelect(n.node_id)}
                tabIndex={0}
                onKeyDown={(e) => e.key === "Enter" && onSelect(n.node_id)}
              >
                <td>
                  <Icon name="dice" /> {n.node_id}
                </td>
                <td className="muted">
                  {n.from_scene} → {n.to_scene}
                </td>
                <td>
                  <span className={`badge badge-${statusBadge(n.status)}`}>{NodeStatusLabels[n.status]}</span>
                </td>
                <td>
                  {n.result.findings.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul className="health-findings">
                      {n.result.findings.map((f, i) => (
                        <li key={i} className={`sev-${f.severity}`} title={SeverityLabels[f.severity]}>
                          <code>{f.code}</code> {f.message}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>{n.p95_latency_ms != null ? `${Math.round(n.p95_latency_ms)} ms` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
