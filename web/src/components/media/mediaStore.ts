// Scene images uploaded to the server (listed once, added to on upload) and the posters of the latest
// test of each Generation Node: a small store shared by the canvas, the scene panel and the test panel.
import { useEffect, useSyncExternalStore } from "react";
import { mediaUrl } from "../../api/client";
import { extras } from "../../api/editorExtras";
import type { UploadedImage } from "../../api/types.gen";

interface MediaState {
  images: UploadedImage[];
  loaded: "no" | "loading" | "yes" | "failed";
  /** Node id -> a URL the page can show (a blob URL when a key is needed). */
  posters: Record<string, string>;
}

let state: MediaState = { images: [], loaded: "no", posters: {} };
const listeners = new Set<() => void>();

function set(next: MediaState): void {
  state = next;
  listeners.forEach((l) => l());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Images uploaded since the list was last asked for: a list that left the server before an upload does not
// hold it, and must not take it away when it arrives (the scene's thumbnail became "image file: <id>").
let addedSinceLoad: UploadedImage[] = [];
// Only the newest listing is taken: an older one still on its way ("Choose stored" asks again while the
// page's first listing is out) knows less, and its uploads were forgotten when the newer one was asked for.
let loads = 0;

export function loadImages(force = false): void {
  if (!force && (state.loaded === "yes" || state.loaded === "loading")) return;
  set({ ...state, loaded: "loading" });
  addedSinceLoad = [];
  const load = ++loads;
  extras
    .images()
    .then((list) => {
      if (load === loads) set({ ...state, images: withAdded(list.images, addedSinceLoad), loaded: "yes" });
    })
    .catch(() => {
      if (load === loads) set({ ...state, loaded: "failed" });
    });
}

export function addImage(image: UploadedImage): void {
  addedSinceLoad = withFirst(image, addedSinceLoad);
  set({ ...state, images: withFirst(image, state.images) });
}

function withFirst(image: UploadedImage, images: UploadedImage[]): UploadedImage[] {
  return [image, ...images.filter((i) => i.artifact_id !== image.artifact_id)];
}

/** A listing of the server's images, with the images uploaded while it was on its way (first) that it lacks. */
export function withAdded(listed: UploadedImage[], added: UploadedImage[]): UploadedImage[] {
  const known = new Set(listed.map((i) => i.artifact_id));
  return [...added.filter((i) => !known.has(i.artifact_id)), ...listed];
}

/** The store as it is now (for tests; components use `useMedia`). */
export function mediaNow(): MediaState {
  return state;
}

/** Keep the poster of a node's latest test (its artifact path, loaded as the page may show it). */
export function rememberPoster(nodeId: string, artifactPath: string): void {
  mediaUrl(artifactPath)
    .then((m) => set({ ...state, posters: { ...state.posters, [nodeId]: m.url } }))
    .catch(() => undefined);
}

export function useMedia(): MediaState {
  const current = useSyncExternalStore(subscribe, () => state);
  useEffect(() => {
    loadImages();
  }, []);
  return current;
}

/** A scene's `image` as the uploaded image it names (by artifact id), or null (an assets file, or unknown). */
export function imageOf(images: UploadedImage[], name: string | null | undefined): UploadedImage | null {
  if (!name) return null;
  return images.find((i) => i.artifact_id === name) ?? null;
}
