// Browser test of the store under overload (docs/overload.md): with the orchestrator stopped the
// backlog of unfinished orders grows past the stack's threshold and POST /orders answers 429;
// the store then says the shop is busy with a countdown, and once the orchestrator is back the
// same order goes through. The orchestrator is started again in a finally.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BASE, adminToken, launch, shot, waitForText } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN = process.env.EVENTIFY_RUN_DIR ?? path.join(here, "..", "..", ".run");
const MIN_BACKLOG = Number(process.env.EVENTIFY_ADMISSION_MIN_BACKLOG ?? "50");
const SKU = `SKU-BUSY-${randomUUID().slice(0, 8).toUpperCase()}`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function supervisorctl(...args) {
  execFileSync("supervisorctl", ["-c", path.join(RUN, "supervisor", "supervisord.conf"), ...args], { timeout: 120000 });
}

async function until(what, timeout, fn) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn().catch((e) => e);
    if (last && !(last instanceof Error)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

async function inventory(method, route, body, key) {
  const headers = { Authorization: `Bearer ${adminToken()}`, "Content-Type": "application/json" };
  if (key) headers["Idempotency-Key"] = key;
  const r = await fetch(`${BASE}/api/inventory${route}`, { method, headers, body: JSON.stringify(body) });
  assert.ok(r.ok, `${method} ${route}: ${r.status} ${await r.text()}`);
}

function order() {
  return fetch(`${BASE}/api/order/orders`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": randomUUID() },
    body: JSON.stringify({ customerId: "c-busy", items: [{ sku: SKU, quantity: 1 }] }),
  });
}

test("the store says the shop is busy on 429 and places the order once it is not", async () => {
  await inventory("PUT", `/products/${SKU}`, { name: "Busy widget", priceCents: 500, currency: "EUR" });
  await inventory("POST", `/products/${SKU}/stock-adjustments`, { delta: 10000, reason: "busy test" }, randomUUID());
  await until("the order service to price the product", 30000, async () => (await order()).status === 201);
  const page = await browser.newPage();
  await page.goto(`${BASE}/`);
  await page.getByTestId(`add-${SKU}`).waitFor({ timeout: 30000 });
  supervisorctl("stop", "services:orchestrator");
  try {
    for (let i = 0; i < MIN_BACKLOG; i++) assert.equal((await order()).status, 201);
    await until("POST /orders to refuse", 60000, async () => (await order()).status === 429);
    await page.getByTestId(`add-${SKU}`).click();
    await page.getByTestId("customer").fill("c-busy");
    await page.getByTestId("place-order").click();
    await waitForText(page.getByTestId("place-busy"), /busy right now: trying your order again in \d+ s/, 15000);
    await shot(page, "store-busy");
  } finally {
    supervisorctl("start", "services:orchestrator");
  }
  // The store retries by itself a few times; if the backlog drained only after those, the
  // customer is told to try again and does.
  await until("the order to be placed", 120000, async () => {
    if (await page.getByTestId("placed").isVisible()) return true;
    const error = page.getByTestId("place-error");
    if (await error.isVisible()) {
      assert.match((await error.textContent()) ?? "", /busy: try again in \d+ s/);
      await page.getByTestId("place-order").click();
    }
    return false;
  });
  await shot(page, "store-placed-after-busy");
  await page.close();
});
