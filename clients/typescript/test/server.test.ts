// The client against a real `dyngen serve` (embedded default, keys enforced), started here. Transitions are
// written as text here (the rendered video's own path is the browser game's test, tests/browser): what is
// checked is the client, and a 2-core machine shared with other work renders a video slower than the example
// node's 4 s deadline.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DyngenClient, DyngenError } from "@dyngen/client";
import { EXAMPLE_GRAPH, PACKAGE, ROOT, startDyngen, storeGraph, type DyngenServer } from "./support.js";

const GRAPH = EXAMPLE_GRAPH.id; // three_scenes, stored on the server's first start
const NODE = "cafe_to_rooftops"; // per_playthrough transition cafe_date -> rooftop_chase
let server: DyngenServer;
let client: DyngenClient;

before(async () => {
  server = await startDyngen({ DYNGEN_PROVIDERS_BY_TYPE: "{}" });
  client = new DyngenClient({ baseUrl: server.base, apiKey: server.runtimeKey, timeoutMs: 60_000 });
});

after(async () => {
  await server?.stop();
});

test("playNode by reference: generated once, then a cache hit with the same content; URLs absolute and signed", async () => {
  const player = { playthroughId: "pt-ts-1", playerId: "p-ts-1" };
  const first = await client.playNode(GRAPH, NODE, player);
  assert.equal(first.status, "complete", JSON.stringify(first));
  assert.equal(first.source, "server");
  const second = await client.playNode(GRAPH, NODE, player);
  assert.equal(second.cache.hit, true);
  assert.equal(second.cache_key, first.cache_key);
  assert.equal(second.content?.content_id, first.content?.content_id);
  const script = first.artifacts?.find((a) => a.role === "script");
  assert.ok(script, `a script artifact: ${JSON.stringify(first.artifacts)}`);
  assert.ok(script.url.startsWith(`${server.base}/api/artifacts/`), script.url);
  assert.match(script.url, /[?&]exp=\d+&sig=/);
  // the signed URL loads without the key, as a <video> or <track> would load it
  const media = await fetch(script.url);
  assert.equal(media.status, 200);
  assert.equal(media.headers.get("content-type"), script.media_type);
});

test("without the key the server refuses: a DyngenError with status 401, not a fallback", async () => {
  const anonymous = new DyngenClient({ baseUrl: server.base, retries: 0 });
  await assert.rejects(anonymous.playNode(GRAPH, NODE, { playthroughId: "x" }), (e: unknown) => e instanceof DyngenError && e.status === 401);
});

test("unknown node: 404 naming the closest id", async () => {
  const error = await client.playNode(GRAPH, "cafe_to_roftops", { playthroughId: "x" }).catch((e: unknown) => e);
  assert.ok(error instanceof DyngenError);
  assert.equal(error.status, 404);
  assert.equal(error.code, "NOT_FOUND");
  assert.match(error.message, /cafe_to_rooftops/);
});

test("a disabled node: its fallback as data (status failed + fallback), never an exception", async () => {
  const graph = structuredClone(EXAMPLE_GRAPH);
  graph.id = `${GRAPH}_disabled`;
  const node = graph.nodes[0]!;
  node.config = { ...node.config, enabled: false };
  await storeGraph(server, graph);
  const answer = await client.playNode(graph.id, NODE, { playthroughId: "pt-ts-2" });
  assert.equal(answer.status, "failed");
  assert.equal(answer.fallback?.applied, true);
  assert.match(answer.fallback?.reason ?? "", /disabled/);
});

test("advance: from the first scene, the transition's content and the scene that follows", async () => {
  const step = await client.advance(GRAPH, { fromScene: "cafe_date", playerContext: { playthroughId: "pt-ts-3" } });
  assert.equal(step.node_id, NODE);
  assert.equal(step.scene?.id, "rooftop_chase");
  assert.deepEqual(step.exits, ["dawn_aftermath"]);
  assert.ok(step.content && ["complete", "failed"].includes(step.content.status));
  const last = await client.advance(GRAPH, { fromScene: "rooftop_chase", choice: 0 });
  assert.equal(last.scene?.id, "dawn_aftermath");
  assert.equal(last.content ?? null, null, "a plain edge plays nothing");
});

test("generate: the flat request naming the saved node resolves to it (same cache key as by reference)", async () => {
  const player = { playthroughId: "pt-ts-1", playerId: "p-ts-1" };
  const byRef = await client.playNode(GRAPH, NODE, player);
  const flat = await client.generate({ type: "transition", node_id: NODE, player_context: player });
  assert.equal(flat.status, "complete");
  assert.equal(flat.cache_key, byRef.cache_key);
});

test("async job by reference: Prefer respond-async, the same Idempotency-Key gives the same job, events to completion, poll", async () => {
  const player = { playthroughId: "pt-ts-job" };
  const job = await client.submitNode(GRAPH, NODE, player, { idempotencyKey: "ts-job-1" });
  assert.ok(job.job_id);
  const again = await client.submitNode(GRAPH, NODE, player, { idempotencyKey: "ts-job-1" });
  assert.equal(again.job_id, job.job_id);
  const types: string[] = [];
  const ids: string[] = [];
  for await (const event of client.jobEvents(job.job_id)) {
    types.push(event.type);
    ids.push(event.id);
  }
  assert.ok(["completed", "failed"].includes(types.at(-1) ?? ""), types.join(","));
  const done = await client.waitForJob(job.job_id, { pollMs: 50 });
  assert.equal(done.status, "complete", JSON.stringify(done));
  assert.ok(done.artifacts?.every((a) => a.url.startsWith(server.base)));
  // resuming after the first event: the rest of the stream, not the first again
  const resumed: string[] = [];
  for await (const event of client.jobEvents(job.job_id, { lastEventId: ids[0] })) resumed.push(event.id);
  assert.deepEqual(resumed, ids.slice(1));
});

test("cancel: a job cancelled is answered as a job state", async () => {
  const job = await client.submitGenerate({ type: "transition", node_id: NODE, player_context: { playthroughId: "pt-ts-cancel" } });
  const state = await client.cancelJob(job.job_id);
  assert.ok(["queued", "processing", "complete", "failed"].includes(state.status));
  const done = await client.waitForJob(job.job_id, { pollMs: 50 });
  assert.ok(["complete", "failed"].includes(done.status));
  if (done.status === "failed") assert.equal(done.error?.code, "GEN_CANCELLED", JSON.stringify(done));
});

test("the docs' minimal example (examples/minimal/play.mjs) runs as written", () => {
  const done = spawnSync(process.execPath, [join(PACKAGE, "examples", "minimal", "play.mjs")], {
    env: { ...process.env, DYNGEN_URL: server.base, DYNGEN_API_KEY: server.runtimeKey },
    encoding: "utf-8",
    timeout: 120_000,
  });
  assert.equal(done.status, 0, done.stderr);
  const lines = done.stdout.trim().split("\n");
  assert.deepEqual(lines.filter((l) => l.startsWith("scene:")), ["scene: rooftop_chase", "scene: dawn_aftermath"]);
  assert.match(done.stdout, /^cafe_to_rooftops: /m);
  assert.match(done.stdout, /cafe_to_rooftops again: cache hit true/);
});

test("docs/clients/typescript.md shows the example file as it is", () => {
  const example = readFileSync(join(PACKAGE, "examples", "minimal", "play.mjs"), "utf-8");
  const docs = readFileSync(join(ROOT, "docs", "clients", "typescript.md"), "utf-8");
  assert.ok(docs.includes("```js\n" + example + "```"), "the docs' example differs from examples/minimal/play.mjs");
});
