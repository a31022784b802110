// What the player gets when a node's generation fails, as its fallback is set now.
import type { Fallback } from "../../api/types.gen";
import { imageOf, useMedia } from "./mediaStore";

export function FallbackPreview({ fallback }: { fallback: Fallback }) {
  const { images } = useMedia();
  const mode = fallback.mode ?? "skip";
  let body: React.ReactNode;
  if (mode === "default_content") {
    const id = fallback.defaultContentId;
    const image = imageOf(images, id);
    body = !id ? (
      <span className="sev-warning">No default content chosen: the player would get nothing.</span>
    ) : image ? (
      <>
        <img className="scene-thumb scene-thumb--large" src={image.signed_url} alt={image.name ?? id} />
        <span>the stored image {image.name ?? id}</span>
      </>
    ) : (
      <span>
        The game plays its own asset <code>{id}</code> (the answer carries <code>content_id: {id}</code>).
      </span>
    );
  } else if (mode === "placeholder") {
    body = <span>A loading / bridge card (the answer's content is marked placeholder), then the next scene.</span>;
  } else if (mode === "retry") {
    body = (
      <span>
        Generation is tried {fallback.maxRetries ?? 1} more time(s); if it still fails, the game goes straight to the
        next scene.
      </span>
    );
  } else {
    body = <span>Nothing plays: the game cuts straight to the next scene.</span>;
  }
  return (
    <div className="fallback-preview" data-testid="fallback-preview" data-mode={mode}>
      <span className="field__label">What the player gets on failure</span>
      <div>{body}</div>
    </div>
  );
}
