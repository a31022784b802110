// A 30 s transition asked for over HTTP and played by a <video> in Debian's chromium, headless, driven by
// playwright-core, while the server still renders it (streamed fragmented MP4). pytest
// (tests/browser/test_video_stream.py) runs it against a real `dyngen serve`:
//
//   node video_stream_scenario.mjs --base URL --chromium /usr/bin/chromium
//
// Prints one JSON line: whether the video was still rendering when it started playing (a HEAD on its URL
// has no Content-Length then), how far it played, and whether it played to its end (at 16x) with every frame.
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--autoplay-policy=no-user-gesture-required'];
const { values } = parseArgs({ options: { base: { type: 'string' }, chromium: { type: 'string' } } });

const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: FLAGS });
try {
  const page = await browser.newPage();
  await page.goto(`${values.base}/api/health/live`);
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
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.src = answer.content.url;
    document.body.appendChild(video);
    const playing = await new Promise((ok) => {
      video.addEventListener('playing', () => ok(true));
      video.addEventListener('error', () => ok(false));
      setTimeout(() => ok(false), 60000);
    });
    const head = await fetch(answer.content.url, { method: 'HEAD' });
    const stillRendering = head.headers.get('content-length') === null;
    video.playbackRate = 16;
    const ended = await new Promise((ok) => {
      video.addEventListener('ended', () => ok(true));
      video.addEventListener('error', () => ok(false));
      setTimeout(() => ok(false), 60000);
    });
    return {
      status: answer.status, playing, stillRendering, ended, currentTime: video.currentTime,
      frames: video.getVideoPlaybackQuality().totalVideoFrames, error: video.error && video.error.message,
    };
  }, body);
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
