// Budget limits, editable: the global cap, the default of every node, and each node's own, over the
// defaults of the environment and config file; where each limit comes from, and the history of changes.
import { useEffect, useState } from "react";
import { describeError } from "../../api/client";
import { extras } from "../../api/editorExtras";
import type { BudgetReport, ConfiguredLimit, LimitChange } from "../../api/types.gen";

const amount = (v: number | null | undefined) => (v === null || v === undefined ? "no limit" : `$${v}`);

const SOURCE: Record<ConfiguredLimit["source"], string> = {
  editor: "set here",
  config: "from the environment or config file",
  none: "not set",
};

export function scopeLabel(scope: string): string {
  if (scope === "global") return "Global cap (all nodes together)";
  if (scope === "default") return "Every node without its own limit";
  return `Node ${scope.replace(/^node:/, "")}`;
}

/** Why the page shows what it shows: on a fresh install nothing is limited, and this says so. */
export function BudgetExplainer({ report }: { report: BudgetReport }) {
  return (
    <div className="budget-explainer" data-testid="budget-explainer">
      {report.limited ? (
        <p>
          Each provider call reserves its estimated cost in its node's budget and in the global cap for this{" "}
          {report.period}; a call that does not fit is refused and the node's fallback plays instead.
        </p>
      ) : (
        <p>
          <strong>No budget is set.</strong> Spend is counted, but nothing is refused. Set a global cap or a limit per
          node below to stop generation once it has cost that much in a {report.period}.
        </p>
      )}
      <p className="muted small">
        Limits set here are stored in the database and win over the defaults from the environment (
        <code>DYNGEN_BUDGET_GLOBAL_CAP</code>, <code>DYNGEN_BUDGET_NODE_DEFAULT</code>, <code>DYNGEN_BUDGET_NODES</code>
        ) or the config file's <code>[budgets]</code> section; “Use default” goes back to those.
      </p>
    </div>
  );
}

function LimitRow({ entry, onSaved }: { entry: ConfiguredLimit; onSaved: () => void }) {
  const [text, setText] = useState(entry.limit === null ? "" : String(entry.limit));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(entry.limit === null ? "" : String(entry.limit));
  }, [entry.limit]);
  const testId = `limit-${entry.scope.replace(/[^A-Za-z0-9_-]/g, "_")}`;

  async function save(edit: { limit?: number | null; use_default?: boolean }) {
    setBusy(true);
    setError(null);
    try {
      await extras.setBudgetLimit({ scope: entry.scope, ...edit });
      onSaved();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }
  const value = Number(text);
  const valid = text.trim() !== "" && Number.isFinite(value) && value >= 0;
  return (
    <tr data-testid={testId} data-source={entry.source}>
      <td>{scopeLabel(entry.scope)}</td>
      <td data-testid={`${testId}-value`}>{amount(entry.limit)}</td>
      <td className="muted small">
        {SOURCE[entry.source]}
        {entry.source === "editor" && entry.default !== null ? ` (default ${amount(entry.default)})` : ""}
      </td>
      <td>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (valid) void save({ limit: value });
          }}
        >
          <input
            type="number"
            min={0}
            step="any"
            placeholder="amount"
            aria-label={`New limit: ${scopeLabel(entry.scope)}`}
            value={text}
            onChange={(e) => setText(e.target.value)}
            data-testid={`${testId}-input`}
          />
          <button type="submit" disabled={busy || !valid} data-testid={`${testId}-set`}>
            Set
          </button>
          <button type="button" disabled={busy} onClick={() => void save({ limit: null })} title="Never refuse a call">
            No limit
          </button>
          <button
            type="button"
            disabled={busy || entry.source !== "editor"}
            onClick={() => void save({ use_default: true })}
            title="Remove the limit set here: the environment or config file's applies"
          >
            Use default
          </button>
        </form>
        {error ? <div className="sev-error small">{error}</div> : null}
      </td>
    </tr>
  );
}

export function BudgetLimits({
  report,
  nodeIds,
  onSaved,
}: {
  report: BudgetReport;
  nodeIds: string[];
  onSaved: () => void;
}) {
  const known = new Map((report.limits ?? []).map((entry) => [entry.scope, entry]));
  const [extra, setExtra] = useState("");
  const [history, setHistory] = useState<LimitChange[] | null>(null);
  const [added, setAdded] = useState<string[]>([]);
  const scopes = [
    "global",
    "default",
    ...[...new Set([...report.nodes.map((n) => n.node_id), ...added])].map((id) => `node:${id}`),
  ];
  const rows = scopes.map(
    (scope) => known.get(scope) ?? { scope, limit: null, source: "none" as const, default: null },
  );
  const offered = nodeIds.filter((id) => !scopes.includes(`node:${id}`));
  return (
    <section className="budget-limits" data-testid="budget-limits">
      <h3>Limits per {report.period}</h3>
      <table className="budget-table">
        <thead>
          <tr>
            <th>Budget</th>
            <th>Limit</th>
            <th>Comes from</th>
            <th>Change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((entry) => (
            <LimitRow
              key={entry.scope}
              entry={entry}
              onSaved={() => {
                onSaved();
                setHistory(null);
              }}
            />
          ))}
        </tbody>
      </table>
      <div className="inline-form">
        <select value={extra} onChange={(e) => setExtra(e.target.value)} data-testid="limit-add-node" aria-label="Node">
          <option value="">Give a node its own limit…</option>
          {offered.map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
        <button
          type="button"
          disabled={!extra}
          onClick={() => {
            setAdded((a) => [...a, extra]);
            setExtra("");
          }}
        >
          Add
        </button>
        <span className="spacer" />
        <button
          type="button"
          data-testid="limit-history-toggle"
          onClick={() => {
            if (history) setHistory(null);
            else
              extras
                .budgetLimitHistory()
                .then((h) => setHistory(h.changes))
                .catch(() => setHistory([]));
          }}
        >
          {history ? "Hide history" : "History of changes"}
        </button>
      </div>
      {history ? (
        <ol className="limit-history" data-testid="limit-history">
          {history.length === 0 ? <li className="muted">No limit has been changed here yet.</li> : null}
          {history.map((c, i) => (
            <li key={i}>
              {new Date(c.changed_at).toLocaleString()} · {scopeLabel(c.scope)}:{" "}
              {c.use_default ? "back to the default" : amount(c.limit)}
              {c.changed_by ? ` · by ${c.changed_by}` : ""}
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}
