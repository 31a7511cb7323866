// The admin's alerts page (issue #17), as steps of panel.mjs's run (the same Relevo and
// browser): «Alertas» in the top bar, which stays one row on a 1280-pixel screen; a rule
// and a signed webhook created with the forms and listed, the secret never written back
// into the page; a refused threshold shown on its field; the page on a phone.

import { join } from "node:path";
import { assert } from "./lib.mjs";

// The top of every item of the top bar's menu, in pixels: all the same in one row.
const menuTops = (page) => page.evaluate(() =>
  [...document.querySelectorAll(".top .menu a")].map((a) => Math.round(a.getBoundingClientRect().top)));

export async function alertsSteps({ t, admin, BASE, SHOTS }) {
  const { step, newPage } = t;
  const SECRET = "e2e-hmac-secret-1";

  await step("«Alertas» in the top bar, which stays one row at 1280 px in both languages", async () => {
    const laptop = await newPage({ width: 1280, height: 800 });
    await laptop.context().addCookies(await admin.context().cookies());
    for (const lang of ["es", "en"]) {
      await laptop.goto(`${BASE}/lang/${lang}`);
      await laptop.goto(`${BASE}/alerts`);
      const link = laptop.locator(".top .menu a[href='/alerts']");
      assert(await link.getAttribute("aria-current") === "page", `${lang}: the alerts link is current`);
      const tops = await menuTops(laptop);
      assert(tops.length >= 7, `${lang}: every admin link is in the menu (${tops.length})`);
      assert(new Set(tops).size === 1, `${lang}: the menu is one row (item tops ${tops.join(", ")} px)`);
      const bar = await laptop.evaluate(() => document.querySelector(".top").getBoundingClientRect().height);
      assert(bar < 70, `${lang}: the top bar is one row high (${bar} px)`);
    }
    await laptop.goto(`${BASE}/lang/es`);
    await laptop.screenshot({ path: join(SHOTS, "alerts-1280.png") });
    await laptop.close();
  });

  await step("an input-down rule with the form; a refused threshold on its field", async () => {
    await admin.goto(`${BASE}/alerts`);
    await admin.click("#new-rule summary");
    await admin.fill("#r0-name", "Estudio caído");
    await admin.selectOption("#r0-condition", "low_bitrate");
    await admin.fill("#r0-input", "estudio-a");
    await admin.fill("#r0-threshold", "0,5"); // under the 1 kbit/s minimum
    await admin.click("form[action='/alerts/rules'] button[type=submit]");
    assert(await admin.getAttribute("#r0-threshold", "aria-invalid") === "true", "the threshold is marked");
    const err = await admin.locator("#r0-threshold ~ .field-error").textContent();
    assert(err.includes("1 000 000"), `the error says the range: ${err}`);
    assert(await admin.inputValue("#r0-name") === "Estudio caído", "the form keeps what was typed");
    await admin.selectOption("#r0-condition", "input_down");
    await admin.fill("#r0-threshold", "");
    await admin.fill("#r0-for", "15");
    await Promise.all([
      admin.waitForURL(/\/alerts\?ok=created/),
      admin.click("form[action='/alerts/rules'] button[type=submit]"),
    ]);
    const row = admin.locator("#rules tbody tr").first();
    const text = await row.textContent();
    for (const want of ["Estudio caído", "Entrada sin señal", "estudio-a", "15 s", "Activa"]) {
      assert(text.includes(want), `the rule's row shows ${want}: ${text}`);
    }
  });

  await step("a signed webhook with the form: listed, its secret never sent back to the page", async () => {
    await admin.click("#new-webhook summary");
    await admin.fill("#c0webhook-name", "Guardia");
    // Nobody listens on port 9 of loopback: the test message fails at once.
    await admin.fill("#c0webhook-url", "http://127.0.0.1:9/relevo");
    await admin.fill("#c0webhook-secret", SECRET);
    assert(await admin.getAttribute("#c0webhook-secret", "type") === "password", "a password field");
    await Promise.all([
      admin.waitForURL(/\/alerts\?ok=created/),
      admin.click("#new-webhook button[type=submit]"),
    ]);
    const row = admin.locator("#channels tbody tr").first();
    const text = await row.textContent();
    assert(text.includes("Guardia") && text.includes("http://127.0.0.1:9/relevo"), `listed: ${text}`);
    assert(text.includes("firmado"), `marked as signed: ${text}`);
    assert(!(await admin.content()).includes(SECRET), "the secret is not in the page");
    await row.locator("summary").click();
    const secret = row.locator("input[name=secret]");
    assert(await secret.inputValue() === "", "the secret's field is empty");
    assert((await secret.getAttribute("placeholder")).includes("••••"), "it says one is saved");
    // Saving the form without touching the secret keeps it (the API sends it back masked).
    await row.locator("input[name=name]").fill("Guardia nocturna");
    await Promise.all([
      admin.waitForURL(/\/alerts\?ok=saved/),
      row.locator("form.stack button[type=submit]").click(),
    ]);
    const again = await admin.locator("#channels tbody tr").first().textContent();
    assert(again.includes("Guardia nocturna") && again.includes("firmado"), `still signed: ${again}`);
    await admin.screenshot({ path: join(SHOTS, "alerts.png"), fullPage: true });
  });

  await step("«Enviar prueba» shows why a message was not delivered", async () => {
    const row = admin.locator("#channels tbody tr").first();
    await row.locator("form[action$='/test'] button").click();
    const result = admin.locator("#channels .test-result");
    await result.waitFor();
    const text = await result.textContent();
    assert(text.includes("no se ha entregado"), `the failure is shown: ${text}`);
  });

  await step("the alerts page on a phone: no sideways scrolling", async () => {
    const phone = await newPage({ width: 390, height: 844 });
    await phone.context().addCookies(await admin.context().cookies());
    await phone.goto(`${BASE}/alerts`);
    await phone.click("#new-email summary");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 1, `no sideways scrolling on a phone (${overflow} px too wide)`);
    await phone.screenshot({ path: join(SHOTS, "alerts-phone.png"), fullPage: true });
    await phone.close();
  });
}
