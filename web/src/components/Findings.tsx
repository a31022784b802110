import type { ValidationFinding } from "../api/types.gen";

const ORDER = { error: 0, warning: 1, suggestion: 2 } as const;

export function FindingsList({
  findings,
  testId = "findings",
  empty,
  onPick,
}: {
  findings: ValidationFinding[];
  testId?: string;
  empty?: string;
  onPick?: (finding: ValidationFinding) => void;
}) {
  const sorted = [...findings].sort((a, b) => ORDER[a.severity] - ORDER[b.severity]);
  return (
    <ul className="findings" data-testid={testId}>
      {sorted.length === 0 && empty ? <li className="findings__empty">{empty}</li> : null}
      {sorted.map((f, i) => (
        <li
          key={`${f.code}-${f.field}-${i}`}
          className={`finding sev-${f.severity}`}
          data-testid="finding"
          data-code={f.code}
          data-severity={f.severity}
          onClick={onPick ? () => onPick(f) : undefined}
          style={onPick ? { cursor: "pointer" } : undefined}
        >
          <span className={`sev-dot sev-${f.severity}`} aria-hidden />
          <span className="finding__code">{f.code}</span>
          {f.field ? <span className="finding__field">{f.field}</span> : null}
          <span className="finding__message">{f.message}</span>
        </li>
      ))}
    </ul>
  );
}
