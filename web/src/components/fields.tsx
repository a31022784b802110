// Form fields of the side panel: each shows the validator's findings for its field under it.
import { useEffect, useState, type ReactNode } from "react";
import type { ValidationFinding } from "../api/types.gen";
import { parseList } from "../state/graphOps";

interface FieldShell {
  label: string;
  hint?: string;
  findings?: ValidationFinding[];
  children: ReactNode;
}

export function Field({ label, hint, findings, children }: FieldShell) {
  const worst = findings?.some((f) => f.severity === "error")
    ? "error"
    : findings?.some((f) => f.severity === "warning")
      ? "warning"
      : findings?.length
        ? "suggestion"
        : null;
  return (
    <label className={`field${worst ? ` has-${worst}` : ""}`}>
      <span className="field__label">{label}</span>
      {children}
      {hint ? <span className="field__hint">{hint}</span> : null}
      {findings?.map((f) => (
        <span key={`${f.code}-${f.message}`} className={`field__finding sev-${f.severity}`}>
          {f.message}
        </span>
      ))}
    </label>
  );
}

export function TextInput(props: {
  testId: string;
  value: string | null | undefined;
  onChange: (value: string) => void;
  placeholder?: string;
  disabled?: boolean;
}) {
  return (
    <input
      type="text"
      data-testid={props.testId}
      value={props.value ?? ""}
      placeholder={props.placeholder}
      disabled={props.disabled}
      onChange={(e) => props.onChange(e.target.value)}
    />
  );
}

/** A number input that lets the user pass through states that are not numbers yet ("", "-", "1."). */
export function NumberInput(props: {
  testId: string;
  value: number | null | undefined;
  onChange: (value: number | null) => void;
  step?: number;
  min?: number;
  max?: number;
  placeholder?: string;
  allowEmpty?: boolean;
}) {
  const shown = props.value === null || props.value === undefined ? "" : String(props.value);
  const [text, setText] = useState(shown);
  useEffect(() => {
    setText((current) => (Number(current) === props.value && current !== "" ? current : shown));
  }, [shown, props.value]);
  return (
    <input
      type="number"
      data-testid={props.testId}
      value={text}
      step={props.step ?? 1}
      min={props.min}
      max={props.max}
      placeholder={props.placeholder}
      onChange={(e) => {
        const raw = e.target.value;
        setText(raw);
        if (raw.trim() === "") {
          if (props.allowEmpty) props.onChange(null);
          return;
        }
        const n = Number(raw);
        if (Number.isFinite(n)) props.onChange(n);
      }}
      // A required number left empty (or half-typed) shows its value again on leaving the field, so the
      // field never looks empty while the node keeps its old value.
      onBlur={() => setText(shown)}
    />
  );
}

export function Select<T extends string>(props: {
  testId: string;
  value: T | null | undefined;
  options: readonly (T | { value: T; label: string })[];
  onChange: (value: T) => void;
  allowNone?: string;
  disabled?: boolean;
}) {
  return (
    <select
      data-testid={props.testId}
      value={props.value ?? ""}
      disabled={props.disabled}
      onChange={(e) => props.onChange(e.target.value as T)}
    >
      {props.allowNone !== undefined ? <option value="">{props.allowNone}</option> : null}
      {props.options.map((o) => {
        const value = typeof o === "string" ? o : o.value;
        const label = typeof o === "string" ? o : o.label;
        return (
          <option key={value} value={value}>
            {label}
          </option>
        );
      })}
    </select>
  );
}

/** Comma-separated list: the text is kept as typed while it means the same list. */
export function ListInput(props: {
  testId: string;
  value: string[] | null | undefined;
  onChange: (value: string[]) => void;
  placeholder?: string;
}) {
  const joined = (props.value ?? []).join(", ");
  const [text, setText] = useState(joined);
  useEffect(() => {
    setText((current) => (parseList(current).join(", ") === joined ? current : joined));
  }, [joined]);
  return (
    <input
      type="text"
      data-testid={props.testId}
      value={text}
      placeholder={props.placeholder}
      onChange={(e) => {
        setText(e.target.value);
        props.onChange(parseList(e.target.value));
      }}
    />
  );
}
