// The banners above the canvas about the document: a refused or failed save, a save conflict, and an
// unsaved draft kept in this browser.
import { detailsAsFindings } from "../state/checks";
import { dropDraft, storeDraft, type Draft } from "../state/drafts";
import { useEditor } from "../state/store";
import { FindingsList } from "./Findings";
import { Icon } from "./Icon";

export function SaveBanners({
  draftOffer,
  onDraftDone,
  onOverwrite,
  onReload,
}: {
  draftOffer: Draft | null;
  /** The draft was restored or discarded: stop offering it. */
  onDraftDone: () => void;
  onOverwrite: () => void;
  onReload: (graphId: string) => void;
}) {
  const { state, dispatch, graph, edit, select } = useEditor();
  const { save, baseVersion } = state;
  const dismiss = () => dispatch({ type: "saveDismissed" });
  return (
    <>
      {save.kind === "refused" ? (
        <div className="banner banner-error" data-testid="save-error" role="alert">
          <div className="banner__head">
            <strong>Save refused:</strong> {save.error.message}
            <span className="spacer" />
            <button type="button" className="icon-button" onClick={dismiss} title="Dismiss" aria-label="Dismiss">
              <Icon name="close" />
            </button>
          </div>
          <FindingsList
            findings={detailsAsFindings(save.error)}
            testId="save-error-findings"
            onPick={(f) => {
              const hit = (graph?.nodes ?? []).find((n) => f.field.startsWith(`nodes.${n.id}.`));
              if (hit) select(hit.id);
            }}
          />
        </div>
      ) : null}
      {save.kind === "failed" ? (
        <div className="banner banner-error" data-testid="save-error" role="alert">
          <div className="banner__head">
            <strong>Not saved:</strong> {save.message}. Your changes are kept in this browser as a draft.
            <span className="spacer" />
            <button type="button" className="icon-button" onClick={dismiss} title="Dismiss" aria-label="Dismiss">
              <Icon name="close" />
            </button>
          </div>
        </div>
      ) : null}
      {save.kind === "conflict" && graph ? (
        <div className="banner banner-warning banner-row" data-testid="save-conflict" role="alert">
          <span>
            <strong>Not saved yet:</strong> version {save.serverVersion} of {graph.id} was saved
            {save.author ? ` by ${save.author}` : ""} after you opened version {baseVersion}.
          </span>
          <span className="spacer" />
          <button type="button" className="primary" data-testid="save-overwrite" onClick={onOverwrite}>
            Save mine as version {save.serverVersion + 1}
          </button>
          <button
            type="button"
            data-testid="save-reload"
            onClick={() => {
              storeDraft(graph, baseVersion);
              onReload(graph.id);
            }}
            title="Your changes stay in this browser as a draft, offered after the reload"
          >
            Open version {save.serverVersion} (keep mine as a draft)
          </button>
        </div>
      ) : null}
      {draftOffer ? (
        <div className="banner banner-warning" data-testid="draft-banner">
          <span>
            An unsaved draft of <strong>{draftOffer.graph.id}</strong> from{" "}
            {new Date(draftOffer.savedAt).toLocaleString()} is kept in this browser.
            {draftOffer.baseVersion !== null && baseVersion !== null && draftOffer.baseVersion !== baseVersion
              ? ` It was edited from version ${draftOffer.baseVersion}; the server now has version ${baseVersion}.`
              : ""}
          </span>
          <span className="spacer" />
          <button
            type="button"
            className="primary"
            data-testid="draft-restore"
            onClick={() => {
              const restored = draftOffer.graph;
              edit(() => restored);
              onDraftDone();
            }}
          >
            Restore draft
          </button>
          <button
            type="button"
            data-testid="draft-discard"
            onClick={() => {
              dropDraft(draftOffer.graph.id);
              onDraftDone();
            }}
          >
            Discard
          </button>
        </div>
      ) : null}
    </>
  );
}
