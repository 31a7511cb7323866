// End-to-end test of the panel's HLS side (issue #16) in Debian's headless Chromium, driven
// by playwright-core: the HLS output form and its connection details, the live preview on
// the input's page and on the dashboard card, as an Admin and as a Visor, on a phone, and
// the top bar's menu in one row at 1280 pixels. Run by appliance/relevo/tests/panel_preview.rs,
// which starts Relevo (embedded PostgreSQL) and passes its addresses in the environment.
// Every step prints one line; the first failure saves a screenshot (preview-failure.png)
// and exits 1.
//
// Environment: RELEVO_URL (http://127.0.0.1:PORT), RELEVO_SETUP_TOKEN, RELEVO_RTMP_PORT,
// RELEVO_SCREENSHOTS (folder for the screenshots a reviewer looks at).

import { join } from "node:path";
import { LOGO_PNG, addUser, assert, firstAdmin, mustFrom, plays as playsWithin, publishTestStream, signIn as signInAt, startBrowser, topBarTops } from "./lib.mjs";

const must = mustFrom("panel_preview");
const BASE = must("RELEVO_URL");
const SETUP_TOKEN = must("RELEVO_SETUP_TOKEN");
const RTMP_PORT = must("RELEVO_RTMP_PORT");
const SHOTS = must("RELEVO_SCREENSHOTS");
const ADMIN = "admin@relevo.test";
const VISOR = "visor@relevo.test";
const PASSWORD = "correct horse battery staple";
const INPUT = "estudio-hls";
const LIVE_WAIT = 45_000;
const PLAY_WAIT = 30_000;
const OFFLINE_ES = "La entrada no está en directo";

const t = await startBrowser({
  shots: SHOTS,
  failure: "preview-failure.png",
  args: ["--autoplay-policy=no-user-gesture-required"],
  // A refused form answers 4xx on purpose: the page's own status is not counted.
  ignoreConsole: (page, m) => m.location().url === page.url() && m.text().includes("the server responded"),
});
const { browser, contexts, newPage, step } = t;
let ffmpeg = null;

const signIn = (page, email) => signInAt(page, BASE, email, PASSWORD);
// Waits until `video` (a selector) plays; returns what was seen.
const plays = (page, video) => playsWithin(page, video, PLAY_WAIT);

const PREVIEW = "main section video[data-preview]";
const CARD_PREVIEW = `article.flow[data-input="${INPUT}"] video[data-preview]`;

await t.run(async () => {
  const admin = await newPage();
  t.current = admin;
  let inputPath = "";
  let inputKey = "";
  let hlsKey = "";

  await step("first admin; an input with the form", async () => {
    await firstAdmin(admin, BASE, SETUP_TOKEN, ADMIN, PASSWORD);
    await admin.goto(`${BASE}/inputs/new`);
    await admin.fill("#name", INPUT);
    await admin.click("#input-form button[type=submit]");
    await admin.waitForURL(/\/inputs\/\d+/);
    inputPath = new URL(admin.url()).pathname;
    inputKey = await admin.inputValue("#in-rtmp-key");
  });

  await step("the HLS output form: its kind, a generated key, a refusal on the key field", async () => {
    await admin.goto(`${BASE}${inputPath}/outputs/new`);
    const option = admin.locator("#preset option[value='pull_hls']");
    assert((await option.textContent()) === "HLS (reproductor web)", `the kind's name: ${await option.textContent()}`);
    await admin.selectOption("#preset", "pull_hls");
    assert((await admin.inputValue("#kind")) === "pull_hls", "the preset sets the kind");
    assert(await admin.locator("#key").isVisible(), "the readers' key shows");
    assert(await admin.locator("fieldset[data-kind='push_rtmp']").isHidden(), "push fields hide");
    assert(await admin.locator("fieldset[data-kind~='pull_srt'][data-kind~='push_srt']").isHidden(), "SRT fields hide");
    const generated = await admin.inputValue("#key");
    assert(/^[a-z2-7]{20}$/.test(generated), `a generated key: ${generated}`);
    // The input's own key is taken: refused, on the key field.
    await admin.fill("#name", "web");
    await admin.fill("#key", inputKey);
    await admin.click("#output-form button[type=submit]");
    assert(await admin.locator("#key-err").isVisible(), "an error under the key");
    assert((await admin.textContent("#key-err")).includes("en uso"), `says the key is in use: ${await admin.textContent("#key-err")}`);
    assert((await admin.getAttribute("#key", "aria-invalid")) === "true", "the key is marked invalid");
    assert((await admin.inputValue("#preset")) === "pull_hls", "the form stays HLS");
    await admin.click("button[data-genkey='key']");
    hlsKey = await admin.inputValue("#key");
    assert(hlsKey !== inputKey && hlsKey.length === 20, "a new key from the button");
    await admin.screenshot({ path: join(SHOTS, "preview-output-form.png"), fullPage: true });
    await admin.click("#output-form button[type=submit]");
    await admin.waitForURL((u) => new URL(u).pathname === inputPath);
  });

  await step("the output's details: playlist, player and iframe, masked, each with a copy button", async () => {
    const small = admin.locator("h3", { hasText: "web" }).locator("small");
    assert((await small.textContent()).includes("HLS (reproductor web)"), "listed as HLS");
    const origin = new URL(BASE).origin;
    const want = {
      "#out-0-hls": `${origin}/hls/${hlsKey}/index.m3u8`,
      "#out-0-player": `${origin}/play/${hlsKey}`,
      "#out-0-embed": `<iframe src="${origin}/play/${hlsKey}" width="1280" height="720" allow="autoplay; fullscreen" allowfullscreen></iframe>`,
    };
    for (const [sel, value] of Object.entries(want)) {
      assert((await admin.inputValue(sel)) === value, `${sel}: ${await admin.inputValue(sel)}`);
      assert((await admin.getAttribute(sel, "type")) === "password", `${sel} is masked`);
      const id = sel.slice(1);
      assert(await admin.locator(`button[data-copy='${id}']`).isVisible(), `${sel} has a copy button`);
      assert(await admin.locator(`button[data-reveal='${id}']`).isVisible(), `${sel} can be revealed`);
    }
    await admin.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin });
    await admin.click("button[data-copy='out-0-embed']");
    const copied = await admin.evaluate(() => navigator.clipboard.readText());
    assert(copied === want["#out-0-embed"], `the iframe is copied: ${copied}`);
    assert((await admin.inputValue("#out-0-embed-fluid")).includes(`src="${origin}/play/${hlsKey}"`), "a responsive variant");
  });

  await step("the dashboard names the output's kind", async () => {
    await admin.goto(`${BASE}/`);
    const row = admin.locator(`article.flow[data-input="${INPUT}"] tr[data-output="web"]`);
    assert((await row.locator("td").first().textContent()).includes("HLS (reproductor web)"), "the kind on the dashboard");
  });

  await step("the top bar's menu is one row at 1280×800 with a long brand and a logo, in both languages", async () => {
    // A product name this long, or a logo, wrapped the menu onto a second row before.
    await admin.goto(`${BASE}/settings`);
    await admin.fill("#product_name", "Estudios Norte Producciones");
    await admin.click("form[action='/settings'] button[type=submit]");
    await admin.waitForURL(/\/settings/);
    await admin.setInputFiles("#logo", { name: "logo.png", mimeType: "image/png", buffer: Buffer.from(LOGO_PNG, "base64") });
    await admin.click("form[action^='/settings/logo?'] button[type=submit]");
    await admin.waitForURL(/\/settings/);
    const laptop = await newPage({ width: 1280, height: 800 }, admin);
    for (const lang of ["es", "en"]) {
      await laptop.goto(`${BASE}/lang/${lang}`);
      await laptop.goto(`${BASE}${inputPath}`);
      const tops = await laptop.evaluate(() =>
        Array.from(document.querySelectorAll(".top .menu a"), (a) => a.offsetTop));
      assert(tops.length >= 6, `an admin's menu (${tops.length} links)`);
      assert(new Set(tops).size === 1, `${lang}: the menu wraps (link tops ${tops.join(", ")})`);
      const bar = await topBarTops(laptop);
      assert(Math.max(...bar) - Math.min(...bar) < 20, `${lang}: the top bar wraps (${bar.join(", ")})`);
    }
    await laptop.goto(`${BASE}/lang/es`);
    await laptop.screenshot({ path: join(SHOTS, "preview-topbar-1280.png") });
    await laptop.close();
  });

  await step("offline: the preview says so in Spanish and fetches nothing", async () => {
    const fetched = [];
    admin.on("request", (r) => { if (r.url().includes("/preview/")) fetched.push(r.url()); });
    await admin.goto(`${BASE}${inputPath}`);
    assert(await admin.locator(PREVIEW).isVisible(), "a preview on the input's page");
    const msg = admin.locator("main section [data-preview-msg]");
    assert((await msg.textContent()).includes(OFFLINE_ES), `the offline message: ${await msg.textContent()}`);
    const attrs = await admin.evaluate((sel) => {
      const v = document.querySelector(sel);
      return { muted: v.muted, controls: v.controls, playsinline: v.hasAttribute("playsinline"), src: v.getAttribute("src") };
    }, PREVIEW);
    assert(attrs.muted && attrs.controls && attrs.playsinline && !attrs.src, `muted, controls, playsinline, no source: ${JSON.stringify(attrs)}`);
    await admin.waitForTimeout(2_000);
    assert(fetched.length === 0, `nothing fetched while offline: ${fetched.join(", ")}`);
    admin.removeAllListeners("request");
  });

  await step("the preview needs the panel session: 401 without it, never the stream", async () => {
    const anon = await browser.newContext();
    contexts.push(anon);
    const id = inputPath.split("/").pop();
    for (const file of ["index.m3u8", "init0-0.mp4"]) {
      const res = await anon.request.get(`${BASE}/preview/${id}/${file}`, { maxRedirects: 0 });
      assert(res.status() === 401, `/preview/${id}/${file} without a session: ${res.status()}`);
      assert(!(await res.text()).includes("#EXTM3U"), "no playlist");
    }
  });

  await step("an admin creates a Visor", async () => {
    await addUser(admin, BASE, VISOR, PASSWORD, "visor");
  });

  await step("push a real stream; the input goes live", async () => {
    ffmpeg = publishTestStream(`rtmp://127.0.0.1:${RTMP_PORT}/live/${inputKey}`, { secs: 600, gop: 25, kbps: 2000 });
    await admin.goto(`${BASE}${inputPath}`);
    await admin.evaluate(() => { window.__sameDocument = true; });
    await admin.waitForFunction(
      (name) => document.querySelector(`article.flow[data-input="${name}"]`).dataset.state === "live",
      INPUT, { timeout: LIVE_WAIT });
  });

  await step("Admin: the input's page preview plays (without a reload)", async () => {
    const seen = await plays(admin, PREVIEW);
    console.log(`  input page: ${seen.w}×${seen.h}, t=${seen.t.toFixed(1)} s, muted=${seen.muted}`);
    assert(seen.muted, "muted");
    assert(await admin.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
    assert(await admin.locator("main section [data-preview-msg]").isHidden(), "no message over the picture");
    const latency = admin.locator("main section [data-preview-latency]");
    await admin.waitForFunction(() => {
      const el = document.querySelector("main section [data-preview-latency]");
      return el && !el.hidden && el.dataset.seconds;
    }, null, { timeout: PLAY_WAIT });
    await admin.waitForTimeout(5_000); // settled at its target
    const behind = Number(await latency.getAttribute("data-seconds"));
    console.log(`  preview latency behind live (now − the shown frame's PROGRAM-DATE-TIME): ${behind.toFixed(2)} s; shown as «${await latency.textContent()}»`);
    // Printed, not judged (no timing thresholds in tests): only that hls.js gave a
    // playing date, so the figure is a number.
    assert(Number.isFinite(behind), `a latency figure: ${await latency.getAttribute("data-seconds")}`);
    assert((await latency.textContent()).startsWith("Retraso respecto al directo: "), "said in Spanish");
    await admin.screenshot({ path: join(SHOTS, "preview-input.png"), fullPage: true });
  });

  await step("scrolled out of view, the preview stops and fetches nothing", async () => {
    await admin.evaluate(() => { document.body.style.paddingBottom = "4000px"; window.scrollTo(0, document.body.scrollHeight); });
    await admin.waitForFunction((sel) => !document.querySelector(sel).hasAttribute("src"), PREVIEW, { timeout: 10_000 });
    const fetched = [];
    admin.on("request", (r) => { if (r.url().includes("/preview/")) fetched.push(r.url()); });
    await admin.waitForTimeout(3_000);
    admin.removeAllListeners("request");
    assert(fetched.length === 0, `fetched while out of view: ${fetched.slice(0, 3).join(", ")}`);
    await admin.evaluate(() => window.scrollTo(0, 0));
    await plays(admin, PREVIEW);
  });

  await step("Admin: the dashboard card's small preview plays", async () => {
    await admin.goto(`${BASE}/`);
    const seen = await plays(admin, CARD_PREVIEW);
    console.log(`  dashboard card: ${seen.w}×${seen.h}, t=${seen.t.toFixed(1)} s`);
    assert(seen.muted, "muted");
    const controls = await admin.evaluate((sel) => document.querySelector(sel).controls, CARD_PREVIEW);
    assert(!controls, "a small preview without controls");
    await admin.screenshot({ path: join(SHOTS, "preview-dashboard.png"), fullPage: true });
  });

  await step("Visor: no key in the details, and both previews play", async () => {
    const visor = await newPage();
    t.current = visor;
    await signIn(visor, VISOR);
    const seen = await plays(visor, CARD_PREVIEW);
    console.log(`  Visor's dashboard card: ${seen.w}×${seen.h}`);
    await visor.goto(`${BASE}${inputPath}`);
    assert(!(await visor.content()).includes(hlsKey), "no HLS key on the Visor's page");
    assert(await visor.locator("#out-0-hls, #out-0-player, #out-0-embed").count() === 0, "no HLS details");
    const seen2 = await plays(visor, PREVIEW);
    console.log(`  Visor's input page: ${seen2.w}×${seen2.h}`);
    t.current = admin;
  });

  await step("a phone (390×844): the preview plays, no sideways scrolling", async () => {
    const phone = await newPage({ width: 390, height: 844 }, admin);
    t.current = phone;
    for (const [path, video] of [[inputPath, PREVIEW], ["/", CARD_PREVIEW]]) {
      await phone.goto(`${BASE}${path}`);
      await phone.waitForFunction(
        (name) => document.querySelector(`article.flow[data-input="${name}"]`).dataset.state === "live",
        INPUT, { timeout: LIVE_WAIT });
      await phone.locator(video).scrollIntoViewIfNeeded();
      await plays(phone, video);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${path}: no sideways scrolling on a phone (${overflow} px too wide)`);
      const box = await phone.locator(video).boundingBox();
      assert(box && box.width > 100 && box.x >= 0 && box.x + box.width <= 390, `${path}: the preview fits (${JSON.stringify(box)})`);
    }
    await phone.goto(`${BASE}${inputPath}`);
    await plays(phone, PREVIEW);
    await phone.screenshot({ path: join(SHOTS, "preview-phone.png"), fullPage: false });
    t.current = admin;
  });

  await step("the publisher leaves: after the grace period the card's preview stops and says so", async () => {
    await admin.goto(`${BASE}/`);
    await plays(admin, CARD_PREVIEW);
    ffmpeg.kill("SIGTERM");
    ffmpeg = null;
    const state = () => admin.evaluate(
      (name) => document.querySelector(`article.flow[data-input="${name}"]`).dataset.state, INPUT);
    await admin.waitForFunction(
      (name) => document.querySelector(`article.flow[data-input="${name}"]`).dataset.state !== "live",
      INPUT, { timeout: LIVE_WAIT });
    if ((await state()) === "waiting") {
      // The grace period: the preview is kept for a publisher coming back.
      assert(await admin.evaluate((sel) => document.querySelector(sel).hasAttribute("src"), CARD_PREVIEW),
        "the preview is kept through the grace period");
      await admin.waitForFunction(
        (name) => document.querySelector(`article.flow[data-input="${name}"]`).dataset.state !== "waiting",
        INPUT, { timeout: LIVE_WAIT });
    }
    console.log(`  state after the grace period: ${await state()}`);
    await admin.waitForFunction((sel) => !document.querySelector(sel).hasAttribute("src"), CARD_PREVIEW, { timeout: 10_000 });
    const msg = admin.locator(`article.flow[data-input="${INPUT}"] [data-preview-msg]`);
    assert((await msg.textContent()).includes(OFFLINE_ES), `the offline message: ${await msg.textContent()}`);
    const fetched = [];
    admin.on("request", (r) => { if (r.url().includes("/preview/")) fetched.push(r.url()); });
    await admin.waitForTimeout(3_000);
    admin.removeAllListeners("request");
    assert(fetched.length === 0, `fetched while offline: ${fetched.slice(0, 3).join(", ")}`);
    await admin.screenshot({ path: join(SHOTS, "preview-dashboard-offline.png"), fullPage: true });
  });

  await step("no script error and no console error in any page", async () => {
    t.assertNoErrors();
  });
}, async () => {
  if (ffmpeg) ffmpeg.kill("SIGTERM");
});
