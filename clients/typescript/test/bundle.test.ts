// Offline bundles (format dyngen-bundle/1): a bundle is written from what a real server answered (the
// shape `dyngen export` writes), the server is stopped, and the client still plays the node from the bundle,
// by directory and by URL; a tampered file is refused (sha256) and the node's fallback is played instead.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DyngenClient, type BundleManifest, type GenerateContentResponse } from "@dyngen/client";
import { EXAMPLE_GRAPH, ROOT, dyngenBin, fakeServer, startDyngen, type DyngenServer } from "./support.js";

const GRAPH = EXAMPLE_GRAPH.id;
const NODE = "cafe_to_rooftops";
const PLAYER = { playthroughId: "pt-bundle", playerId: "p-bundle" };
let server: DyngenServer;
let dir: string;

const EXT: Record<string, string> = { "video/mp4": "mp4", "image/jpeg": "jpg", "text/vtt": "vtt", "application/json": "json" };

before(async () => {
  server = await startDyngen({ DYNGEN_PROVIDERS_BY_TYPE: "{}" });
  const online = new DyngenClient({ baseUrl: server.base, apiKey: server.runtimeKey, timeoutMs: 60_000 });
  const answer = await online.playNode(GRAPH, NODE, PLAYER);
  assert.equal(answer.status, "complete");
  dir = join(server.dataDir, "bundle");
  mkdirSync(join(dir, "files"), { recursive: true });
  const files = [];
  const response = structuredClone(answer) as GenerateContentResponse & { source?: string };
  delete response.source;
  for (const artifact of response.artifacts ?? []) {
    const bytes = new Uint8Array(await (await fetch(artifact.url)).arrayBuffer());
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const path = `files/${sha256.slice(0, 16)}.${EXT[artifact.media_type.split(";")[0]!] ?? "bin"}`;
    writeFileSync(join(dir, path), bytes);
    files.push({ role: artifact.role, path, media_type: artifact.media_type, sha256, bytes: bytes.byteLength });
    if (response.content?.url === artifact.url) response.content.url = path;
    artifact.url = path;
  }
  const manifest: BundleManifest = {
    format: "dyngen-bundle/1",
    dyngen_version: "test",
    created_at: new Date(0).toISOString(),
    graph: { id: GRAPH, version: 1, start_scene: "cafe_date" },
    scopes: { playthrough_ids: [PLAYER.playthroughId], player_ids: [] },
    items: [
      {
        node_id: NODE,
        from_scene: "cafe_date",
        to_scene: "rooftop_chase",
        cache_key: answer.cache_key,
        strategy: "per_playthrough",
        scope: { playthrough_id: PLAYER.playthroughId },
        kind: answer.content?.type ?? "dialogue",
        files,
        response,
      },
    ],
    fallbacks: {
      [NODE]: {
        status: "failed",
        content: { type: "video", content_id: "transition_01" },
        cache_key: "",
        cache: { hit: false },
        cost: { tokens: 0, time_ms: 0 },
        deterministic: true,
        fallback: { applied: true, mode: "default_content", reason: "offline" },
      },
    },
    always_nodes: [],
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  await server.stop(); // offline from here on
});

after(async () => {
  await server?.stop();
});

test("offline, from a directory: the exported item plays, its files resolved to file:// URLs", async () => {
  const client = new DyngenClient({ bundle: { directory: dir } });
  const played = await client.playNode(GRAPH, NODE, PLAYER);
  assert.equal(played.source, "bundle");
  assert.equal(played.status, "complete");
  const script = played.artifacts?.find((a) => a.role === "script");
  assert.ok(script?.url.startsWith("file://"), script?.url);
});

test("offline, another playthrough: not in the bundle, so the node's fallback as data", async () => {
  const client = new DyngenClient({ bundle: { directory: dir } });
  const played = await client.playNode(GRAPH, NODE, { playthroughId: "someone-else" });
  assert.equal(played.source, "bundle-fallback");
  assert.equal(played.status, "failed");
  assert.equal(played.fallback?.reason, "offline");
});

test("the server is down but configured: the bundle still answers first, and its fallback when the server does not", async () => {
  const client = new DyngenClient({ baseUrl: server.base, retries: 0, bundle: { directory: dir } });
  assert.equal((await client.playNode(GRAPH, NODE, PLAYER)).source, "bundle");
  assert.equal((await client.playNode(GRAPH, NODE, { playthroughId: "other" })).source, "bundle-fallback");
});

test("by URL (as a browser reads it): the same item, verified with WebCrypto", async () => {
  const statics = await fakeServer((req, res) => {
    try {
      const body = readFileSync(join(dir, decodeURIComponent((req.url ?? "/").replace(/^\/bundle\//, ""))));
      res.writeHead(200);
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  try {
    const client = new DyngenClient({ bundle: { baseUrl: `${statics.base}/bundle/` } });
    const played = await client.playNode(GRAPH, NODE, PLAYER);
    assert.equal(played.source, "bundle");
    assert.ok(played.artifacts?.every((a) => a.url.startsWith(`${statics.base}/bundle/files/`)));
  } finally {
    await statics.close();
  }
});

test("a tampered file is refused (sha256): the fallback plays, and the answer says why", async () => {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf-8")) as BundleManifest;
  const file = manifest.items[0]!.files[0]!;
  const original = readFileSync(join(dir, file.path));
  const tampered = Buffer.from(original);
  tampered[0] = tampered[0]! ^ 0xff; // same size, other bytes
  writeFileSync(join(dir, file.path), tampered);
  try {
    const client = new DyngenClient({ bundle: { directory: dir } });
    const played = await client.playNode(GRAPH, NODE, PLAYER);
    assert.equal(played.source, "bundle-fallback");
    assert.equal(played.status, "failed");
    assert.match(played.bundleProblem ?? "", /tampered.*sha256/);
  } finally {
    writeFileSync(join(dir, file.path), original);
  }
});

test("a bundle written by `dyngen export` plays offline, and a tampered file in it is refused", () => {
  const work = mkdtempSync(join(tmpdir(), "dyngen-ts-export-"));
  const out = join(work, "bundle");
  const env = { ...process.env, DYNGEN_DATA_DIR: join(work, "data"), DYNGEN_PROVIDERS_BY_TYPE: "{}" };
  const args = ["export", join(ROOT, "examples", "three_scenes.json"), "--out", out, "--playthrough-id", PLAYER.playthroughId];
  const done = spawnSync(dyngenBin(), args, { env, encoding: "utf-8", timeout: 180_000 });
  assert.equal(done.status, 0, done.stdout + done.stderr);
  return (async () => {
    const client = new DyngenClient({ bundle: { directory: out } });
    const played = await client.playNode(GRAPH, NODE, PLAYER);
    assert.equal(played.source, "bundle");
    assert.equal(played.status, "complete");
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf-8")) as BundleManifest;
    const file = manifest.items[0]!.files[0]!;
    const bytes = readFileSync(join(out, file.path));
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(join(out, file.path), bytes);
    const refused = await new DyngenClient({ bundle: { directory: out } }).playNode(GRAPH, NODE, PLAYER);
    assert.equal(refused.source, "bundle-fallback");
    assert.match(refused.bundleProblem ?? "", /sha256/);
  })();
});
