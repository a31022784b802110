// DyngenClient: what a game calls. Every verb is one HTTP call to dyngen (keys, seeds, validation, caching
// and fallbacks are the server's); the client adds the transport a game needs (deadlines, retries with one
// Idempotency-Key, Retry-After, AbortSignal), async jobs, and an offline bundle to play from.
import { Bundle, type BundleSource } from "./bundle.js";
import { DyngenError } from "./errors.js";
import { jobEvents, type EventOptions } from "./events.js";
import { Transport, newIdempotencyKey, realSleep, type CallOptions, type Sleep } from "./transport.js";
import type {
  AdvanceRequest,
  AdvanceResponse,
  GenerateContentRequest,
  GenerateContentResponse,
  JobAccepted,
  JobEvent,
  NodeContentRequest,
  PlayerContext,
  SocialContext,
} from "./wire.js";

export interface ClientOptions {
  /** The dyngen server, e.g. `https://dyngen.example.com` (omit to play from `bundle` only). */
  baseUrl?: string;
  /** A runtime key, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Deadline of one attempt, in ms (default 10000). */
  timeoutMs?: number;
  /** Attempts after the first for no answer, 429, 502, 503, 504 (default 2). */
  retries?: number;
  /** First backoff between attempts when the server gave no Retry-After, in ms (default 250, doubling). */
  backoffMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails with it (default 30000). */
  maxRetryAfterMs?: number;
  /** An offline bundle (`dyngen export`): played from first, its fallbacks used when nothing else answers. */
  bundle?: BundleSource;
  /** Another fetch (tests, instrumentation); default the global one. */
  fetch?: typeof fetch;
  /** How the client waits between attempts (tests inject one that records the delay). */
  sleep?: Sleep;
}

/** Where a played answer came from. */
export type Source = "server" | "bundle" | "bundle-fallback";

/** The server's GenerateContentResponse, and where this one came from. A node's fallback is data:
 * `status: "failed"` with `fallback` (and its content, if the fallback has one). */
export type PlayResult = GenerateContentResponse & {
  source: Source;
  /** When the bundle had the item but a file did not match its sha256 or size. */
  bundleProblem?: string;
};

export interface PlayOptions extends CallOptions {
  socialContext?: SocialContext;
  /** Pin a version of the graph (default: its current version). */
  graphVersion?: number;
}

export interface AdvanceInput {
  fromScene: string;
  toScene?: string;
  choice?: number;
  playerContext?: PlayerContext;
  socialContext?: SocialContext;
  graphVersion?: number;
}

export interface WaitOptions extends CallOptions {
  /** Poll interval in ms (default 500). */
  pollMs?: number;
}

const DONE = new Set(["complete", "failed"]);

function path(...parts: string[]): string {
  return parts.map((p) => encodeURIComponent(p)).join("/");
}

export class DyngenClient {
  private readonly transport: Transport | null;
  private readonly bundle: Bundle | null;
  private readonly sleep: Sleep;

  constructor(options: ClientOptions) {
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.sleep = options.sleep ?? realSleep;
    this.transport = options.baseUrl
      ? new Transport({
          baseUrl: options.baseUrl,
          apiKey: options.apiKey,
          timeoutMs: options.timeoutMs ?? 10_000,
          retries: options.retries ?? 2,
          backoffMs: options.backoffMs ?? 250,
          maxRetryAfterMs: options.maxRetryAfterMs ?? 30_000,
          fetch: fetcher,
          sleep: this.sleep,
          newKey: newIdempotencyKey,
        })
      : null;
    this.bundle = options.bundle ? new Bundle(options.bundle, fetcher) : null;
    if (!this.transport && !this.bundle) throw new TypeError("DyngenClient: give baseUrl, bundle or both");
  }

  private server(): Transport {
    if (!this.transport) throw new DyngenError("network", "no server configured (baseUrl) and the bundle cannot answer this");
    return this.transport;
  }

  /** Relative artifact URLs (the server's default) made absolute against baseUrl, so a page on another
   * origin can hand them to `<video>`, `<img>` and `<track>` as they are. */
  private absolute<T extends GenerateContentResponse>(response: T): T {
    const transport = this.transport;
    if (!transport) return response;
    if (response.content?.url) response.content.url = transport.url(response.content.url.replace(/^\//, ""));
    for (const artifact of response.artifacts ?? []) artifact.url = transport.url(artifact.url.replace(/^\//, ""));
    return response;
  }

  /**
   * A stored node's content for a player (`POST /api/graphs/{graph}/nodes/{node}/content`): from the bundle
   * when it holds the item, else from the server, else the bundle's fallback for the node. Rejects only when
   * none of them can answer (no bundle fallback and the server refused or did not answer).
   */
  async playNode(graph: string, node: string, playerContext?: PlayerContext, options: PlayOptions = {}): Promise<PlayResult> {
    let bundleProblem: string | undefined;
    if (this.bundle) {
      try {
        const found = await this.bundle.lookup(graph, node, playerContext);
        if (found.found) return { ...found.response, source: "bundle" };
        if (found.reason === "tampered" || found.reason === "unverified") {
          bundleProblem = `refused (${found.reason}): ${found.detail ?? ""}`;
        }
      } catch (error) {
        if (!this.transport) throw error;
        bundleProblem = String(error);
      }
    }
    const body: NodeContentRequest = {};
    if (playerContext) body.player_context = playerContext;
    if (options.socialContext) body.social_context = options.socialContext;
    if (options.graphVersion !== undefined) body.graph_version = options.graphVersion;
    let failure: unknown = null;
    if (this.transport) {
      try {
        const answer = await this.transport.json<GenerateContentResponse>(
          { method: "POST", path: `api/graphs/${path(graph)}/nodes/${path(node)}/content`, body },
          options,
        );
        return { ...this.absolute(answer), source: "server", ...(bundleProblem ? { bundleProblem } : {}) };
      } catch (error) {
        if (error instanceof DyngenError && error.kind === "aborted") throw error;
        failure = error;
      }
    }
    const fallback = this.bundle ? await this.bundle.fallback(graph, node).catch(() => null) : null;
    if (fallback) return { ...fallback, source: "bundle-fallback", ...(bundleProblem ? { bundleProblem } : {}) };
    throw failure ?? new DyngenError("bundle", `the bundle has neither ${node} nor its fallback (${bundleProblem ?? "missing"})`);
  }

  /** One step through a stored graph (`POST /api/graphs/{graph}/advance`): what to play on the way (a node's
   * content or fallback, or none) and the scene that follows with its exits. */
  async advance(graph: string, input: AdvanceInput, options: CallOptions = {}): Promise<AdvanceResponse> {
    const body: AdvanceRequest = { from_scene: input.fromScene };
    if (input.toScene !== undefined) body.to_scene = input.toScene;
    if (input.choice !== undefined) body.choice = input.choice;
    if (input.playerContext) body.player_context = input.playerContext;
    if (input.socialContext) body.social_context = input.socialContext;
    if (input.graphVersion !== undefined) body.graph_version = input.graphVersion;
    const answer = await this.server().json<AdvanceResponse>(
      { method: "POST", path: `api/graphs/${path(graph)}/advance`, body },
      options,
    );
    if (answer.content) this.absolute(answer.content);
    return answer;
  }

  /** The flat request (`POST /api/generate-content`), answered as the server answers it. */
  async generate(request: GenerateContentRequest, options: CallOptions = {}): Promise<GenerateContentResponse> {
    return this.absolute(
      await this.server().json<GenerateContentResponse>({ method: "POST", path: "api/generate-content", body: request }, options),
    );
  }

  private async submit(path_: string, body: unknown, options: CallOptions): Promise<JobAccepted> {
    return this.server().json<JobAccepted>(
      { method: "POST", path: path_, body, headers: { Prefer: "respond-async" } },
      options,
    );
  }

  /** Queue the flat request as a job (`Prefer: respond-async`); the same Idempotency-Key gives the same job. */
  submitGenerate(request: GenerateContentRequest, options: CallOptions = {}): Promise<JobAccepted> {
    return this.submit("api/generate-content", request, options);
  }

  /** Queue a stored node's content for a player as a job. */
  submitNode(graph: string, node: string, playerContext?: PlayerContext, options: PlayOptions = {}): Promise<JobAccepted> {
    const body: NodeContentRequest = {};
    if (playerContext) body.player_context = playerContext;
    if (options.socialContext) body.social_context = options.socialContext;
    if (options.graphVersion !== undefined) body.graph_version = options.graphVersion;
    return this.submit(`api/graphs/${path(graph)}/nodes/${path(node)}/content`, body, options);
  }

  /** A job as the server has it now: queued | processing | complete | failed. */
  async job(jobId: string, options: CallOptions = {}): Promise<GenerateContentResponse> {
    return this.absolute(
      await this.server().json<GenerateContentResponse>({ method: "GET", path: `api/generation-jobs/${path(jobId)}` }, options),
    );
  }

  /** Poll a job until it is complete or failed (its fallback, as data). */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<GenerateContentResponse> {
    for (;;) {
      const state = await this.job(jobId, options);
      if (DONE.has(state.status)) return state;
      await this.sleep(options.pollMs ?? 500, options.signal);
    }
  }

  /** Cancel a job: a queued one fails at once (GEN_CANCELLED), a running one stops where it runs. */
  async cancelJob(jobId: string, options: CallOptions = {}): Promise<GenerateContentResponse> {
    return this.absolute(
      await this.server().json<GenerateContentResponse>(
        { method: "POST", path: `api/generation-jobs/${path(jobId)}/cancel` },
        options,
      ),
    );
  }

  /** The job's Server-Sent Events (queued, started, progress, ..., completed | failed), resumed with
   * Last-Event-ID when the stream drops; pass `lastEventId` to resume a stream read earlier. */
  jobEvents(jobId: string, options: EventOptions = {}): AsyncGenerator<JobEvent> {
    return jobEvents(this.server(), jobId, options);
  }
}
