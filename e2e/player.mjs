// End-to-end test of the embeddable HLS player (/play/KEY) in Debian's headless Chromium,
// driven by playwright-core. Run by appliance/relevo/tests/hls_player.rs, which starts
// Relevo with an HLS output and starts the publisher when this script prints "PUBLISH".
// Every step prints one line; the first failure saves a screenshot (player-failure.png)
// and exits 1. The latency behind live is printed, never judged.
//
// Environment: RELEVO_URL (http://127.0.0.1:PORT), RELEVO_HLS_KEY, RELEVO_SCREENSHOTS,
// RELEVO_CONTROL_DIR (where the Rust test confirms it started the publisher: "published").

import { createServer } from "node:http";
import { join } from "node:path";
import { assert, mustFrom, plays, sleep, startBrowser, waitForFlag } from "./lib.mjs";

const must = mustFrom("hls_player");
const BASE = must("RELEVO_URL");
const KEY = must("RELEVO_HLS_KEY");
const SHOTS = must("RELEVO_SCREENSHOTS");
const CONTROL = must("RELEVO_CONTROL_DIR");
const PLAY_WAIT = 60_000;

// While the stream is offline on purpose, the player's 503s are expected.
let offlinePhase = true;
const t = await startBrowser({
  shots: SHOTS,
  failure: "player-failure.png",
  failureFullPage: false,
  ignoreConsole: (_, m) => offlinePhase && m.text().includes("status of 503"),
});
const { step } = t;
const newPage = () => t.newPage({ width: 960, height: 540 });

// Waits for the video in `frame` to play: a picture, and time that advances.
const playing = (frame) => plays(frame, "video", PLAY_WAIT);

// Another origin (another port) that embeds the player in an iframe, as a customer's site.
const site = createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><title>Sitio del cliente</title><h1>Sitio</h1>
<iframe src="${BASE}/play/${KEY}" width="640" height="360" allow="autoplay" allowfullscreen></iframe>`);
});
await new Promise((r) => site.listen(0, "127.0.0.1", r));
const SITE = `http://127.0.0.1:${site.address().port}/`;

await t.run(async () => {
  const page = await newPage();
  t.current = page;

  await step("the player page: 200, frameable by any site, no cookie, scripts from self", async () => {
    const res = await page.goto(`${BASE}/play/${KEY}`);
    assert(res.status() === 200, `status ${res.status()}`);
    const h = res.headers();
    assert(!("x-frame-options" in h), `X-Frame-Options: ${h["x-frame-options"]}`);
    const csp = h["content-security-policy"] || "";
    assert(csp.includes("frame-ancestors *"), `CSP: ${csp}`);
    assert(csp.includes("script-src 'self'"), `CSP: ${csp}`);
    assert(!("set-cookie" in h), `Set-Cookie: ${h["set-cookie"]}`);
    const v = await page.evaluate(() => {
      const v = document.querySelector("video");
      return { muted: v.muted, autoplay: v.autoplay, playsinline: v.hasAttribute("playsinline"), controls: v.controls };
    });
    assert(v.muted && v.autoplay && v.playsinline && v.controls, JSON.stringify(v));
  });

  await step("offline: the Spanish message, retrying", async () => {
    await page.waitForSelector("#offline:not([hidden])", { timeout: PLAY_WAIT });
    const text = await page.textContent("#offline");
    assert(text.includes("no está en directo"), text);
    await page.screenshot({ path: join(SHOTS, "player-offline.png") });
  });

  await step("the stream goes live: the same page plays it (hls.js, low-latency mode)", async () => {
    process.stdout.write("PUBLISH\n");
    assert(await waitForFlag(join(CONTROL, "published"), 300), "the publisher did not start");
    const seen = await playing(page);
    offlinePhase = false;
    assert(seen.muted, "not muted");
    const low = await page.evaluate(() => window.relevoPlayer && window.relevoPlayer.hls.config.lowLatencyMode);
    assert(low === true, "hls.js is not in low-latency mode");
    assert(await page.isHidden("#offline"), "the offline message is still shown");
    console.log(`  playing ${seen.w}×${seen.h}, t=${seen.t.toFixed(1)} s`);
    await page.screenshot({ path: join(SHOTS, "player.png") });
  });

  await step("latency behind live (PROGRAM-DATE-TIME) measured in the browser", async () => {
    // Let the player settle at its live edge, then average a few readings.
    await sleep(8_000);
    const samples = [];
    for (let i = 0; i < 5; i++) {
      samples.push(await page.evaluate(() => {
        const hls = window.relevoPlayer.hls;
        const d = hls.playingDate;
        return { pdt: d ? (Date.now() - d.getTime()) / 1000 : null, est: hls.latency, target: hls.targetLatency };
      }));
      await sleep(1_000);
    }
    const pdt = samples.map((s) => s.pdt).filter((x) => x !== null);
    assert(pdt.length === samples.length, `no playingDate: ${JSON.stringify(samples)}`);
    const avg = (a) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`HLS latency behind live: ${avg(pdt).toFixed(2)} s`);
    console.log(`hls.js latency estimate: ${avg(samples.map((s) => s.est)).toFixed(2)} s (its target: ${samples[samples.length - 1].target.toFixed(2)} s)`);
  });

  await step("embedded in another site's iframe: it plays", async () => {
    const host = await newPage();
    t.current = host;
    await host.goto(SITE);
    const frame = host.frames().find((f) => f.url().includes(`/play/${KEY}`));
    assert(frame, "no player frame");
    const seen = await playing(frame);
    console.log(`  framed by ${SITE}: ${seen.w}×${seen.h}`);
    await host.screenshot({ path: join(SHOTS, "player-embedded.png") });
  });

  await step("an unknown key is a 404", async () => {
    const res = await page.request.get(`${BASE}/play/no-such-key`);
    assert(res.status() === 404, `status ${res.status()}`);
  });

  await step("no script error and no console error", async () => {
    t.assertNoErrors();
  });
}, async () => {
  site.close();
});
