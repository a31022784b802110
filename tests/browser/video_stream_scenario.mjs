// A 30 s transition asked for over HTTP and played by a <video> in Debian's chromium, headless, driven by
// playwright-core, while the server still renders it (streamed fragmented MP4). pytest
// (tests/browser/test_video_stream.py) runs it through driver.mjs (in a fresh browser context of the
// session's chromium) against a real `dyngen serve`. By hand:
//
//   node driver.mjs --once video_stream_scenario.mjs base=URL
//
// Logs one JSON line: the roles of the artifacts the answer names, the poster as an <img> decoded it, the
// captions as a <track> loaded them and the script as fetched (each while the video plays), whether the video
// was still rendering when it started playing and they were loaded (a HEAD on its URL has no Content-Length
// then), how far it played, and whether it played to its end (at 16x) with every frame, and the video's URL.

// chromium's switches (driver.mjs launches one chromium for each set the scripts name).
export const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--autoplay-policy=no-user-gesture-required'];

export async function run({ browser, args, log }) {
  const page = await browser.newPage();
  await page.goto(`${args.base}/api/health/live`);
  const body = JSON.stringify({
    type: 'transition', node_id: 'stream_check',
    from_scene: { id: 'cafe', mood: 'romantic', summary: 'Mara kisses Theo.', location: 'corner_cafe' },
    to_scene: { id: 'roof', mood: 'intense', location: 'city_rooftops' },
    style: { pacing: 'medium', transitionType: 'gradual' },
    duration: { min: 1, max: 60, target: 30 }, strategy: 'per_playthrough',
    player_context: { playthroughId: `stream-${Date.now()}` },
    fallback: { mode: 'placeholder', timeoutMs: 60000 }, provider: 'builtin_video',
  });
  const report = await page.evaluate(async (body) => {
    const answer = await (await fetch('/api/generate-content', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body,
    })).json();
    const link = (role) => (answer.artifacts || []).find((a) => a.role === role);
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true;
    if (link('poster')) video.poster = link('poster').url;
    const track = document.createElement('track');
    track.kind = 'captions'; track.default = true;
    if (link('captions')) track.src = link('captions').url;
    video.appendChild(track);
    video.src = answer.content.url;
    document.body.appendChild(video);
    const playingNow = new Promise((ok) => {
      video.addEventListener('playing', () => ok(true));
      video.addEventListener('error', () => ok(false));
      setTimeout(() => ok(false), 60000);
    });
    const cuesNow = new Promise((ok) => {
      track.addEventListener('load', () => ok(track.track.cues.length));
      track.addEventListener('error', () => ok(-1));
      setTimeout(() => ok(-2), 60000);
    });
    const posterNow = (async () => {
      if (!link('poster')) return 0;
      const img = new Image();
      img.src = link('poster').url;
      return img.decode().then(() => img.naturalWidth, () => -1);
    })();
    const scriptNow = (async () => {
      if (!link('script')) return null;
      const script = await (await fetch(link('script').url)).json();
      return (script.beats || []).length;
    })();
    const [playing, cues, posterWidth, scriptBeats] = await Promise.all([playingNow, cuesNow, posterNow, scriptNow]);
    const head = await fetch(answer.content.url, { method: 'HEAD' });
    const stillRendering = head.headers.get('content-length') === null;
    video.playbackRate = 16;
    const ended = await new Promise((ok) => {
      video.addEventListener('ended', () => ok(true));
      video.addEventListener('error', () => ok(false));
      setTimeout(() => ok(false), 60000);
    });
    return {
      status: answer.status, roles: (answer.artifacts || []).map((a) => a.role),
      videoBytes: (link('video') || {}).bytes ?? null, beats: (answer.content.beats || []).length,
      cues, posterWidth, scriptBeats, playing, stillRendering, ended, currentTime: video.currentTime, url: answer.content.url,
      frames: video.getVideoPlaybackQuality().totalVideoFrames, error: video.error && video.error.message,
    };
  }, body);
  log(JSON.stringify(report));
  return true;
}
