// Errors the client throws: a call the server refused (its coded error body), a call that got no answer
// (refused connection, timeout, a dropped stream), or a bundle that cannot be used. A node's fallback is
// never one of these: the server answers it as data (status "failed" with `fallback`), and so does the client.
import type { ErrorBody } from "./wire.js";

export type FailureKind = "http" | "network" | "timeout" | "aborted" | "bundle";

export class DyngenError extends Error {
  /** What went wrong: the server answered an error (`http`), or did not answer (`network`, `timeout`). */
  readonly kind: FailureKind;
  /** The HTTP status (0 when there was no answer). */
  readonly status: number;
  /** The server's error body (`{error: {code, message}, details}`), when it sent one. */
  readonly body: ErrorBody | null;
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  readonly retryAfterS: number | null;

  constructor(
    kind: FailureKind,
    message: string,
    init: { status?: number; body?: ErrorBody | null; retryAfterS?: number | null; cause?: unknown } = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "DyngenError";
    this.kind = kind;
    this.status = init.status ?? 0;
    this.body = init.body ?? null;
    this.retryAfterS = init.retryAfterS ?? null;
  }

  /** The server's error code (`NOT_FOUND`, `GEN_RATE_LIMITED`, ...), or null. */
  get code(): string | null {
    return this.body?.error.code ?? null;
  }
}
