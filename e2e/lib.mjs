// What the browser tests (panel.mjs, preview.mjs, player.mjs) share: reading their
// environment, assertions, Debian's headless Chromium with pages that collect script and
// console errors, the step runner that prints one line a step and saves a screenshot of
// the page at hand on the first failure, and helpers several of them use.

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

// Returns must(name): the environment variable `name`, which the Rust test `test` sets.
export function mustFrom(test) {
  return (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run this through cargo test --test ${test}`);
    return v;
  };
}

export function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits up to `tenths` tenths of a second for the Rust test to write the file `flag`
// (its answer to a control line); true when it did.
export async function waitForFlag(flag, tenths) {
  for (let i = 0; i < tenths && !existsSync(flag); i++) await sleep(100);
  return existsSync(flag);
}

// A 48×16 PNG in the brand colour, uploaded as the customer's logo.
export const LOGO_PNG = "iVBORw0KGgoAAAANSUhEUgAAADAAAAAQCAIAAADfzGvmAAAAJElEQVR42mM4YKk9qBDDqINGHTTqoFEHjTpo1EGjDhp1EH0RABDMbC6SzOSaAAAAAElFTkSuQmCC";

// Launches Chromium. `shots`: the screenshots' folder; `failure`: the name of the
// screenshot taken when a step fails (`failureFullPage`: of the whole page); `args`: more
// Chromium flags; `ignoreConsole(page, message)`: true for a console error the caller
// expects at that moment (it is then not counted).
export async function startBrowser({ shots, failure, failureFullPage = true, args = [], ignoreConsole = () => false }) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-background-networking", ...args],
  });
  const t = {
    browser,
    contexts: [],
    pageErrors: [], // script errors in any page fail the run
    consoleErrors: [], // so do console errors (a 404 for /favicon.ico was one)
    current: null, // the page to capture if a step fails
    n: 0,
  };

  // A page in a new context (Spanish), with the cookies of `cookiesFrom` (a page) if given.
  t.newPage = async (viewport = { width: 1366, height: 900 }, cookiesFrom = null) => {
    const ctx = await browser.newContext({ viewport, locale: "es-ES" });
    t.contexts.push(ctx);
    if (cookiesFrom) await ctx.addCookies(await cookiesFrom.context().cookies());
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => t.pageErrors.push(`${page.url()}: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() !== "error" || ignoreConsole(page, m)) return;
      t.consoleErrors.push(`${page.url()}: ${m.text()} (${m.location().url})`);
    });
    return page;
  };

  t.step = async (name, fn) => {
    t.n += 1;
    const t0 = Date.now();
    await fn();
    console.log(`ok ${t.n} - ${name} (${Date.now() - t0} ms)`);
  };

  t.assertNoErrors = () => {
    assert(t.pageErrors.length === 0, `script errors: ${t.pageErrors.join("; ")}`);
    assert(t.consoleErrors.length === 0, `console errors: ${t.consoleErrors.join("; ")}`);
  };

  // Runs the steps in `body`; the first failure is reported with a screenshot and makes
  // the exit code 1. `cleanup` runs in any case, before the browser closes.
  t.run = async (body, cleanup = async () => {}) => {
    try {
      await body();
      console.log(`all ${t.n} steps passed; screenshots in ${shots}`);
    } catch (e) {
      console.error(`not ok ${t.n} - ${e.message}`);
      if (t.current) {
        await t.current.screenshot({ path: join(shots, failure), fullPage: failureFullPage }).catch(() => {});
        console.error(`  at ${t.current.url()}; screenshot ${failure}`);
      }
      process.exitCode = 1;
    } finally {
      await cleanup();
      for (const c of t.contexts) await c.close().catch(() => {});
      await browser.close();
    }
  };
  return t;
}

// Creates the first admin through the setup link; `onForm(page)` runs on the filled-in
// form, before it is sent.
export async function firstAdmin(page, base, token, email, password, onForm = async () => {}) {
  await page.goto(`${base}/setup#token=${token}`);
  await onForm(page);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("#setup-form button[type=submit]");
  await page.waitForURL((u) => new URL(u).pathname === "/");
}

// An admin's `page` adds a user with `role` in the users page.
export async function addUser(page, base, email, password, role) {
  await page.goto(`${base}/users`);
  await page.fill("#new-email", email);
  await page.fill("#new-password", password);
  await page.selectOption("#new-role", role);
  await page.click("form[action='/users'] button[type=submit]");
  await page.waitForURL(/\/users/);
}

// Where the top bar's parts (brand, menu, account, languages) start, in pixels from the
// top of the page: all about the same when the bar is one row.
export function topBarTops(page) {
  return page.evaluate(() =>
    [".top .brand", ".top .menu", ".top .me", ".top .langs"].map(
      (sel) => document.querySelector(sel).getBoundingClientRect().top));
}

// Signs in on /login, with a TOTP `code` when the account has 2FA.
export async function signIn(page, base, email, password, code) {
  await page.goto(`${base}/login`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("form[action='/login'] button[type=submit]");
  if (code) {
    await page.waitForURL(/\/login\/code/);
    await page.fill("#code", code);
    await page.click("form[action='/login/code'] button[type=submit]");
  }
  await page.waitForURL((u) => new URL(u).pathname === "/");
}

// Waits until the video `selector` in `frame` (a page or a frame) plays: a picture, and
// its clock moves on by more than a second. Returns what was seen.
export async function plays(frame, selector, timeout) {
  await frame.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && v.videoWidth > 0 && v.currentTime > 0.5;
  }, selector, { timeout });
  const first = await frame.evaluate((sel) => document.querySelector(sel).currentTime, selector);
  await frame.waitForFunction(([sel, t]) => document.querySelector(sel).currentTime > t + 1,
    [selector, first], { timeout });
  return frame.evaluate((sel) => {
    const v = document.querySelector(sel);
    return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, muted: v.muted };
  }, selector);
}

// Publishes ffmpeg's test picture (`size`, 25 fps) and, unless `audio` is false, a tone to
// `url` over RTMP for `secs` seconds, a keyframe every `gop` frames at `kbps` kbit/s of video.
export function publishTestStream(url, { secs, gop, kbps, size = "1280x720", audio = true }) {
  const tone = audio ? ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] : [];
  const aac = audio ? ["-c:a", "aac", "-b:a", "128k"] : ["-an"];
  return spawn("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=25`,
    ...tone,
    "-t", String(secs), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-g", String(gop), "-b:v", `${kbps}k`, ...aac,
    "-f", "flv", url,
  ], { stdio: ["ignore", "ignore", "inherit"] });
}
