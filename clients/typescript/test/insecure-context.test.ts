// A page served over plain http from another host (http://192.168.1.20:8080/, not localhost) is not a
// secure context: its `crypto` has getRandomValues but neither randomUUID nor subtle. The client still calls
// the server there (Idempotency-Keys made from getRandomValues), and a bundle's items, whose files it cannot
// check, are refused with the reason while the node's fallback plays. This file replaces globalThis.crypto
// with what such a page has (node:test runs each test file in its own process).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DyngenClient, type BundleManifest, type GenerateContentResponse } from "@dyngen/client";
import { fakeServer } from "./support.js";

const ANSWER: GenerateContentResponse = {
  status: "complete",
  cache_key: "k",
  cache: { hit: false },
  cost: { tokens: 0, time_ms: 0 },
  deterministic: true,
  content: { type: "dialogue", dialogue: ["hello"] },
};
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Run `body` with globalThis.crypto as an insecure page has it (getRandomValues only). */
async function onAnInsecurePage<T>(body: () => Promise<T>): Promise<T> {
  const real = Object.getOwnPropertyDescriptor(globalThis, "crypto")!;
  const secure = globalThis.crypto;
  Object.defineProperty(globalThis, "crypto", {
    value: { getRandomValues: (array: Uint8Array) => secure.getRandomValues(array) },
    configurable: true,
  });
  try {
    return await body();
  } finally {
    Object.defineProperty(globalThis, "crypto", real);
  }
}

/** A bundle folder holding one item (one file) of node `n`, and the node's fallback. */
function bundleDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dyngen-ts-insecure-"));
  mkdirSync(join(dir, "files"));
  const bytes = Buffer.from('{"lines": ["hello"]}');
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const path = `files/${sha256.slice(0, 16)}.json`;
  writeFileSync(join(dir, path), bytes);
  const manifest: BundleManifest = {
    format: "dyngen-bundle/1",
    dyngen_version: "test",
    created_at: new Date(0).toISOString(),
    graph: { id: "g", version: 1, start_scene: "a" },
    scopes: { playthrough_ids: [], player_ids: [] },
    items: [
      {
        node_id: "n",
        from_scene: "a",
        to_scene: "b",
        cache_key: "k",
        strategy: "once",
        scope: {},
        kind: "dialogue",
        files: [{ role: "script", path, media_type: "application/json", sha256, bytes: bytes.byteLength }],
        response: { ...ANSWER, artifacts: [{ role: "script", url: path, media_type: "application/json", bytes: bytes.byteLength }] },
      },
    ],
    fallbacks: { n: { ...ANSWER, status: "failed", content: null, fallback: { applied: true, mode: "skip", reason: "offline" } } },
    always_nodes: [],
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

test("no crypto.randomUUID: a POST still carries one Idempotency-Key (a v4 UUID) across its retries", async () => {
  const server = await fakeServer((_req, res, i) => {
    res.writeHead(i === 0 ? 503 : 200, { "Content-Type": "application/json", ...(i === 0 ? { "Retry-After": "0" } : {}) });
    res.end(JSON.stringify(i === 0 ? { error: { code: "DEPENDENCY_UNAVAILABLE", message: "busy" }, details: [] } : ANSWER));
  });
  try {
    const answer = await onAnInsecurePage(() =>
      new DyngenClient({ baseUrl: server.base, retries: 1, sleep: async () => {} }).playNode("g", "n", { playthroughId: "p" }),
    );
    assert.equal(answer.status, "complete");
    const keys = server.requests.map((r) => r.headers["idempotency-key"]);
    assert.equal(keys.length, 2);
    assert.match(String(keys[0]), UUID_V4);
    assert.equal(keys[1], keys[0], "the same key on the retry");
  } finally {
    await server.close();
  }
});

test("no crypto.subtle: a bundle item cannot be checked, so the node's fallback plays and says why", async () => {
  const dir = bundleDir();
  const checked = await new DyngenClient({ bundle: { directory: dir } }).playNode("g", "n");
  assert.equal(checked.source, "bundle", "in a secure context the item plays");

  const unchecked = await onAnInsecurePage(() => new DyngenClient({ bundle: { directory: dir } }).playNode("g", "n"));

  assert.equal(unchecked.source, "bundle-fallback");
  assert.equal(unchecked.fallback?.reason, "offline");
  assert.match(unchecked.bundleProblem ?? "", /^refused \(unverified\): .*secure context/);
});
