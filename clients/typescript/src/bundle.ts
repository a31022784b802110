// An offline bundle (format dyngen-bundle/1, written by `dyngen export`): manifest.json and its files, read
// from a base URL (browsers, Node) or a directory (Node). An item is used only when every file's size and
// sha256 (WebCrypto) are what the manifest says; otherwise it is refused as tampered. No server logic here:
// the lookup is the format's own (node id, then the scope the item was made for).
import { DyngenError } from "./errors.js";
import type { GenerateContentResponse, PlayerContext } from "./wire.js";

export const BUNDLE_FORMAT = "dyngen-bundle/1";

export interface BundleSource {
  /** Where manifest.json is served (a folder URL; relative ones resolve against the page). */
  baseUrl?: string;
  /** A bundle folder on disk (Node only). */
  directory?: string;
}

export interface BundleFile {
  role: string;
  path: string;
  media_type: string;
  sha256: string;
  bytes: number;
}

export interface BundleItem {
  node_id: string;
  from_scene: string;
  to_scene: string;
  cache_key: string;
  strategy: "once" | "per_playthrough" | "per_player" | "always";
  scope: { playthrough_id?: string; player_id?: string };
  kind: string;
  files: BundleFile[];
  response: GenerateContentResponse;
}

export interface BundleManifest {
  format: string;
  dyngen_version: string;
  created_at: string;
  graph: { id: string; version: number; start_scene: string | null };
  scopes: { playthrough_ids: string[]; player_ids: string[] };
  items: BundleItem[];
  fallbacks: Record<string, GenerateContentResponse>;
  always_nodes: string[];
}

/** What the bundle answers for a node: its item (verified), or the reason there is none. */
export type BundleLookup =
  | { found: true; response: GenerateContentResponse }
  | { found: false; reason: "missing" | "tampered" | "unverified" | "other-graph"; detail?: string };

const UNVERIFIED = "its files' sha256 cannot be checked: crypto.subtle needs a secure context (https, localhost or file:)";

type ReadBytes = (path: string) => Promise<Uint8Array>;

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `item` was made for this player (once: everyone; per playthrough / player: that id). */
export function scopeMatches(item: BundleItem, context: PlayerContext | null | undefined): boolean {
  if (item.strategy === "per_playthrough") return item.scope.playthrough_id === (context?.playthroughId ?? undefined);
  if (item.strategy === "per_player") return item.scope.player_id === (context?.playerId ?? undefined);
  return true;
}

export class Bundle {
  private manifestPromise: Promise<BundleManifest> | null = null;
  private readonly verified = new Map<BundleItem, Promise<string | null>>();

  constructor(
    readonly source: BundleSource,
    private readonly fetcher: typeof fetch,
  ) {
    if (!source.baseUrl && !source.directory) throw new TypeError("bundle: give baseUrl or directory");
  }

  /** The URL (or file:// URL) a bundle-relative path resolves to. */
  async resolve(path: string): Promise<string> {
    if (this.source.baseUrl) {
      const base = this.source.baseUrl.endsWith("/") ? this.source.baseUrl : `${this.source.baseUrl}/`;
      const page = (globalThis as { location?: { href: string } }).location?.href;
      return new URL(path, page ? new URL(base, page) : base).href;
    }
    const url = (await import(nodeModule("node:url"))) as { pathToFileURL(p: string): URL };
    const pathMod = (await import(nodeModule("node:path"))) as { join(...p: string[]): string };
    return url.pathToFileURL(pathMod.join(this.source.directory ?? "", path)).href;
  }

  private async read(path: string): Promise<Uint8Array> {
    if (this.source.baseUrl) {
      const response = await this.fetcher(await this.resolve(path));
      if (!response.ok) throw new DyngenError("bundle", `bundle file ${path}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    }
    const fs = (await import(nodeModule("node:fs/promises"))) as { readFile(p: string): Promise<Uint8Array> };
    const pathMod = (await import(nodeModule("node:path"))) as { join(...p: string[]): string };
    return fs.readFile(pathMod.join(this.source.directory ?? "", path));
  }

  manifest(): Promise<BundleManifest> {
    this.manifestPromise ??= (async () => {
      let manifest: BundleManifest;
      try {
        manifest = JSON.parse(new TextDecoder().decode(await this.read("manifest.json"))) as BundleManifest;
      } catch (error) {
        this.manifestPromise = null; // a bundle that could not be read now may be readable later
        throw new DyngenError("bundle", `the bundle's manifest.json cannot be read (${String(error)})`, { cause: error });
      }
      if (manifest.format !== BUNDLE_FORMAT) {
        throw new DyngenError("bundle", `bundle format ${String(manifest.format)} is not ${BUNDLE_FORMAT}`);
      }
      return manifest;
    })();
    return this.manifestPromise;
  }

  /** Why `item` cannot be used (a file missing, of another size or digest), or null when it can. */
  private verify(item: BundleItem, read: ReadBytes): Promise<string | null> {
    let result = this.verified.get(item);
    if (!result) {
      result = (async () => {
        for (const file of item.files) {
          let bytes: Uint8Array;
          try {
            bytes = await read(file.path);
          } catch (error) {
            return `${file.path}: ${String(error)}`;
          }
          if (bytes.byteLength !== file.bytes) return `${file.path}: ${bytes.byteLength} bytes, not ${file.bytes}`;
          const digest = hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
          if (digest !== file.sha256.toLowerCase()) return `${file.path}: sha256 ${digest}, not ${file.sha256}`;
        }
        return null;
      })();
      this.verified.set(item, result);
    }
    return result;
  }

  /** The response with every bundle-relative URL (content.url, artifacts[].url) made loadable. */
  private async located(response: GenerateContentResponse): Promise<GenerateContentResponse> {
    const copy = structuredClone(response);
    if (copy.content?.url) copy.content.url = await this.resolve(copy.content.url);
    for (const artifact of copy.artifacts ?? []) artifact.url = await this.resolve(artifact.url);
    return copy;
  }

  /** The item for this node and player, verified. */
  async lookup(graphId: string, nodeId: string, context: PlayerContext | null | undefined): Promise<BundleLookup> {
    const manifest = await this.manifest();
    if (manifest.graph.id !== graphId) return { found: false, reason: "other-graph" };
    const item = manifest.items.find((i) => i.node_id === nodeId && scopeMatches(i, context));
    if (!item) return { found: false, reason: "missing" };
    if (item.files.length > 0 && !(globalThis.crypto.subtle as SubtleCrypto | undefined)) {
      // WebCrypto's digest exists in secure contexts only (https, localhost, file:): files that cannot be
      // checked are not played.
      return { found: false, reason: "unverified", detail: UNVERIFIED };
    }
    const problem = await this.verify(item, (path) => this.read(path));
    if (problem !== null) return { found: false, reason: "tampered", detail: problem };
    return { found: true, response: await this.located(item.response) };
  }

  /** The node's fallback as the server would answer it (status failed, fallback applied), or null. */
  async fallback(graphId: string, nodeId: string): Promise<GenerateContentResponse | null> {
    const manifest = await this.manifest();
    if (manifest.graph.id !== graphId) return null;
    const answer = manifest.fallbacks[nodeId];
    return answer ? this.located(answer) : null;
  }
}

// Node's built-in modules are imported by a computed name so that browser bundlers leave them alone; they
// are loaded only for a `directory` bundle, which only Node has.
function nodeModule(name: string): string {
  return name;
}
