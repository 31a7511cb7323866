// End-to-end test of Relevo's panel in Debian's headless Chromium, driven by playwright-core.
// Run by appliance/relevo/tests/panel_e2e.rs, which starts Relevo (embedded PostgreSQL) and
// passes its addresses in the environment. Every step prints one line; the first failure
// saves a screenshot (failure.png) and exits 1.
//
// Environment: RELEVO_URL (http://127.0.0.1:PORT), RELEVO_SETUP_TOKEN, RELEVO_RTMP_PORT,
// RELEVO_SCREENSHOTS (folder for the screenshots a reviewer looks at), RELEVO_CONTROL_DIR
// (where the Rust test confirms a stop or start of Relevo the script asked for with a
// "RELEVO STOP|START" line).

import { createHmac } from "node:crypto";
import { join } from "node:path";
import { LOGO_PNG, addUser, assert, firstAdmin, mustFrom, publishTestStream, signIn as signInAt, startBrowser, topBarTops, waitForFlag } from "./lib.mjs";
import { backupSteps } from "./panel_backup.mjs";
import { historySteps } from "./panel_history.mjs";
import { alertsSteps } from "./panel_alerts.mjs";

const must = mustFrom("panel_e2e");
const BASE = must("RELEVO_URL");
const SETUP_TOKEN = must("RELEVO_SETUP_TOKEN");
const RTMP_PORT = must("RELEVO_RTMP_PORT");
const SHOTS = must("RELEVO_SCREENSHOTS");
const CONTROL = must("RELEVO_CONTROL_DIR");
const ADMIN = "admin@relevo.test";
const VISOR = "visor@relevo.test";
const PASSWORD = "correct horse battery staple";
const LIVE_WAIT = 45_000;

// Asks the Rust test to stop or start Relevo, and waits until it has.
async function relevo(what, done) {
  process.stdout.write(`RELEVO ${what}\n`);
  assert(await waitForFlag(join(CONTROL, done), 900), `Relevo did not ${what.toLowerCase()}`);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), `offset` steps from now.
function totp(base32, offset = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const mac = createHmac("sha1", key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

let restarting = false; // the restart step, where failed connections are expected
const t = await startBrowser({
  shots: SHOTS,
  failure: "failure.png",
  // Not counted: a page's own status (a refused form answers 409 or 403 on purpose), and
  // the live connection failing while the restart step has Relevo stopped.
  ignoreConsole: (page, m) =>
    (m.location().url === page.url() && m.text().includes("the server responded")) || restarting,
});
const { newPage, step } = t;
let ffmpeg = null;

const signIn = (page, email, code) => signInAt(page, BASE, email, PASSWORD, code);
const flowCard = (page, name) => page.locator(`article.flow[data-input="${name}"]`);

await t.run(async () => {
  const admin = await newPage();
  t.current = admin;
  let secret = "";
  let inputPath = "";
  let key = "";

  await step("first admin through the setup link", async () => {
    await firstAdmin(admin, BASE, SETUP_TOKEN, ADMIN, PASSWORD, async (form) => {
      assert((await form.inputValue("#setup-token")) === SETUP_TOKEN, "the script moved the token into the form");
    });
    assert(await admin.locator("h1", { hasText: "Panel de control" }).isVisible(), "Spanish dashboard");
  });

  await step("2FA enrolment: QR, code, recovery codes", async () => {
    await admin.goto(`${BASE}/account`);
    // Turning 2FA on asks for the password again.
    await admin.fill("#begin-password", PASSWORD);
    await admin.click("form[action='/account/totp/begin'] button[type=submit]");
    assert(await admin.locator("#totp svg").count() === 1, "a QR code is shown");
    secret = await admin.inputValue("#totp-secret");
    await admin.screenshot({ path: join(SHOTS, "account-2fa.png"), fullPage: true });
    assert(/^[A-Z2-7]{16,}$/.test(secret), `a base32 secret (${secret})`);
    await admin.fill("#code", totp(secret));
    await admin.click("form[action='/account/totp/confirm'] button[type=submit]");
    const codes = await admin.locator(".codes li").allTextContents();
    assert(codes.length === 10, `10 recovery codes (got ${codes.length})`);
  });

  await step("sign out, sign in again with password and TOTP code", async () => {
    await admin.click("form[action='/logout'] button[type=submit]");
    await admin.waitForURL(/\/login/);
    // The enrolment used this 30 s step's code; a code is accepted once, so use the next.
    await signIn(admin, ADMIN, totp(secret, 1));
  });

  await step("create an input with the form", async () => {
    await admin.goto(`${BASE}/inputs/new`);
    await admin.fill("#name", "estudio-a");
    await admin.screenshot({ path: join(SHOTS, "input-form.png"), fullPage: true });
    await admin.click("#input-form button[type=submit]");
    await admin.waitForURL(/\/inputs\/\d+/);
    inputPath = new URL(admin.url()).pathname;
    key = await admin.inputValue("#in-rtmp-key");
    assert(key.length === 20, "a generated stream key");
    assert((await admin.getAttribute("#in-rtmp-key", "type")) === "password", "the key is hidden");
    await admin.click("button[data-reveal='in-rtmp-key']");
    assert((await admin.getAttribute("#in-rtmp-key", "type")) === "text", "revealed on demand");
    const srt = await admin.inputValue("#in-srt");
    assert(srt.includes(`streamid=publish:${key}`), `SRT URL carries the key: ${srt}`);
  });

  await step("a refused value is shown next to its field", async () => {
    await admin.goto(`${BASE}/inputs/new`);
    await admin.fill("#name", "estudio-a");
    await admin.click("#input-form button[type=submit]");
    const err = admin.locator("#name-err");
    assert(await err.isVisible(), "an error under the name");
    assert((await err.textContent()).includes("en uso"), "says the name is in use");
    assert((await admin.getAttribute("#name", "aria-invalid")) === "true", "the field is marked invalid");
  });

  await step("add an RTMP pull output with its preset", async () => {
    await admin.goto(`${BASE}${inputPath}/outputs/new`);
    await admin.selectOption("#preset", "pull_rtmp");
    assert(await admin.locator("fieldset[data-kind='push_rtmp']").isHidden(), "push fields hide");
    await admin.fill("#name", "reproductor");
    await admin.click("#output-form button[type=submit]");
    await admin.waitForURL((u) => new URL(u).pathname === inputPath);
    const play = await admin.inputValue("#out-0-rtmp");
    assert(play.startsWith("rtmp://127.0.0.1") && play.includes("/live/"), `player URL ${play}`);
  });

  await step("add a recording output with the form; a refused duration is shown on its field", async () => {
    await admin.goto(`${BASE}${inputPath}/outputs/new`);
    await admin.selectOption("#preset", "record");
    assert(await admin.locator("fieldset[data-kind='push_rtmp']").isHidden(), "push fields hide");
    assert(await admin.locator("fieldset[data-kind='record']").isVisible(), "recording fields show");
    assert((await admin.inputValue("#segment_min")) === "60", "one file an hour by default");
    await admin.fill("#name", "grabacion");
    await admin.selectOption("#record_format", "mp4");
    await admin.fill("#segment_min", "0.1"); // 6 s: under the 10 s minimum
    await admin.click("#output-form button[type=submit]");
    assert(await admin.locator("#segment_min-err").isVisible(), "an error under the duration");
    assert((await admin.textContent("#segment_min-err")).includes("24 horas"), "says the range");
    assert((await admin.getAttribute("#segment_min", "aria-invalid")) === "true", "the field is marked invalid");
    assert((await admin.inputValue("#preset")) === "record", "the form stays a recording");
    await admin.fill("#segment_min", "30");
    await admin.fill("#keep_days", "7");
    await admin.screenshot({ path: join(SHOTS, "output-form-record.png"), fullPage: true });
    await admin.click("#output-form button[type=submit]");
    await admin.waitForURL((u) => new URL(u).pathname === inputPath);
    assert(await admin.locator("h3", { hasText: "grabacion" }).locator("small", { hasText: "Grabación" }).count() === 1,
      "listed on the input's page as a recording");
    await admin.goto(`${BASE}/`);
    const row = flowCard(admin, "estudio-a").locator('tr[data-output="grabacion"]');
    assert((await row.locator("td").first().textContent()).includes("Grabación"), "the kind on the dashboard");
    const target = await row.locator("code").textContent();
    assert(target === "MP4 fragmentado · archivos de 30 min", `format and file duration: ${target}`);
    await row.locator("a[href$='/edit']").click();
    assert((await admin.inputValue("#keep_days")) === "7", "the form reads the recording back");
    assert((await admin.inputValue("#segment_min")) === "30", "with its duration in minutes");
  });

  await step("push a real stream; the dashboard turns live without a reload", async () => {
    await admin.goto(`${BASE}/`);
    await admin.evaluate(() => { window.__sameDocument = true; });
    const card = flowCard(admin, "estudio-a");
    assert((await card.getAttribute("data-state")) !== "live", "not live before the stream");
    ffmpeg = publishTestStream(`rtmp://127.0.0.1:${RTMP_PORT}/live/${key}`, { secs: 120, gop: 50, kbps: 2500 });
    await admin.waitForFunction(
      () => document.querySelector('article.flow[data-input="estudio-a"]').dataset.state === "live",
      null, { timeout: LIVE_WAIT });
    assert((await card.locator(".flow-head [data-f=state]").textContent()) === "En directo", "badge says live");
    const rate = card.locator(".figures [data-f=bitrate]");
    await admin.waitForFunction(
      () => !document.querySelector('article.flow[data-input="estudio-a"] .figures [data-f=bitrate]').textContent.startsWith("0,00"),
      null, { timeout: LIVE_WAIT });
    const first = await rate.textContent();
    await admin.waitForFunction(
      (f) => document.querySelector('article.flow[data-input="estudio-a"] .figures [data-f=bitrate]').textContent !== f,
      first, { timeout: 15_000 });
    const second = await rate.textContent();
    assert(/Mbit\/s|kbit\/s/.test(second), `a bit rate: ${first} → ${second}`);
    assert((await card.locator("[data-f=publisher]").textContent()).startsWith("RTMP"), "the publisher is shown");
    assert(await admin.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
    console.log(`  bit rate moved ${first} → ${second}`);
    await admin.waitForTimeout(6_000); // a few seconds of chart for the screenshot
    await admin.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  });

  await step("stop the output from the dashboard; it shows stopped", async () => {
    const row = flowCard(admin, "estudio-a").locator('tr[data-output="reproductor"]');
    await row.locator("button[data-action=stop]").click();
    await admin.waitForURL((u) => new URL(u).pathname === "/");
    const row2 = flowCard(admin, "estudio-a").locator('tr[data-output="reproductor"]');
    await admin.waitForFunction(
      () => document.querySelector('tr[data-output="reproductor"] [data-f=state]').textContent === "Detenido");
    assert(await row2.locator("button[data-action=start]").isVisible(), "now it offers to start");
    await admin.waitForFunction(
      () => document.querySelector('article.flow[data-input="estudio-a"]').dataset.state === "live",
      null, { timeout: LIVE_WAIT });
  });

  // History (issue #17): estudio-a's charts, availability and events while it is live.
  await historySteps({ t, admin, BASE, SHOTS, newPage });

  // Redundant ingest and codec pre-flight (issue #18): a second input with a backup key.
  await backupSteps({ t, admin, BASE, RTMP_PORT, SHOTS });

  // Alerts (issue #17): the admin's rules and channels, «Alertas» in the top bar.
  await alertsSteps({ t, admin, BASE, SHOTS });

  await step("recordings page: the file being recorded, its download, deleting it once stopped", async () => {
    await admin.goto(`${BASE}/`);
    assert(await admin.locator("#recordings-disk a[href='/recordings']").isVisible(), "the dashboard shows the recordings' disk");
    await admin.goto(`${BASE}${inputPath}`);
    await admin.click(`a[href='/recordings?input=estudio-a']`);
    await admin.waitForURL(/\/recordings\?input=estudio-a/);
    const rows = admin.locator("#input-estudio-a table.recordings tbody tr");
    for (let i = 0; i < 30 && (await rows.count()) === 0; i++) {
      await admin.waitForTimeout(1_000);
      await admin.reload();
    }
    assert(await rows.count() >= 1, "the recording's file is listed");
    const row = rows.first();
    const name = await row.locator("a[download]").getAttribute("download");
    assert(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_\d{4,}\.mp4$/.test(name), `a recorder's file name: ${name}`);
    assert(await row.locator(".badge", { hasText: "Grabando" }).isVisible(), "marked as being recorded");
    assert(await row.locator("button.danger").count() === 0, "no delete while it is written");
    assert((await row.locator("td").nth(5).textContent()).includes("h264"), "its codecs");
    assert(await admin.locator("#recordings-disk [data-f=free]").isVisible(), "free space on the page");
    await admin.screenshot({ path: join(SHOTS, "recordings.png"), fullPage: true });
    // The download link works with the session cookie: its first bytes are an MP4 header.
    const href = await row.locator("a[download]").getAttribute("href");
    const res = await admin.request.get(`${BASE}${href}`, { headers: { Range: "bytes=0-7" } });
    assert(res.status() === 206, `a range of the file (${res.status()})`);
    const head = await res.body();
    assert(head.length === 8 && head.subarray(4, 8).toString() === "ftyp", `an MP4 file: ${head.toString("hex")}`);
    assert((res.headers()["content-disposition"] || "").includes(name), "offered as a download with its name");
    // Stopping the recording closes the file; then it can be deleted, after a confirmation.
    await admin.goto(`${BASE}/`);
    await flowCard(admin, "estudio-a").locator('tr[data-output="grabacion"] button[data-action=stop]').click();
    await admin.waitForURL((u) => new URL(u).pathname === "/");
    await admin.goto(`${BASE}/recordings?input=estudio-a`);
    const stopped = admin.locator("#input-estudio-a tbody tr", { hasText: name });
    for (let i = 0; i < 30 && (await stopped.locator(".badge").count()) > 0; i++) {
      await admin.waitForTimeout(500);
      await admin.reload();
    }
    admin.once("dialog", (d) => d.accept());
    await stopped.locator("button.danger").click();
    await admin.waitForURL(/ok=deleted/);
    assert(await admin.locator("tbody tr", { hasText: name }).count() === 0, "the file is gone");
    const gone = await admin.request.get(`${BASE}${href}`);
    assert(gone.status() === 404, `the download is gone too (${gone.status()})`);
  });

  await step("the dashboard on a phone-sized screen", async () => {
    const phone = await newPage({ width: 390, height: 844 });
    await phone.context().addCookies(await admin.context().cookies());
    await phone.goto(`${BASE}/`);
    await phone.waitForFunction(
      () => document.querySelector('article.flow[data-input="estudio-a"]').dataset.state === "live",
      null, { timeout: LIVE_WAIT });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 1, `no sideways scrolling on a phone (${overflow} px too wide)`);
    await phone.screenshot({ path: join(SHOTS, "dashboard-phone.png"), fullPage: true });
  });

  await step("an admin's top bar is one row on a 1280-pixel screen, in both languages", async () => {
    const laptop = await newPage({ width: 1280, height: 800 });
    await laptop.context().addCookies(await admin.context().cookies());
    for (const lang of ["es", "en"]) {
      await laptop.goto(`${BASE}/lang/${lang}`);
      await laptop.goto(`${BASE}/`);
      const tops = await topBarTops(laptop);
      const spread = Math.max(...tops) - Math.min(...tops);
      assert(spread < 20, `${lang}: the top bar wraps (rows start ${tops.join(", ")} px)`);
    }
    await laptop.goto(`${BASE}/lang/es`);
    await laptop.close();
  });

  await step("an admin creates a Visor in the users page", async () => {
    await addUser(admin, BASE, VISOR, PASSWORD, "visor");
    assert(await admin.locator("td", { hasText: VISOR }).count() >= 1, "the Visor is listed");
    await admin.screenshot({ path: join(SHOTS, "users.png"), fullPage: true });
  });

  await step("a Visor sees no secrets and no edit controls", async () => {
    const visor = await newPage();
    t.current = visor;
    await signIn(visor, VISOR);
    const html = await visor.content();
    assert(!html.includes(key), "no stream key on the dashboard");
    for (const sel of ["form[action$='/stop']", "form[action$='/start']", "form[action*='/feed/']", "a[href$='/edit']", "a[href='/inputs/new']", "a[href='/users']", "a[href='/settings']"]) {
      assert(await visor.locator(sel).count() === 0, `no ${sel}`);
    }
    await visor.waitForFunction(
      () => document.querySelector('article.flow[data-input="estudio-a"]').dataset.state === "live",
      null, { timeout: LIVE_WAIT });
    await visor.goto(`${BASE}${inputPath}`);
    const page = await visor.content();
    assert(!page.includes(key), "no stream key on the input's page");
    assert(await visor.locator("#in-rtmp-key, #in-srt, #out-0-rtmp").count() === 0, "no connection details");
    assert(await visor.locator("button[data-copy]").count() === 0, "nothing to copy");
    const res = await visor.goto(`${BASE}/inputs/new`);
    assert(res.status() === 403, `the new-input form is refused (${res.status()})`);
    t.current = admin;
  });

  await step("branding (name, colour, logo) shows on the login page", async () => {
    await admin.goto(`${BASE}/settings`);
    await admin.fill("#product_name", "Estudios Norte");
    await admin.fill("#primary_color", "#c0392b");
    await admin.click("form[action='/settings'] button[type=submit]");
    await admin.waitForURL(/\/settings/);
    await admin.setInputFiles("#logo", { name: "logo.png", mimeType: "image/png", buffer: Buffer.from(LOGO_PNG, "base64") });
    await admin.click("form[action^='/settings/logo?'] button[type=submit]");
    await admin.waitForURL(/\/settings/);
    const anon = await newPage();
    t.current = anon;
    await anon.goto(`${BASE}/login`);
    assert(await anon.locator("h1", { hasText: "Estudios Norte" }).isVisible(), "the new name on the login page");
    assert((await anon.title()).includes("Estudios Norte"), "and in the title");
    const logo = await anon.evaluate(() => {
      const img = document.querySelector("img.auth-logo");
      return img && img.complete ? img.naturalWidth : 0;
    });
    assert(logo === 48, `the uploaded logo is shown (${logo} px wide)`);
    const brand = await anon.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--brand").trim());
    assert(brand === "#c0392b", `the main colour (${brand})`);
    await anon.screenshot({ path: join(SHOTS, "login.png"), fullPage: true });
    await anon.click("a[href='/lang/en']");
    await anon.waitForURL(/\/login/);
    assert(await anon.locator("button[type=submit]", { hasText: "Sign in" }).isVisible(), "English on request");
    t.current = admin;
  });

  await step("the audit log lists the changes and filters them", async () => {
    await admin.goto(`${BASE}/audit`);
    assert(await admin.locator("td", { hasText: "input.create" }).count() >= 1, "the input's creation");
    await admin.screenshot({ path: join(SHOTS, "audit.png"), fullPage: true });
    await admin.selectOption("#f-kind", "user");
    await admin.click("form[action='/audit'] button[type=submit]");
    await admin.waitForURL(/target_kind=user/);
    assert(await admin.locator("td", { hasText: "input.create" }).count() === 0, "filtered to users");
  });

  await step("Relevo restarts: the dashboard shows the lost connection and resumes", async () => {
    await admin.goto(`${BASE}/`);
    await admin.waitForFunction(() => document.body.dataset.live === "connected");
    await admin.evaluate(() => { window.__sameDocument = true; });
    restarting = true;
    await relevo("STOP", "stopped");
    await admin.waitForFunction(() => !document.getElementById("conn").hidden, null, { timeout: 20_000 });
    assert((await admin.textContent("#conn")).includes("Reconectando"), "the banner says so");
    await relevo("START", "started");
    await admin.waitForFunction(
      () => document.getElementById("conn").hidden && document.body.dataset.live === "connected",
      null, { timeout: 30_000 });
    assert(await admin.evaluate(() => window.__sameDocument === true), "without a reload");
    restarting = false;
    // The session survived the restart (it is in PostgreSQL).
    await admin.goto(`${BASE}/`);
    assert(new URL(admin.url()).pathname === "/", "still signed in");
  });

  await step("no script error in any page", async () => {
    assert(t.pageErrors.length === 0, `script errors: ${t.pageErrors.join("; ")}`);
  });

  await step("no console error in any page (the favicon is served)", async () => {
    const icon = await admin.request.get(`${BASE}/favicon.ico`);
    assert(icon.status() === 200, `/favicon.ico answers ${icon.status()}`);
    assert(t.consoleErrors.length === 0, `console errors: ${t.consoleErrors.join("; ")}`);
  });
}, async () => {
  if (ffmpeg) ffmpeg.kill("SIGTERM");
});
