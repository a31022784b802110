// The HTTP client: JSON in and out, the API key as a bearer token, and errors as values the UI can show.
import type { ErrorBody } from "./types.gen";

const KEY_STORAGE = "dyngen.apiKey";

export function apiKey(): string | null {
  return localStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** A refused or failed call: the HTTP status, the server's coded error and its findings. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody | null;
  readonly retryAfter: number | null;

  constructor(status: number, message: string, body: ErrorBody | null, retryAfter: number | null = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }

  get code(): string | null {
    return this.body?.error.code ?? null;
  }
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called on every 401 so the app can ask for a key. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

function headers(json: boolean): Headers {
  const h = new Headers({ Accept: "application/json" });
  if (json) h.set("Content-Type", "application/json");
  const key = apiKey();
  if (key) h.set("Authorization", `Bearer ${key}`);
  return h;
}

async function failure(response: Response): Promise<ApiError> {
  let body: ErrorBody | null = null;
  let message = `${response.status} ${response.statusText}`;
  try {
    const data: unknown = await response.json();
    if (data && typeof data === "object" && "error" in data) {
      body = data as ErrorBody;
      message = body.error.message;
    } else if (data && typeof data === "object" && "detail" in data) {
      message = String((data).detail);
    }
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) unauthorizedListeners.forEach((listener) => listener());
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, message, body, Number.isFinite(retry) && retry > 0 ? retry : null);
}

export interface CallOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  signal?: AbortSignal;
}

/** A successful answer (an error answer is thrown as an ApiError; a 401 also tells the listeners). */
export async function send(path: string, options: CallOptions = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers: headers(options.body !== undefined),
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, `the server did not answer (${String(err)})`, null);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** The raw text of a JSON answer (for fields a JS number cannot hold exactly, such as 64-bit seeds). */
export async function requestText(path: string, options: CallOptions = {}): Promise<string> {
  return (await send(path, options)).text();
}

export async function request<T>(path: string, options: CallOptions = {}): Promise<T> {
  const text = await requestText(path, options);
  return (text ? JSON.parse(text) : null) as T;
}

/** An artifact as a URL the page can use: the plain URL, or (with an API key) a blob URL of its bytes. */
export async function mediaUrl(url: string): Promise<{ url: string; revoke: () => void }> {
  if (!apiKey()) return { url, revoke: () => undefined };
  const response = await fetch(url, { headers: headers(false) });
  if (!response.ok) throw await failure(response);
  const blobUrl = URL.createObjectURL(await response.blob());
  return { url: blobUrl, revoke: () => URL.revokeObjectURL(blobUrl) };
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const code = err.code ? `${err.code}: ` : "";
    return `${code}${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The server has no such route (an older server, or a feature not deployed): not a missing record. */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 405 || (err.status === 404 && err.message === "Not Found"));
}

/** Raw bytes as the body (an image upload): the type names what the bytes are. */
export async function sendBytes<T>(path: string, body: Blob, contentType: string): Promise<T> {
  const h = headers(false);
  h.set("Content-Type", contentType || "application/octet-stream");
  let response: Response;
  try {
    response = await fetch(path, { method: "POST", headers: h, body });
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${String(err)})`, null);
  }
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}
