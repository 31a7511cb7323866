// An input's history page (issue #17), as steps of panel.mjs's run (the same Relevo, browser
// and live stream of «estudio-a», so the CI pays for no second start): reached from the
// input's card, its bit-rate chart drawn from real data, the availability figures, the
// events timeline with the publisher's connection, the kind and severity filters, the
// window buttons, the CSV downloads, English, and the page on a phone without sideways
// scrolling.

import { join } from "node:path";
import { assert } from "./lib.mjs";

const DATA_WAIT = 30; // reloads, one a second, until the first points and events are in

// How many pixels of a canvas are drawn in the first series' colour (#0b6bcb).
function seriesPixels(sel) {
  const c = document.querySelector(sel);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - 11) < 40 && Math.abs(d[i + 1] - 107) < 40 && Math.abs(d[i + 2] - 203) < 40 && d[i + 3] > 100) n++;
  }
  return n;
}

export async function historySteps({ t, admin, BASE, SHOTS, newPage }) {
  const { step } = t;
  let path = "";

  await step("history page from the input's card: a drawn chart, availability, the publisher's events", async () => {
    await admin.goto(`${BASE}/`);
    await admin.locator('article.flow[data-input="estudio-a"] a[data-history]').click();
    await admin.waitForURL(/\/history\/estudio-a$/);
    path = new URL(admin.url()).pathname;
    const ready = () => admin.evaluate(() =>
      Number(document.querySelector("canvas[data-hchart=bitrate]").dataset.points || 0) > 0
        && !!document.querySelector('.timeline li[data-kind="publisher.connected"]'));
    for (let i = 0; i < DATA_WAIT && !(await ready()); i++) {
      await admin.waitForTimeout(1_000);
      await admin.reload();
    }
    assert(await ready(), "the bit-rate chart has points and the timeline the publisher's connection");
    const drawn = await admin.evaluate(seriesPixels, "canvas[data-hchart=bitrate]");
    assert(drawn > 10, `the bit-rate line is drawn (${drawn} pixels of its colour)`);
    assert(await admin.locator("canvas[data-hchart=reconnects]").count() === 1, "a reconnects chart");
    // An RTMP publisher: no SRT link, so no round-trip or loss chart.
    assert(await admin.locator("canvas[data-hchart=rtt], canvas[data-hchart=loss]").count() === 0, "no SRT charts");
    assert((await admin.locator("[data-legend=bitrate]").textContent()).includes("estudio-a"), "the legend names the input");
    const pct = (await admin.locator('[data-avail=""] [data-f=percent]').textContent()).trim();
    assert(/^\d{1,3},\d\d %$/.test(pct), `the input's availability as a percentage: ${pct}`);
    assert(await admin.locator('[data-avail="reproductor"] [data-f=percent]').count() === 1, "one row per output");
    const first = admin.locator(".timeline li").first();
    assert(["info", "warning", "error"].includes(await first.getAttribute("data-severity")), "rows with a severity");
    assert((await admin.locator('.timeline li[data-kind="publisher.connected"] .ev-kind').first().textContent()) === "Codificador conectado",
      "the kind in words");
    await admin.screenshot({ path: join(SHOTS, "history.png"), fullPage: true });
  });

  await step("history: the kind and severity filters, the window buttons", async () => {
    await admin.selectOption("select[name=kind]", "publisher.");
    await Promise.all([admin.waitForURL(/kind=publisher/), admin.click("form.filters button[type=submit]")]);
    const kinds = await admin.locator(".timeline li").evaluateAll((li) => li.map((e) => e.dataset.kind));
    assert(kinds.length >= 1 && kinds.every((k) => k.startsWith("publisher.")), `only the publisher's events: ${kinds}`);
    await admin.selectOption("select[name=kind]", "");
    await admin.selectOption("select[name=severity]", "error");
    await Promise.all([admin.waitForURL(/severity=error/), admin.click("form.filters button[type=submit]")]);
    const sev = await admin.locator(".timeline li").evaluateAll((li) => li.map((e) => e.dataset.severity));
    assert(sev.every((s) => s === "error"), `errors only: ${sev}`);
    if (sev.length === 0) assert(await admin.locator("[data-f=no-events]").isVisible(), "says there are none");
    for (const w of ["24h", "30d"]) {
      await admin.click(`a[data-window="${w}"]`);
      await admin.waitForURL(new RegExp(`w=${w}`));
      assert((await admin.getAttribute(`a[data-window="${w}"]`, "aria-current")) === "true", `${w} is marked`);
      const points = await admin.evaluate(() => Number(document.querySelector("canvas[data-hchart=bitrate]").dataset.points));
      assert(points > 0, `${w}: the chart has points (${points})`);
    }
    await admin.click('a[data-window="1h"]');
    await admin.waitForURL(/w=1h/);
  });

  await step("history: CSV of the history and of the events, with the session cookie", async () => {
    const hist = await admin.locator('[data-avail=""] a.csv').getAttribute("href");
    const res = await admin.request.get(`${BASE}${hist}`);
    assert(res.status() === 200, `history CSV: ${res.status()}`);
    assert(res.headers()["content-type"].startsWith("text/csv"), "text/csv");
    assert((await res.text()).startsWith("at,secs_live,"), "its header row");
    const ev = await admin.locator("a.csv[href^='/api/v1/events']").getAttribute("href");
    const evRes = await admin.request.get(`${BASE}${ev}`);
    assert(evRes.status() === 200, `events CSV: ${evRes.status()}`);
    const text = await evRes.text();
    assert(text.startsWith("id,at,input,output,kind,severity,detail,audit_id") && text.includes("publisher.connected"), "the events");
  });

  await step("history in English", async () => {
    await admin.goto(`${BASE}/lang/en`);
    await admin.goto(`${BASE}${path}`);
    assert((await admin.locator("h1").textContent()).startsWith("History"), "the title in English");
    assert((await admin.locator("#avail-title").textContent()) === "Availability", "the sections too");
    await admin.goto(`${BASE}/lang/es`);
  });

  await step("history on a phone: full-width charts, stacked timeline, no sideways scrolling", async () => {
    const phone = await newPage({ width: 390, height: 844 });
    await phone.context().addCookies(await admin.context().cookies());
    await phone.goto(`${BASE}${path}`);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 1, `no sideways scrolling on a phone (${overflow} px too wide)`);
    const width = await phone.evaluate(() => document.querySelector("canvas[data-hchart=bitrate]").clientWidth);
    assert(width >= 300, `the chart takes the width (${width} px)`);
    const drawn = await phone.evaluate(seriesPixels, "canvas[data-hchart=bitrate]");
    assert(drawn > 5, `drawn on the phone too (${drawn})`);
    const stacked = await phone.evaluate(() => {
      const li = document.querySelector(".timeline li");
      return li.querySelector(".ev-kind").getBoundingClientRect().top > li.querySelector("time").getBoundingClientRect().top;
    });
    assert(stacked, "an event's kind goes below its time");
    await phone.screenshot({ path: join(SHOTS, "history-phone.png"), fullPage: true });
    await phone.close();
  });
}
