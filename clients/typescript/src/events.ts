// A job's Server-Sent Events read over fetch (EventSource cannot send an API key header): the stream is
// parsed as the SSE spec frames it, and a stream that drops before the job ends is reopened with
// Last-Event-ID, so no event is lost or repeated.
import { DyngenError } from "./errors.js";
import type { CallOptions, Transport } from "./transport.js";
import type { JobEvent } from "./wire.js";

/** Events after which the server closes a job's stream. */
export const FINAL_EVENTS = new Set(["completed", "failed"]);

/** Parse SSE text into events; `rest` is the unfinished tail to prepend to the next chunk. */
export function parseEvents(text: string): { events: { id: string | null; type: string; data: string }[]; rest: string } {
  const events: { id: string | null; type: string; data: string }[] = [];
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let id: string | null = null;
    let type = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0 || id !== null) events.push({ id, type, data: data.join("\n") });
  }
  return { events, rest };
}

export interface EventOptions extends CallOptions {
  /** Resume after this event id (what the last stream's last event carried). */
  lastEventId?: string;
}

/** The job's events until `completed` or `failed`, reconnecting (up to `retries` times in a row) on a drop. */
export async function* jobEvents(transport: Transport, jobId: string, options: EventOptions = {}): AsyncGenerator<JobEvent> {
  let lastId = options.lastEventId ?? null;
  let failures = 0;
  const retries = options.retries ?? transport.options.retries;
  for (;;) {
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    // The deadline covers the answer's head only: an open stream may stay quiet (keep-alives aside).
    const response = await transport.send(
      { method: "GET", path: `api/generation-jobs/${encodeURIComponent(jobId)}/events`, headers },
      { ...options, retries },
    );
    const reader = response.body?.getReader();
    if (!reader) throw new DyngenError("network", "the event stream has no body");
    const decoder = new TextDecoder();
    let buffer = "";
    let progressed = false;
    const stop = (): void => void reader.cancel(options.signal?.reason).catch(() => undefined);
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        const parsed = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }));
        buffer = parsed.rest;
        for (const event of parsed.events) {
          if (event.id !== null) lastId = event.id;
          progressed = true;
          let data: Record<string, unknown> = {};
          try {
            data = JSON.parse(event.data) as Record<string, unknown>;
          } catch {
            data = { text: event.data };
          }
          yield { id: event.id ?? "", type: event.type, data };
          if (FINAL_EVENTS.has(event.type)) return;
        }
      }
    } catch (error) {
      if (options.signal?.aborted) throw new DyngenError("aborted", "the call was aborted", { cause: error });
      // a dropped stream: reconnect below
    } finally {
      options.signal?.removeEventListener("abort", stop);
      await reader.cancel().catch(() => undefined); // a consumer that stops early closes the stream
    }
    if (options.signal?.aborted) throw new DyngenError("aborted", "the call was aborted");
    failures = progressed ? 0 : failures + 1;
    if (failures > retries) throw new DyngenError("network", `the event stream of job ${jobId} kept dropping`);
  }
}
