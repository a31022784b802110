// The words offered while typing an element or a content rule: the server's lexicon (`GET /api/lexicon`,
// its elements and the template library's), read once per page and shared by every field.
import { useEffect, useState } from "react";
import { api } from "../api/endpoints";
import type { Lexicon } from "../api/types.gen";

export interface Suggestion {
  value: string;
  /** What the list shows beside the value: how it is said and where it is from. */
  detail: string;
}

let pending: Promise<Lexicon | null> | null = null;

function loadLexicon(): Promise<Lexicon | null> {
  // A server without the route (or a failed read) leaves the fields plain text inputs without suggestions.
  pending ??= api.lexicon().catch(() => {
    pending = null;
    return null;
  });
  return pending;
}

function from(sources: string[]): string {
  const templates = sources.filter((s) => s.startsWith("template:")).map((s) => s.slice("template:".length));
  const parts = [
    ...(sources.includes("lexicon") ? ["lexicon"] : []),
    ...(templates.length ? [`template${templates.length === 1 ? "" : "s"} ${templates.join(", ")}`] : []),
  ];
  return parts.join("; ");
}

/** The element and content-rule suggestions, empty until (and unless) the lexicon is read. */
export function useLexicon(): { elements: Suggestion[]; rules: Suggestion[] } {
  const [lexicon, setLexicon] = useState<Lexicon | null>(null);
  useEffect(() => {
    let live = true;
    void loadLexicon().then((found) => live && setLexicon(found));
    return () => {
      live = false;
    };
  }, []);
  return {
    elements: (lexicon?.elements ?? []).map((e) => ({
      value: e.id,
      detail: [e.words, from(e.sources)].filter(Boolean).join(" · "),
    })),
    rules: (lexicon?.contentRules ?? []).map((r) => ({ value: r.id, detail: from(r.sources) })),
  };
}
