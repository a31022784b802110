// The rule DSL source, and below it the source again, line by line, with each compiler error (and
// warning) printed under the line it belongs to, a caret under its column.
import type { Diagnostic, DslResult } from "../api/types.gen";

export function RulesEditor({
  source,
  result,
  error,
  onChange,
}: {
  source: string;
  result: DslResult | null;
  error: string | null;
  onChange: (source: string) => void;
}) {
  const lines = source.split("\n");
  const byLine = new Map<number, { d: Diagnostic; kind: "error" | "warning" }[]>();
  for (const d of result?.errors ?? []) byLine.set(d.line, [...(byLine.get(d.line) ?? []), { d, kind: "error" }]);
  for (const d of result?.warnings ?? []) byLine.set(d.line, [...(byLine.get(d.line) ?? []), { d, kind: "warning" }]);
  const errors = result?.errors?.length ?? 0;
  const warnings = result?.warnings?.length ?? 0;
  return (
    <div className="rules">
      <textarea
        data-testid="field-rules"
        className="rules__source"
        spellCheck={false}
        rows={Math.min(14, Math.max(5, lines.length + 1))}
        value={source}
        placeholder={
          'IF player_choice.quest_accept == true\n  THEN moodTo = "determined" pacing = "fast"\nDURATION 20-40s TARGET 30s'
        }
        onChange={(e) => onChange(e.target.value)}
      />
      <div className="rules__summary">
        {error ? (
          <span className="sev-error">Rules not checked: {error}</span>
        ) : source.trim() === "" ? (
          <span className="muted">No rules.</span>
        ) : result === null ? (
          <span className="muted">Checking…</span>
        ) : errors === 0 && warnings === 0 ? (
          <span className="sev-ok">Rules compile.</span>
        ) : (
          <span>
            {errors ? (
              <span className="sev-error">
                {errors} error{errors === 1 ? "" : "s"}
              </span>
            ) : null}
            {errors && warnings ? " · " : null}
            {warnings ? (
              <span className="sev-warning">
                {warnings} warning{warnings === 1 ? "" : "s"}
              </span>
            ) : null}
          </span>
        )}
      </div>
      {source.trim() !== "" && (errors > 0 || warnings > 0) ? (
        <ol className="rules__lines" aria-label="rules with their errors">
          {lines.map((text, index) => {
            const line = index + 1;
            const notes = byLine.get(line) ?? [];
            return (
              <li key={line} className={notes.length ? "has-notes" : ""}>
                <div className="rules__line">
                  <span className="rules__no">{line}</span>
                  <code>{text || " "}</code>
                </div>
                {notes.map(({ d, kind }, i) => (
                  <div
                    key={i}
                    className={`rules__note sev-${kind}`}
                    data-testid={kind === "error" ? "dsl-error" : "dsl-warning"}
                    data-line={d.line}
                    data-code={d.code}
                  >
                    <code className="rules__caret">{`${" ".repeat(Math.max(0, d.column - 1))}^`}</code>
                    <span>
                      line {d.line}:{d.column} {d.code}: {d.message}
                      {d.suggestion ? ` (did you mean ${d.suggestion}?)` : ""}
                    </span>
                  </div>
                ))}
              </li>
            );
          })}
          {[...byLine.keys()]
            .filter((line) => line > lines.length)
            .flatMap((line) => byLine.get(line) ?? [])
            .map(({ d, kind }, i) => (
              <li key={`past-${i}`} className="has-notes">
                <div
                  className={`rules__note sev-${kind}`}
                  data-testid={kind === "error" ? "dsl-error" : "dsl-warning"}
                  data-line={d.line}
                  data-code={d.code}
                >
                  <span>
                    line {d.line}:{d.column} {d.code}: {d.message}
                  </span>
                </div>
              </li>
            ))}
        </ol>
      ) : null}
    </div>
  );
}
