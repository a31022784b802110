// Spend over time by node and provider (stacked hourly bars), and each node's budget for the period.
import { useEffect, useMemo, useRef, useState } from "react";
import type { BudgetReport, ScopeBudget as BudgetLine, SpendPoint } from "../api/types.gen";
import type { BudgetState } from "../state/requests";
import { Icon } from "./Icon";
import { BudgetExplainer, BudgetLimits } from "./budgets/BudgetLimits";

const PALETTE = [
  "#6366f1",
  "#f59e0b",
  "#10b981",
  "#ef4444",
  "#0ea5e9",
  "#a855f7",
  "#84cc16",
  "#ec4899",
  "#14b8a6",
  "#f97316",
];

type GroupBy = "node_provider" | "node" | "provider";

function seriesOf(point: SpendPoint, by: GroupBy): string {
  if (by === "node") return point.node_id;
  if (by === "provider") return point.provider;
  return `${point.node_id} · ${point.provider}`;
}

const money = (v: number | null | undefined) =>
  v === null || v === undefined ? "no limit" : `$${v.toFixed(v < 1 ? 4 : 2)}`;

export function BudgetPage({
  state,
  onRefresh,
  onClose,
  onSelectNode,
  nodeIds = [],
}: {
  state: BudgetState;
  onRefresh: () => void;
  onClose: () => void;
  onSelectNode: (id: string) => void;
  /** The open graph's Generation Nodes, offered for a limit of their own. */
  nodeIds?: string[];
}) {
  const [by, setBy] = useState<GroupBy>("node_provider");
  return (
    <section className="budget-page" data-testid="budget-page" aria-label="Budgets">
      <header className="drawer__head">
        <strong>Budgets &amp; spend</strong>
        {state.kind === "ok" ? (
          <span className="muted small">
            {state.report.period} from {new Date(state.report.period_start).toLocaleString()} to{" "}
            {new Date(state.report.period_end).toLocaleString()}
          </span>
        ) : null}
        <span className="spacer" />
        <label className="inline">
          Group by{" "}
          <select value={by} onChange={(e) => setBy(e.target.value as GroupBy)} data-testid="budget-group">
            <option value="node_provider">node and provider</option>
            <option value="node">node</option>
            <option value="provider">provider</option>
          </select>
        </label>
        <button type="button" onClick={onRefresh}>
          Refresh
        </button>
        <button type="button" className="icon-button" onClick={onClose} title="Back to the graph (Esc)" aria-label="Close">
          <Icon name="close" />
        </button>
      </header>
      {state.kind === "unknown" ? <p className="muted pad">Loading…</p> : null}
      {state.kind === "unavailable" ? <p className="notice pad">{state.message}</p> : null}
      {state.kind === "error" ? <p className="error-box pad">{state.message}</p> : null}
      {state.kind === "ok" ? (
        <>
          <BudgetExplainer report={state.report} />
          <BudgetLimits report={state.report} nodeIds={nodeIds} onSaved={onRefresh} />
          <BudgetBody report={state.report} by={by} onSelectNode={onSelectNode} />
        </>
      ) : null}
    </section>
  );
}

function Meter({ line }: { line: BudgetLine }) {
  if (line.limit === null) return <span className="muted small">no limit</span>;
  // A limit of 0 is a budget that allows nothing: shown as spent, not as "no limit".
  const spent = line.limit <= 0 ? 1 : Math.min(1, line.spent / line.limit);
  const reserved = line.limit <= 0 ? 0 : Math.min(1 - spent, line.reserved / line.limit);
  return (
    <span
      className={`meter${line.exhausted ? " is-exhausted" : ""}`}
      title={`${Math.round((spent + reserved) * 100)}% used`}
    >
      <span className="meter__spent" style={{ width: `${spent * 100}%` }} />
      <span className="meter__reserved" style={{ width: `${reserved * 100}%` }} />
    </span>
  );
}

function BudgetBody({
  report,
  by,
  onSelectNode,
}: {
  report: BudgetReport;
  by: GroupBy;
  onSelectNode: (id: string) => void;
}) {
  const total = report.history.reduce((sum, p) => sum + p.cost, 0);
  return (
    <div className="budget-body">
      <div className="budget-global" data-testid="budget-global" data-exhausted={report.global.exhausted}>
        <strong>Global</strong>
        <span>spent {money(report.global.spent)}</span>
        <span>reserved {money(report.global.reserved)}</span>
        {report.global.limit === null ? (
          <span className="muted">no global cap set</span>
        ) : (
          <>
            <span>remaining {money(report.global.remaining)}</span>
            <span>limit {money(report.global.limit)}</span>
          </>
        )}
        {report.global.limit === null ? null : <Meter line={report.global} />}
        {report.global.exhausted ? <span className="badge badge-error">exhausted</span> : null}
      </div>
      <SpendChart history={report.history} by={by} />
      <p className="muted small">
        {report.history.length
          ? `${money(total)} over ${new Set(report.history.map((p) => p.bucket_start)).size} hour(s) shown.`
          : ""}
      </p>
      <table className="budget-table">
        <thead>
          <tr>
            <th>Node</th>
            <th>Spent</th>
            <th>Reserved</th>
            <th>Remaining</th>
            <th>Limit</th>
            <th>Used</th>
          </tr>
        </thead>
        <tbody>
          {report.nodes.length === 0 ? (
            <tr>
              <td colSpan={6} className="muted">
                No node has a budget or spend in this period.
              </td>
            </tr>
          ) : null}
          {report.nodes.map((n) => (
            <tr
              key={n.node_id}
              data-testid={`budget-row-${n.node_id}`}
              data-exhausted={n.exhausted}
              className={n.exhausted ? "is-exhausted" : ""}
            >
              <td>
                <button type="button" className="link" onClick={() => onSelectNode(n.node_id)}>
                  <Icon name="dice" /> {n.node_id}
                </button>
                {n.exhausted ? <span className="badge badge-error">spent</span> : null}
              </td>
              <td>{money(n.spent)}</td>
              <td>{money(n.reserved)}</td>
              <td>{money(n.remaining)}</td>
              <td>{money(n.limit)}</td>
              <td>
                <Meter line={n} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const HOUR_MS = 3_600_000;
const MAX_BUCKETS = 24 * 31;

/** Every hour from the first bucket to the last (hours without spend too), as the server spells them. */
function hours(starts: string[]): string[] {
  const known = [...new Set(starts)].sort();
  const first = known[0];
  const last = known[known.length - 1];
  if (!first || !last) return [];
  const from = Date.parse(first);
  const to = Date.parse(last);
  if (!Number.isFinite(from) || !Number.isFinite(to) || (to - from) / HOUR_MS > MAX_BUCKETS) return known;
  const byTime = new Map(known.map((s) => [Date.parse(s), s]));
  const out: string[] = [];
  for (let t = from; t <= to; t += HOUR_MS) out.push(byTime.get(t) ?? new Date(t).toISOString());
  return out;
}

function SpendChart({ history, by }: { history: SpendPoint[]; by: GroupBy }) {
  const { buckets, series, cells, max } = useMemo(() => {
    const buckets = hours(history.map((p) => p.bucket_start));
    const series = [...new Set(history.map((p) => seriesOf(p, by)))].sort();
    const cells = new Map<string, number>();
    for (const p of history) {
      const key = `${p.bucket_start}|${seriesOf(p, by)}`;
      cells.set(key, (cells.get(key) ?? 0) + p.cost);
    }
    const max = Math.max(0, ...buckets.map((b) => series.reduce((s, name) => s + (cells.get(`${b}|${name}`) ?? 0), 0)));
    return { buckets, series, cells, max };
  }, [history, by]);
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(860);
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.max(320, Math.floor(entry.contentRect.width)));
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const height = 260;
  const pad = { left: 64, right: 12, top: 12, bottom: 36 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const slot = buckets.length ? innerW / buckets.length : innerW;
  const barW = Math.max(1, Math.min(48, slot * 0.7));
  const scale = (v: number) => (max > 0 ? (v / max) * innerH : 0);
  const ticks = max > 0 ? [0, max / 2, max] : [0];
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));
  return (
    <div className="chart-wrap" ref={wrap}>
      <svg
        data-testid="budget-chart"
        className="budget-chart"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label="Spend per hour, stacked by series"
      >
        {ticks.map((t) => (
          <g key={t}>
            <line
              x1={pad.left}
              x2={width - pad.right}
              y1={pad.top + innerH - scale(t)}
              y2={pad.top + innerH - scale(t)}
              className="grid"
            />
            <text x={pad.left - 6} y={pad.top + innerH - scale(t) + 4} textAnchor="end" className="axis">
              ${t.toFixed(t < 1 ? 3 : 2)}
            </text>
          </g>
        ))}
        {buckets.length === 0 ? (
          <text x={width / 2} y={height / 2} textAnchor="middle" className="axis">
            No spend recorded in this period yet.
          </text>
        ) : null}
        {buckets.map((b, i) => {
          let y = pad.top + innerH;
          const x = pad.left + i * slot + (slot - barW) / 2;
          return (
            <g key={b}>
              {series.map((name, k) => {
                const v = cells.get(`${b}|${name}`) ?? 0;
                if (v <= 0) return null;
                const h = Math.max(1, scale(v));
                y -= h;
                return (
                  <rect
                    key={name}
                    x={x}
                    y={y}
                    width={barW}
                    height={h}
                    fill={PALETTE[k % PALETTE.length]}
                    data-series={name}
                  >
                    <title>{`${name}: $${v.toFixed(4)} (${new Date(b).toLocaleString()})`}</title>
                  </rect>
                );
              })}
              {i % labelEvery === 0 ? (
                <text x={x + barW / 2} y={height - pad.bottom + 16} textAnchor="middle" className="axis">
                  {new Date(b).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <ul className="legend">
        {series.map((name, k) => (
          <li key={name}>
            <span className="legend__swatch" style={{ background: PALETTE[k % PALETTE.length] }} />
            {name}
          </li>
        ))}
      </ul>
    </div>
  );
}
