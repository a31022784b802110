// A small browser game served from its own origin: it asks dyngen (another origin, CORS) for the content of
// an authored transition by reference, then plays the video from its signed URL with the captions track.
//
// Query parameters (a real game reads these from its own config): api (dyngen's URL), key (a runtime key),
// graph, node, playthrough; `video=URL` plays a video URL kept from an earlier answer (as a saved game
// would) instead of this answer's, and `break=tamper` spoils the answer's URLs: both exercise the error path.
import { DyngenClient } from "../../dist/index.js";

const params = new URLSearchParams(location.search);
const status = document.getElementById("status");
const captionsState = document.getElementById("captions-state");
const video = document.getElementById("scene");
const track = document.getElementById("captions");

function show(text, error = false) {
  status.textContent = text;
  status.classList.toggle("error", error);
}

/** The URL as a page would get it after someone edited it. */
function spoil(url, how) {
  const u = new URL(url);
  if (how === "tamper") {
    const sig = u.searchParams.get("sig");
    u.searchParams.set("sig", `${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`); // one character changed
  }
  return u.href;
}

async function play() {
  const client = new DyngenClient({ baseUrl: params.get("api"), apiKey: params.get("key") ?? undefined, timeoutMs: 60000 });
  const answer = await client.playNode(params.get("graph"), params.get("node"), {
    playthroughId: params.get("playthrough") ?? "browser-player",
  });
  window.dyngenAnswer = answer;
  if (answer.status === "failed") {
    // the node's fallback is data: the game plays its authored content instead of waiting on a broken scene
    show(`fallback: ${answer.fallback?.reason ?? "none"}`, true);
    return;
  }
  const byRole = Object.fromEntries((answer.artifacts ?? []).map((a) => [a.role, a.url]));
  document.getElementById("line").textContent = (answer.content?.dialogue ?? [])[0] ?? "";
  const broken = params.get("break");
  track.addEventListener("load", () => (captionsState.textContent = `loaded ${track.track.cues?.length ?? 0} cues`));
  track.addEventListener("error", () => (captionsState.textContent = "error"));
  video.addEventListener("playing", () => show("playing"));
  video.addEventListener("error", () => show(`error: the video could not load (code ${video.error?.code})`, true));
  if (byRole.captions) track.src = broken ? spoil(byRole.captions, broken) : byRole.captions;
  if (byRole.poster) video.poster = byRole.poster;
  video.src = params.get("video") ?? (broken ? spoil(byRole.video, broken) : byRole.video);
  show("loading video");
  await video.play().catch(() => undefined); // autoplay of a muted video; `playing` or `error` says what happened
}

play().catch((error) => show(`error: ${error.message}`, true));
