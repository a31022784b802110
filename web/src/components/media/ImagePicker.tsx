// A scene's image: upload one (PNG, JPEG or WebP) or choose one already stored, or name an assets file.
import { useRef, useState } from "react";
import { describeError } from "../../api/client";
import { extras } from "../../api/editorExtras";
import { SceneThumb } from "./SceneThumb";
import { addImage, loadImages, useMedia } from "./mediaStore";

const ACCEPT = "image/png,image/jpeg,image/webp";

export function ImagePicker({
  value,
  onChange,
}: {
  value: string | null | undefined;
  onChange: (v: string | null) => void;
}) {
  const { images, loaded } = useMedia();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [choosing, setChoosing] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function upload(file: File) {
    setBusy(true);
    setError(null);
    try {
      const image = await extras.uploadImage(file, file.name);
      addImage(image);
      onChange(image.artifact_id);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      if (input.current) input.current.value = "";
    }
  }

  return (
    <div className="image-picker" data-testid="image-picker">
      <SceneThumb name={value} size="large" />
      <div className="actions">
        <button type="button" disabled={busy} onClick={() => input.current?.click()} data-testid="image-upload">
          {busy ? "Uploading…" : "Upload image"}
        </button>
        <button
          type="button"
          aria-expanded={choosing}
          onClick={() => {
            setChoosing((v) => !v);
            loadImages(true);
          }}
          data-testid="image-choose"
        >
          Choose stored
        </button>
        {value ? (
          <button type="button" onClick={() => onChange(null)} data-testid="image-clear">
            Remove
          </button>
        ) : null}
        <input
          ref={input}
          type="file"
          accept={ACCEPT}
          hidden
          data-testid="image-file"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void upload(file);
          }}
        />
      </div>
      {error ? (
        <p className="error-box small" role="alert" data-testid="image-error">
          {error}
        </p>
      ) : null}
      {choosing ? (
        <div className="image-gallery" data-testid="image-gallery">
          {loaded === "loading" ? <span className="muted small">Loading…</span> : null}
          {loaded === "failed" ? <span className="muted small">The stored images could not be listed.</span> : null}
          {loaded === "yes" && images.length === 0 ? (
            <span className="muted small">No images uploaded yet: upload one above.</span>
          ) : null}
          {images.map((image) => (
            <button
              key={image.artifact_id}
              type="button"
              className={`image-gallery__item${image.artifact_id === value ? " is-on" : ""}`}
              title={`${image.name ?? image.artifact_id} · ${image.width}×${image.height}`}
              onClick={() => {
                onChange(image.artifact_id);
                setChoosing(false);
              }}
            >
              <img src={image.signed_url} alt={image.name ?? image.artifact_id} loading="lazy" />
            </button>
          ))}
        </div>
      ) : null}
      <p className="muted small">PNG, JPEG or WebP. Or type the name of a file in the server's assets folder below.</p>
    </div>
  );
}
