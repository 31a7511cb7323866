// End-to-end test of the embeddable HLS player (/play/KEY) in Debian's headless Chromium,
// driven by playwright-core. Run by appliance/relevo/tests/hls_player.rs, which starts
// Relevo with an HLS output and starts the publisher when this script prints "PUBLISH".
// Every step prints one line; the first failure saves a screenshot (player-failure.png)
// and exits 1. The latency behind live is printed, never judged.
//
// Environment: RELEVO_URL (http://127.0.0.1:PORT), RELEVO_HLS_KEY, RELEVO_SCREENSHOTS,
// RELEVO_CONTROL_DIR (where the Rust test confirms it started the publisher: "published").

import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const BASE = must("RELEVO_URL");
const KEY = must("RELEVO_HLS_KEY");
const SHOTS = must("RELEVO_SCREENSHOTS");
const CONTROL = must("RELEVO_CONTROL_DIR");
const PLAY_WAIT = 60_000;

function must(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through cargo test --test hls_player`);
  return v;
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
const pageErrors = [];
const consoleErrors = [];
// While the stream is offline on purpose, the player's 503s are expected.
let offlinePhase = true;
async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 960, height: 540 }, locale: "es-ES" });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (offlinePhase && m.text().includes("status of 503")) return;
    consoleErrors.push(`${page.url()}: ${m.text()} (${m.location().url})`);
  });
  return page;
}

let current = null;
let n = 0;
async function step(name, fn) {
  n += 1;
  const t0 = Date.now();
  await fn();
  console.log(`ok ${n} - ${name} (${Date.now() - t0} ms)`);
}

// Waits for the video in `frame` to play: a picture, and time that advances.
async function playing(frame) {
  await frame.waitForFunction(() => {
    const v = document.querySelector("video");
    return v && v.videoWidth > 0 && v.currentTime > 0.5;
  }, null, { timeout: PLAY_WAIT });
  const first = await frame.evaluate(() => document.querySelector("video").currentTime);
  await frame.waitForFunction((t) => document.querySelector("video").currentTime > t + 1, first,
    { timeout: PLAY_WAIT });
  return frame.evaluate(() => {
    const v = document.querySelector("video");
    return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, muted: v.muted };
  });
}

// Another origin (another port) that embeds the player in an iframe, as a customer's site.
const site = createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><title>Sitio del cliente</title><h1>Sitio</h1>
<iframe src="${BASE}/play/${KEY}" width="640" height="360" allow="autoplay" allowfullscreen></iframe>`);
});
await new Promise((r) => site.listen(0, "127.0.0.1", r));
const SITE = `http://127.0.0.1:${site.address().port}/`;

try {
  const page = await newPage();
  current = page;

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
    const flag = join(CONTROL, "published");
    for (let i = 0; i < 300 && !existsSync(flag); i++) await sleep(100);
    assert(existsSync(flag), "the publisher did not start");
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
    current = host;
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
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
    assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join("; ")}`);
  });
  console.log(`all ${n} steps passed; screenshots in ${SHOTS}`);
} catch (e) {
  console.error(`not ok ${n + 1} - ${e.message}`);
  if (current) {
    console.error(`  at ${current.url()}; screenshot player-failure.png`);
    await current.screenshot({ path: join(SHOTS, "player-failure.png") }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
  site.close();
}
