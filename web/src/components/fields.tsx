// Form fields of the side panel: each shows the validator's findings for its field under it.
import { useEffect, useId, useState, type ReactNode } from "react";
import type { ValidationFinding } from "../api/types.gen";
import { parseList } from "../state/graphOps";
import type { Suggestion } from "../state/lexicon";
import { Icon } from "./Icon";

/** An enum's values as choices that show their human label (the value stays what is stored). */
export function labelled<T extends string>(
  values: readonly T[],
  labels: Readonly<Record<T, string>>,
  means?: Partial<Record<T, string>>,
): { value: T; label: string }[] {
  return values.map((value) => ({ value, label: means?.[value] ? `${labels[value]}: ${means[value]}` : labels[value] }));
}

interface FieldShell {
  label: string;
  /** "div" for a field holding several controls (a <label> would pass its clicks to the first button). */
  as?: "label" | "div";
  hint?: string;
  findings?: ValidationFinding[];
  children: ReactNode;
}

export function Field({ label, hint, findings, children, as: Shell = "label" }: FieldShell) {
  const worst = findings?.some((f) => f.severity === "error")
    ? "error"
    : findings?.some((f) => f.severity === "warning")
      ? "warning"
      : findings?.length
        ? "suggestion"
        : null;
  return (
    <Shell className={`field${worst ? ` has-${worst}` : ""}`}>
      <span className="field__label">{label}</span>
      {children}
      {hint ? <span className="field__hint">{hint}</span> : null}
      {findings?.map((f) => (
        <span key={`${f.code}-${f.message}`} className={`field__finding sev-${f.severity}`}>
          {f.message}
        </span>
      ))}
    </Shell>
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

/** A list of ids as removable tags, with an input that suggests known values (a datalist): Enter, a comma,
 * picking a suggestion or leaving the field adds what was typed; pasted "a, b" adds both. The container
 * carries `data-testid` and each tag `<testId>-tag` with `data-value`; the input is `<testId>-input`. */
export function TagInput(props: {
  testId: string;
  value: string[] | null | undefined;
  onChange: (value: string[]) => void;
  suggestions: Suggestion[];
  placeholder?: string;
  /** What the list is of, for the remove buttons' names ("element", "rule"). */
  noun: string;
}) {
  const values = props.value ?? [];
  const [text, setText] = useState("");
  const listId = useId();
  const add = (raw: string) => {
    const fresh = parseList(raw).filter((item, i, all) => !values.includes(item) && all.indexOf(item) === i);
    if (fresh.length) props.onChange([...values, ...fresh]);
    setText("");
  };
  const offered = props.suggestions.filter((s) => !values.includes(s.value));
  return (
    <div className="tags" data-testid={props.testId}>
      {values.map((item) => (
        <span key={item} className="tag" data-testid={`${props.testId}-tag`} data-value={item}>
          {item}
          <button
            type="button"
            className="tag__remove"
            aria-label={`Remove ${props.noun} ${item}`}
            title={`Remove ${item}`}
            data-testid={`${props.testId}-remove-${item}`}
            onClick={() => props.onChange(values.filter((v) => v !== item))}
          >
            <Icon name="close" />
          </button>
        </span>
      ))}
      <input
        type="text"
        className="tags__input"
        data-testid={`${props.testId}-input`}
        aria-label={`Add ${props.noun}`}
        list={listId}
        value={text}
        placeholder={values.length ? "" : (props.placeholder ?? `Add ${props.noun}…`)}
        onChange={(e) => {
          const raw = e.target.value;
          const picked = (e.nativeEvent as InputEvent).inputType === "insertReplacementText";
          if (picked || raw.includes(",")) add(raw);
          else setText(raw);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            add(text);
          } else if (e.key === "Backspace" && text === "" && values.length) {
            props.onChange(values.slice(0, -1));
          }
        }}
        onBlur={() => text.trim() && add(text)}
      />
      <datalist id={listId}>
        {offered.map((s) => (
          <option key={s.value} value={s.value} label={s.detail} />
        ))}
      </datalist>
    </div>
  );
}
