// One HTTP call as a game needs it: the API key, a deadline per attempt, the caller's AbortSignal, retries
// of what may succeed later (no answer, 429, 502, 503, 504) with the same Idempotency-Key on every attempt,
// and the server's Retry-After honoured (seconds or an HTTP date) before the next one.
import { DyngenError } from "./errors.js";
import type { ErrorBody } from "./wire.js";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxRetryAfterMs: number;
  fetch: typeof fetch;
  sleep: Sleep;
  newKey: () => string;
}

export interface CallOptions {
  /** Stops the call (and its retries); the promise rejects with a DyngenError of kind `aborted`. */
  signal?: AbortSignal;
  /** Deadline of one attempt (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** Attempts after the first (default: the client's `retries`). */
  retries?: number;
  /** The Idempotency-Key of this call (default: a fresh one, the same for all of its attempts). */
  idempotencyKey?: string;
}

export interface Request {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

const RETRIED = new Set([429, 502, 503, 504]);

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener("abort", stop);
      resolve();
    }
    function stop(): void {
      clearTimeout(timer);
      reject(aborted(signal));
    }
    signal?.addEventListener("abort", stop, { once: true });
  });

function aborted(signal: AbortSignal | undefined): DyngenError {
  return new DyngenError("aborted", "the call was aborted", { cause: signal?.reason });
}

/**
 * A fresh Idempotency-Key (a random UUID). `crypto.randomUUID` exists only in secure contexts (https,
 * localhost, file:); a page served over plain http from another host has `crypto.getRandomValues` alone,
 * so the UUID is made from it there.
 */
export function newIdempotencyKey(): string {
  if (typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Seconds or an HTTP date, as milliseconds from now; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

async function errorOf(response: Response): Promise<DyngenError> {
  let body: ErrorBody | null = null;
  let message = `HTTP ${response.status}`;
  try {
    const data: unknown = await response.json();
    if (data !== null && typeof data === "object" && "error" in data) {
      body = data as ErrorBody;
      message = `${body.error.code}: ${body.error.message} (HTTP ${response.status})`;
    }
  } catch {
    // not JSON: the status says it
  }
  const after = retryAfterMs(response.headers.get("Retry-After"));
  return new DyngenError("http", message, {
    status: response.status,
    body,
    retryAfterS: after === null ? null : after / 1000,
  });
}

export class Transport {
  constructor(readonly options: TransportOptions) {}

  url(path: string): string {
    return new URL(path, this.options.baseUrl.endsWith("/") ? this.options.baseUrl : `${this.options.baseUrl}/`).href;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { Accept: "application/json", ...extra };
    if (this.options.apiKey) headers.Authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /** One attempt: the response of any status, or a DyngenError for no answer (network, timeout, aborted). */
  async attempt(request: Request, call: CallOptions, key: string | null): Promise<Response> {
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const forward = (): void => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", forward, { once: true });
    const headers = this.headers(request.headers);
    if (request.body !== undefined) headers["Content-Type"] = "application/json";
    if (key !== null) headers["Idempotency-Key"] = key;
    try {
      if (call.signal?.aborted) throw aborted(call.signal);
      return await this.options.fetch(this.url(request.path), {
        method: request.method,
        headers,
        body: request.body === undefined ? null : JSON.stringify(request.body),
        signal: controller.signal,
      });
    } catch (error) {
      if (error instanceof DyngenError) throw error;
      if (call.signal?.aborted) throw aborted(call.signal);
      if (timedOut) throw new DyngenError("timeout", `no answer within ${timeoutMs} ms (${request.path})`);
      throw new DyngenError("network", `the server did not answer (${String(error)})`, { cause: error });
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", forward);
    }
  }

  /**
   * The call with its retries; resolves with a response of status 2xx, rejects with a DyngenError for an
   * error answer (after the retries of a retryable one) or no answer.
   */
  async send(request: Request, call: CallOptions = {}): Promise<Response> {
    const retries = call.retries ?? this.options.retries;
    const key = request.method === "POST" ? (call.idempotencyKey ?? this.options.newKey()) : null;
    for (let attempt = 0; ; attempt += 1) {
      let failure: DyngenError;
      let waitMs: number | null = null;
      try {
        const response = await this.attempt(request, call, key);
        if (response.ok) return response;
        failure = await errorOf(response);
        if (!RETRIED.has(response.status)) throw failure;
        waitMs = retryAfterMs(response.headers.get("Retry-After"));
      } catch (error) {
        if (!(error instanceof DyngenError) || error.kind === "http" || error.kind === "aborted") throw error;
        failure = error;
      }
      if (attempt >= retries) throw failure;
      if (waitMs !== null && waitMs > this.options.maxRetryAfterMs) throw failure; // longer than the game waits
      const backoff = this.options.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
      await this.options.sleep(waitMs ?? backoff, call.signal);
    }
  }

  async json<T>(request: Request, call: CallOptions = {}): Promise<T> {
    const response = await this.send(request, call);
    return (await response.json()) as T;
  }
}
