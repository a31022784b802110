// The minimal game loop with @dyngen/client (docs/clients/typescript.md shows this file; a test runs it).
//
//   DYNGEN_URL=http://127.0.0.1:8000 DYNGEN_API_KEY=<runtime key> node examples/minimal/play.mjs
import { DyngenClient } from "@dyngen/client";

const client = new DyngenClient({
  baseUrl: process.env.DYNGEN_URL ?? "http://127.0.0.1:8000",
  apiKey: process.env.DYNGEN_API_KEY, // a runtime key: `dyngen keys create --scope runtime`
  timeoutMs: 30_000,
  retries: 2,
});
const player = { playthroughId: "playthrough-42", playerId: "player-7" };

// Walk the example graph from its first scene, one step at a time, as the game would.
let scene = "cafe_date";
while (scene) {
  const step = await client.advance("three_scenes", { fromScene: scene, playerContext: player });
  if (step.content) {
    const played = step.content;
    if (played.status === "failed") {
      // The node's fallback is data, not an exception: play what the author set up instead.
      console.log(`${step.node_id}: fallback (${played.fallback?.mode}: ${played.fallback?.reason})`);
    } else {
      const video = played.artifacts?.find((a) => a.role === "video");
      console.log(`${step.node_id}: ${played.content?.type} ${video?.url ?? played.content?.dialogue?.[0] ?? ""}`);
    }
  }
  scene = step.scene?.id ?? null;
  if (scene) console.log(`scene: ${scene}`);
}

// The same transition by reference: a cache hit now, the same content.
const again = await client.playNode("three_scenes", "cafe_to_rooftops", player);
console.log(`cafe_to_rooftops again: cache hit ${again.cache.hit}`);
