// "Prompt": what the node's provider is told, rendered by the server for the graph as edited and a player,
// and the templates behind it (the shipped default until the designer edits one), with the variables they
// can use. Text providers read System and User; video providers Prompt and Negative prompt.
import { useEffect, useState } from "react";
import { api } from "../../api/endpoints";
import type { PlayerContext, PromptPreview, PromptTemplates, SceneGraph } from "../../api/types.gen";
import { describeError } from "../../api/client";
import { findingsAt } from "../../state/status";
import { Field, TagInput, TextInput } from "../fields";
import type { TabProps } from "./config";

const ROLES: { id: keyof PromptTemplates; label: string; who: string }[] = [
  { id: "system", label: "System", who: "text providers" },
  { id: "user", label: "User", who: "text providers" },
  { id: "prompt", label: "Prompt", who: "video providers" },
  { id: "negativePrompt", label: "Negative prompt", who: "video providers" },
];
const DEBOUNCE_MS = 400;

function playerOf(playthrough: string, flagsText: string): { context: PlayerContext; problem: string | null } {
  const context: PlayerContext = playthrough ? { playthroughId: playthrough, playerId: playthrough } : {};
  if (!flagsText.trim()) return { context, problem: null };
  try {
    const flags: unknown = JSON.parse(flagsText);
    if (typeof flags !== "object" || flags === null || Array.isArray(flags)) {
      return { context, problem: "flags are a JSON object" };
    }
    return { context: { ...context, flags: flags as PlayerContext["flags"] }, problem: null };
  } catch {
    return { context, problem: "flags are not JSON yet" };
  }
}

export function PromptTab({ config, findings, onChange, graph, nodeId }: TabProps & { graph: SceneGraph; nodeId: string }) {
  const [playthrough, setPlaythrough] = useState("preview");
  const [flagsText, setFlagsText] = useState("");
  const [preview, setPreview] = useState<PromptPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { context, problem } = playerOf(playthrough, flagsText);
  const contextKey = JSON.stringify(context);

  useEffect(() => {
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      api
        .nodePrompt(graph.id, nodeId, { graph, player_context: JSON.parse(contextKey) as PlayerContext }, controller.signal)
        .then((answer) => {
          setPreview(answer);
          setError(null);
        })
        .catch((err: unknown) => {
          if (!controller.signal.aborted) setError(describeError(err));
        });
    }, DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [graph, nodeId, contextKey]);

  const setRole = (role: keyof PromptTemplates, value: string | null) =>
    onChange((c) => {
      const next: PromptTemplates = { ...(c.prompt ?? {}), [role]: value };
      const empty = ROLES.every((r) => next[r.id] === null || next[r.id] === undefined);
      return { ...c, prompt: empty ? null : next };
    }, `prompt.${role}`);

  return (
    <section data-testid="prompt-tab">
      <div className="field-row">
        <Field label="Player" hint="Playthrough and player id of the preview">
          <TextInput testId="prompt-player" value={playthrough} onChange={setPlaythrough} />
        </Field>
        <Field as="div" label="Lore tags" hint="More lore for this node, by tag" findings={findingsAt(findings, "loreTags")}>
          <TagInput
            testId="prompt-lore-tags"
            noun="lore tag"
            suggestions={[...new Set((graph.lore ?? []).flatMap((l) => l.tags ?? []))].map((t) => ({ value: t, detail: "lore tag" }))}
            value={config.loreTags}
            onChange={(v) => onChange((c) => ({ ...c, loreTags: v.length ? v : null }), "loreTags")}
          />
        </Field>
      </div>
      <Field label="Player flags (JSON)" hint={problem ?? 'e.g. {"kissed": true}'}>
        <TextInput testId="prompt-flags" value={flagsText} onChange={setFlagsText} placeholder="{}" />
      </Field>
      {error ? <p className="error-box">Prompt not rendered: {error}</p> : null}
      {preview ? (
        <p className="muted small" data-testid="prompt-provider">
          Rendered for provider <code>{preview.provider}</code>.
        </p>
      ) : (
        <p className="muted small">Rendering…</p>
      )}
      {ROLES.map((role) => {
        const shown = preview?.roles[role.id];
        const own = config.prompt?.[role.id];
        return (
          <div key={role.id} className="prompt-role" data-testid={`prompt-role-${role.id}`}>
            <div className="prompt-role__head">
              <strong>{role.label}</strong>
              <span className="muted small">
                {role.who} · {own !== null && own !== undefined ? "this node's template" : "shipped default"}
              </span>
              <span className="spacer" />
              {own !== null && own !== undefined ? (
                <button type="button" className="link" onClick={() => setRole(role.id, null)}>
                  Use the default
                </button>
              ) : null}
            </div>
            <pre className="prompt-role__text" data-testid={`prompt-text-${role.id}`}>
              {shown?.text ?? (shown ? "(cannot render: see the findings)" : "…")}
            </pre>
            <Field label="Template (Jinja2)" findings={findingsAt(findings, `prompt.${role.id}`)}>
              <textarea
                data-testid={`prompt-template-${role.id}`}
                rows={6}
                spellCheck={false}
                value={own ?? shown?.template ?? ""}
                onChange={(e) => setRole(role.id, e.target.value)}
              />
            </Field>
          </div>
        );
      })}
      {preview?.findings.length ? (
        <ul className="prompt-findings" data-testid="prompt-findings">
          {preview.findings.map((f) => (
            <li key={`${f.field}-${f.message}`} className={`sev-${f.severity}`}>
              <code>{f.field}</code> {f.message}
            </li>
          ))}
        </ul>
      ) : null}
      <details className="prompt-variables" data-testid="prompt-variables" open>
        <summary>Variables</summary>
        <dl>
          {Object.entries(preview?.variable_help ?? {}).map(([name, help]) => (
            <div key={name}>
              <dt>
                <code>{`{{ ${name} }}`}</code>
              </dt>
              <dd>
                {help}
                {preview && name in preview.variables ? (
                  <pre className="prompt-variable__value">{JSON.stringify(preview.variables[name], null, 1)}</pre>
                ) : null}
              </dd>
            </div>
          ))}
        </dl>
      </details>
    </section>
  );
}
