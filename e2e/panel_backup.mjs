// The panel's redundant ingest and codec pre-flight (issue #18), as steps of panel.mjs's run
// (the same Relevo and browser, so the CI pays for no second start): an input with a backup
// key made with the form, two real encoders on its two keys, the «EN ANTENA» marker moved by
// «Pasar a respaldo» and back, an output whose destination warns about the stream, the error
// notice of a switch to a backup that is not live, and the two feeds on a phone.

import { join } from "node:path";
import { assert, publishTestStream } from "./lib.mjs";

const LIVE_WAIT = 45_000;

// Whether the feed row `feed` of the page's `.feeds` is on air (its marker shows).
const onAir = (feed) => !document.querySelector(`.feeds [data-feed=${feed}] [data-f=onair]`).hidden;

// Ticks or unticks the settings' switch for private destinations.
async function privateDestinations(admin, BASE, allow) {
  await admin.goto(`${BASE}/settings`);
  await admin.setChecked("#allow_private_destinations", allow);
  await Promise.all([
    admin.waitForURL(/\/settings\?ok=saved/),
    admin.click("form[action='/settings/destinations'] button[type=submit]"),
  ]);
}

export async function backupSteps({ t, admin, BASE, RTMP_PORT, SHOTS }) {
  const { step } = t;
  const encoders = [];
  let path = "";
  let mainKey = "";
  let backupKey = "";
  const feed = (name) => admin.locator(`.feeds [data-feed=${name}]`);

  try {
    await step("an input with a backup key through the form; a refused delay is shown on its field", async () => {
      await admin.goto(`${BASE}/inputs/new`);
      assert(await admin.locator("[data-backup=key]").isHidden(), "no backup fields until a backup is chosen");
      await admin.fill("#name", "estudio-r");
      await admin.selectOption("#backup_mode", "key");
      assert(await admin.locator("#backup_key").isVisible(), "the backup key shows");
      assert((await admin.inputValue("#backup_key")).length === 20, "a generated backup key");
      assert((await admin.inputValue("#backup_failover_ms")) === "2000", "switch after 2000 ms by default");
      assert((await admin.inputValue("#backup_revert_s")) === "10", "back to main after 10 s by default");
      await admin.fill("#backup_failover_ms", "100"); // under the 500 ms minimum
      await admin.screenshot({ path: join(SHOTS, "input-form-backup.png"), fullPage: true });
      await admin.click("#input-form button[type=submit]");
      const err = admin.locator("#backup_failover_ms-err");
      assert(await err.isVisible(), "an error under the switch delay");
      assert((await err.textContent()).includes("500"), `says the range: ${await err.textContent()}`);
      assert((await admin.getAttribute("#backup_failover_ms", "aria-invalid")) === "true", "marked invalid");
      assert(await admin.locator("#backup_key").isVisible(), "the backup stays chosen");
      await admin.fill("#backup_failover_ms", "2000");
      await admin.click("#input-form button[type=submit]");
      await admin.waitForURL(/\/inputs\/\d+/);
      path = new URL(admin.url()).pathname;
      mainKey = await admin.inputValue("#in-rtmp-key");
      backupKey = await admin.inputValue("#in-backup-rtmp-key");
      assert(backupKey.length === 20 && backupKey !== mainKey, "a backup key of its own");
      assert((await admin.getAttribute("#in-backup-rtmp-key", "type")) === "password", "hidden until revealed");
      const srt = await admin.inputValue("#in-backup-srt");
      assert(srt.includes(`streamid=publish:${backupKey}`), `the backup's SRT URL: ${srt}`);
      assert((await admin.inputValue("#in-backup-rtmp-url")).endsWith(`/live/${backupKey}`), "its RTMP URL");
      assert((await feed("main").textContent()).includes("Principal"), "the main feed's row");
      assert((await feed("backup").textContent()).includes("Respaldo"), "the backup feed's row");
    });

    await step("two encoders: EN ANTENA on Principal; «Pasar a respaldo» moves it, «Volver a principal» back", async () => {
      // Small pictures without audio: the CPU is shared with the other stream of the run,
      // and an audio-less stream is what the pre-flight step below warns about.
      const opts = { secs: 90, gop: 25, kbps: 300, size: "320x180", audio: false };
      // The main encoder first: a backup that arrived first would be on air until the main
      // feed had been stable for the revert delay (10 s).
      encoders.push(publishTestStream(`rtmp://127.0.0.1:${RTMP_PORT}/live/${mainKey}`, opts));
      await admin.waitForFunction(onAir, "main", { timeout: LIVE_WAIT });
      encoders.push(publishTestStream(`rtmp://127.0.0.1:${RTMP_PORT}/live/${backupKey}`, opts));
      await admin.waitForFunction(() =>
        [...document.querySelectorAll(".feeds [data-f=feed-state]")].every((b) => b.textContent === "En directo")
          && !document.querySelector(".feeds [data-feed=main] [data-f=onair]").hidden,
      null, { timeout: LIVE_WAIT });
      assert(await feed("main").locator("[data-f=onair]").textContent() === "EN ANTENA", "the marker's words");
      assert(!(await admin.evaluate(onAir, "backup")), "only one feed on air");
      assert((await feed("main").locator("[data-f=since]").textContent()).startsWith("desde "), "since when");
      assert((await feed("backup").locator("[data-f=feed-publisher]").textContent()).startsWith("RTMP "), "the backup's encoder");
      await admin.waitForFunction(() => document.querySelector(".figures [data-f=codecs]").textContent === "H.264 · sin audio",
        null, { timeout: 15_000 });
      await admin.screenshot({ path: join(SHOTS, "input-backup.png"), fullPage: true });

      admin.once("dialog", (d) => d.accept());
      await feed("backup").locator("button[data-switch=backup]").click();
      await admin.waitForURL(/ok=switched/);
      assert((await admin.textContent(".notice")).includes("fotograma clave"), "the notice says when");
      await admin.waitForFunction(() => !document.querySelector(".feeds [data-feed=backup] [data-f=onair]").hidden
        && document.querySelector(".feeds [data-feed=main] [data-f=onair]").hidden, null, { timeout: 20_000 });
      await admin.waitForFunction(() => !document.querySelector("[data-f=last-switch]").hidden);
      const last = await admin.textContent("[data-f=switch-text]");
      assert(last.startsWith("Principal → Respaldo (manual)"), `the last switch: ${last}`);
      assert(await feed("backup").locator("button[data-switch=backup]").isHidden(), "no switch to the feed on air");
      await admin.screenshot({ path: join(SHOTS, "input-backup-on-air.png"), fullPage: true });

      await feed("main").locator("button[data-switch=main]").click();
      await admin.waitForURL(/ok=switched/);
      await admin.waitForFunction(() => !document.querySelector(".feeds [data-feed=main] [data-f=onair]").hidden,
        null, { timeout: 20_000 });
      await admin.waitForFunction(() => document.querySelector("[data-f=switch-text]").textContent.startsWith("Respaldo → Principal (manual)"));
    });

    await step("an output whose platform wants audio warns, in Spanish, what to change on the encoder", async () => {
      // Our own listener stands in for the platform: an admin allows private destinations
      // for it (and takes that back below).
      await privateDestinations(admin, BASE, true);
      await admin.goto(`${BASE}${path}/outputs/new`);
      await admin.selectOption("#preset", "youtube");
      await admin.fill("#name", "youtube");
      // Our own listener with a key nobody has: the push is refused, the pre-flight still runs.
      await admin.fill("#server", `rtmp://127.0.0.1:${RTMP_PORT}/live`);
      await admin.fill("#stream_key", "no-such-key");
      await admin.click("#output-form button[type=submit]");
      await admin.waitForURL((u) => new URL(u).pathname === path);
      const warning = admin.locator('tr.compat-row[data-compat="youtube"] li.warning');
      await warning.waitFor({ state: "visible", timeout: 20_000 });
      const text = await warning.textContent();
      assert(text.includes("no lleva audio") && text.includes("AAC"), `the warning: ${text}`);
      assert(await admin.locator("tr.compat-row li.error").count() === 0, "a warning, not an error");
      await privateDestinations(admin, BASE, false);
    });

    await step("a switch to a backup that is not live is refused with a notice", async () => {
      encoders.pop().kill("SIGTERM"); // the backup encoder stops
      await admin.goto(`${BASE}${path}`);
      await admin.waitForFunction(() =>
        document.querySelector(".feeds [data-feed=backup] [data-f=feed-state]").textContent === "Sin señal",
      null, { timeout: 20_000 });
      admin.once("dialog", (d) => d.accept());
      await feed("backup").locator("button[data-switch=backup]").click();
      await admin.waitForURL(/err=backup_not_live/);
      const alert = await admin.textContent("#alert");
      assert(alert.includes("La señal de respaldo no está en directo"), `the notice: ${alert}`);
      assert(await admin.evaluate(onAir, "main"), "the main feed stays on air");
    });

    await step("the two feeds on a phone-sized screen", async () => {
      const phone = await t.newPage({ width: 390, height: 844 }, admin);
      await phone.goto(`${BASE}${path}`);
      await phone.waitForFunction(onAir, "main", { timeout: LIVE_WAIT });
      for (const name of ["main", "backup"]) {
        const box = await phone.locator(`.feeds [data-feed=${name}]`).boundingBox();
        assert(box && box.width > 0 && box.x >= 0 && box.x + box.width <= 390, `the ${name} row fits: ${JSON.stringify(box)}`);
      }
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `no sideways scrolling on a phone (${overflow} px too wide)`);
      await phone.screenshot({ path: join(SHOTS, "input-backup-phone.png"), fullPage: true });
      await phone.close();
    });
  } finally {
    for (const e of encoders) e.kill("SIGTERM");
  }
}
