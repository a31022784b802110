// The tests' world: a real `dyngen serve` (the embedded default, its own data dir in a temp folder, a free
// port), started by the test like a user starts it, and small local HTTP servers for the fault shapes a
// real server will not produce on demand (a 503 with Retry-After, a connection that never answers).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url)); // clients/typescript/build/test
export const PACKAGE = join(here, "..", "..");
export const ROOT = join(PACKAGE, "..", "..");
export const EXAMPLE_GRAPH = JSON.parse(readFileSync(join(ROOT, "examples", "three_scenes.json"), "utf-8")) as {
  id: string;
  nodes: { id: string; config: Record<string, unknown> }[];
} & Record<string, unknown>;

/** `dyngen` of the repository's venv, or DYNGEN_BIN. */
export function dyngenBin(): string {
  const bin = process.env.DYNGEN_BIN ?? join(ROOT, ".venv", "bin", "dyngen");
  if (!existsSync(bin)) throw new Error(`dyngen not found at ${bin}: run \`make install\` (or set DYNGEN_BIN)`);
  return bin;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Poll `probe` until it answers truthy; fail saying `what` after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const answer = await probe();
      if (answer) return answer;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface DyngenServer {
  base: string;
  dataDir: string;
  /** A runtime key (keys are enforced: one exists). */
  runtimeKey: string;
  /** An admin key, for the test's own setup calls. */
  adminKey: string;
  stop(): Promise<void>;
  log(): string;
}

function createKey(env: NodeJS.ProcessEnv, scope: string): string {
  const done = spawnSync(dyngenBin(), ["keys", "create", "--scope", scope, "--name", `ts-client-${scope}`], {
    env,
    encoding: "utf-8",
  });
  if (done.status !== 0) throw new Error(`dyngen keys create failed: ${done.stderr}`);
  return done.stdout.trim();
}

/** `dyngen serve` with a fresh data dir (the example graph is stored on its first start) and API keys on. */
export async function startDyngen(extraEnv: Record<string, string> = {}): Promise<DyngenServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "dyngen-ts-client-"));
  const env: NodeJS.ProcessEnv = { ...process.env, DYNGEN_DATA_DIR: join(dataDir, "data"), ...extraEnv };
  const adminKey = createKey(env, "admin");
  const runtimeKey = createKey(env, "runtime");
  const port = await freePort();
  const chunks: string[] = [];
  const child: ChildProcess = spawn(
    dyngenBin(),
    ["serve", "--port", String(port), "--workers", "1", "--log-level", "warning"],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (d: Buffer) => chunks.push(d.toString()));
  child.stderr?.on("data", (d: Buffer) => chunks.push(d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await until(async () => (await fetch(`${base}/api/health`)).status < 500, `dyngen serve on ${port}`);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${String(error)}\n${chunks.join("").slice(-3000)}`);
  }
  return {
    base,
    dataDir,
    runtimeKey,
    adminKey,
    log: () => chunks.join(""),
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Store a graph (as the editor saves one); returns its id. */
export async function storeGraph(server: DyngenServer, graph: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${server.base}/api/graphs`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${server.adminKey}` },
    body: JSON.stringify(graph),
  });
  if (response.status !== 201) throw new Error(`storing graph ${String(graph.id)}: ${response.status} ${await response.text()}`);
  return String(graph.id);
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
}

/** A local HTTP server answering with `handler`; it records every request and can hold connections open. */
export async function fakeServer(
  handler: (req: IncomingMessage, res: ServerResponse, index: number) => void,
): Promise<{ base: string; requests: Recorded[]; close(): Promise<void> }> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    handler(req, res, requests.length - 1);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
