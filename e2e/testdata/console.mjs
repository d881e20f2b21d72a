// Drives the console in headless Chromium (playwright-core): signs in,
// opens a principal, reads its plot, reviews its alert from the queue and
// reads the record again. Prints what it saw as one JSON object.
//
//   node console.mjs URL TOKEN PRINCIPAL SCREENSHOT_DIR
// with PLAYWRIGHT_DIR the node_modules directory holding playwright-core
// and CHROMIUM the browser's path.
import { createRequire } from "module";

const [url, token, principal, shots] = process.argv.slice(2);
const require = createRequire(process.env.PLAYWRIGHT_DIR + "/");
const { chromium } = require("playwright-core");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
const out = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  await page.goto(url + "/ui");
  await page.fill("#token", token);
  await page.click("#login-form button");
  await page.waitForSelector("#nav:not([hidden])");
  out.who = await page.textContent("#who");

  await page.fill("#principal-id", principal);
  await page.click("#principal-form button");
  await page.waitForSelector("#history canvas");
  out.points = Number(await page.getAttribute("#history", "data-points"));
  out.alertsBefore = await page.getAttribute("#history", "data-alerts");
  out.score = await page.textContent("#score");
  out.bars = await page.locator("#breakdown .bar").count();
  await page.screenshot({ path: shots + "/principal.png", fullPage: true });

  await page.click("nav button[data-view=alerts]");
  await page.waitForSelector("#alerts-table tbody tr");
  out.openAlerts = await page.locator("#alerts-table tbody tr").count();
  await page.screenshot({ path: shots + "/alerts.png", fullPage: true });
  await page.click("#alerts-table tbody tr:first-child button[data-action=confirm-safe]");
  await page.waitForFunction((n) => document.querySelectorAll("#alerts-table tbody tr").length < n, out.openAlerts);
  out.openAlertsAfter = await page.locator("#alerts-table tbody tr").count();

  await page.click("nav button[data-view=principal]");
  await page.waitForFunction((before) => document.getElementById("history").dataset.alerts !== before, out.alertsBefore);
  out.alertsAfter = await page.getAttribute("#history", "data-alerts");

  await page.click("nav button[data-view=decide]");
  await page.fill("#decide-principal", principal);
  await page.click("#decide-form button");
  await page.waitForFunction(() => document.getElementById("decide-result").textContent.includes("decision"));
  out.decision = JSON.parse(await page.textContent("#decide-result")).decision;
  await page.screenshot({ path: shots + "/decision.png", fullPage: true });
} catch (e) {
  out.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
