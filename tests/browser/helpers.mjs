// Shared set-up for the browser tests: Debian's chromium through playwright-core (no browser
// download), the UI on EVENTIFY_WEB_URL, screenshots into artifacts/ to look at afterwards.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BASE = process.env.EVENTIFY_WEB_URL ?? "http://localhost:3000";
const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.join(here, "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

const RUN = process.env.EVENTIFY_RUN_DIR ?? path.join(here, "..", "..", ".run");

/** The admin token the stack generated (.run/secrets/admin-token). */
export function adminToken() {
  return readFileSync(path.join(RUN, "secrets", "admin-token"), "utf8").trim();
}

/** Answers the UI's admin-token question with `token`; returns the questions asked. */
export function answerTokenPrompts(page, token) {
  const asked = [];
  page.on("dialog", (dialog) => {
    asked.push(dialog.message());
    dialog.type() === "prompt" ? dialog.accept(token) : dialog.dismiss();
  });
  return asked;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Produces a message that no consumer can decode: it lands in the DLQs. */
export function producePoison() {
  const key = `poison-${randomUUID()}`;
  execFileSync("kcat", ["-P", "-b", process.env.EVENTIFY_KAFKA_BROKERS ?? "localhost:9092", "-t", "orders.events", "-k", key],
    { input: "not json" });
  return key;
}

// Polls a locator's text until it matches, so a live page has time to catch up.
export async function waitForText(locator, pattern, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.textContent().catch(() => "")) ?? "";
    if (pattern.test(last)) return last;
    await locator.page().waitForTimeout(200);
  }
  throw new Error(`timed out waiting for ${pattern} (last: "${last}")`);
}
