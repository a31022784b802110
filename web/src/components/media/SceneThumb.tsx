// Thumbnails: a scene's image on its canvas card and in its panel, and a Generation Node's poster after a test.
import { imageOf, useMedia } from "./mediaStore";

export function SceneThumb({ name, size = "small" }: { name: string | null | undefined; size?: "small" | "large" }) {
  const { images } = useMedia();
  if (!name) return null;
  const image = imageOf(images, name);
  if (!image) {
    // An assets-folder file (the server reads it, the page cannot): say which one.
    return (
      <div className={`scene-thumb scene-thumb--${size} scene-thumb--file`} data-testid="scene-thumb-file" title={name}>
        image file: {name}
      </div>
    );
  }
  return (
    <img
      className={`scene-thumb scene-thumb--${size}`}
      data-testid="scene-thumb"
      src={image.signed_url}
      alt={image.name ?? "scene image"}
      title={`${image.name ?? image.artifact_id} · ${image.width}×${image.height}`}
      loading="lazy"
    />
  );
}

export function NodePoster({ nodeId }: { nodeId: string }) {
  const { posters } = useMedia();
  const url = posters[nodeId];
  if (!url) return null;
  return <img className="node-poster" data-testid={`node-poster-${nodeId}`} src={url} alt="poster of the last test" />;
}
