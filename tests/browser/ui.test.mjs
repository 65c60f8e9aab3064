// Browser tests of the web UI against the running stack (make test starts it): an order placed
// in the store becomes confirmed and shipped without a reload; an out-of-stock order shows
// cancelled with its reason; a dead letter is replayed from the Events page. Every wait is an
// expectation with a deadline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE,
  adminToken,
  answerTokenPrompts,
  launch,
  producePoison,
  shot,
  waitForText,
} from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function placeInStore(page, sku, customer) {
  await page.goto(`${BASE}/`);
  await page.getByTestId(`add-${sku}`).click();
  await page.getByTestId("customer").fill(customer);
  await shot(page, `store-${sku}`);
  await page.getByTestId("place-order").click();
  const link = page.getByTestId("placed-link");
  await link.waitFor({ timeout: 15000 });
  await link.click();
  await page.waitForURL(/\/orders\/view\/\?id=/, { timeout: 15000 });
  return new URL(page.url()).searchParams.get("id");
}

test("an order placed in the store becomes confirmed and shipped without a reload", async () => {
  const page = await browser.newPage();
  const navigations = [];
  const id = await placeInStore(page, "SKU-BLUE-CAP", "c-browser");
  page.on("framenavigated", (f) => f === page.mainFrame() && navigations.push(f.url()));
  assert.match(id, /^[0-9a-f-]{36}$/);
  await waitForText(page.getByTestId("order-status"), /SHIPPED/);
  assert.deepEqual(navigations, [], "the page reloaded");
  assert.equal(await page.getByTestId("step-inventory").getAttribute("data-state"), "done");
  assert.equal(await page.getByTestId("step-payment").getAttribute("data-state"), "done");
  assert.equal(await page.getByTestId("step-shipment").getAttribute("data-state"), "done");
  assert.ok((await page.getByTestId("timeline-event").count()) >= 5);
  await shot(page, "order-detail-shipped");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "order-detail-narrow");
  await page.goto(`${BASE}/orders/`);
  await page.locator(`[data-order-id="${id}"]`).waitFor({ timeout: 15000 });
  await shot(page, "orders");
  await page.close();
});

test("an out-of-stock order shows cancelled with its reason", async () => {
  const page = await browser.newPage();
  await placeInStore(page, "SKU-GREEN-HOODIE", "c-browser");
  await waitForText(page.getByTestId("order-status"), /CANCELLED/);
  const reason = await waitForText(page.getByTestId("cancel-reason"), /stock/i);
  assert.match(reason, /out of stock/i);
  assert.equal(await page.getByTestId("step-inventory").getAttribute("data-state"), "failed");
  assert.equal(await page.getByTestId("step-shipment").getAttribute("data-state"), "skipped");
  await shot(page, "order-detail-cancelled");
  await page.close();
});

/** Pages through one DLQ on the Events page, as a person would, until the letter of key shows
 * (it is newest first within its partition, which may not be the first one listed). */
async function findLetter(page, topic, key, timeout = 45000) {
  const row = page.locator(`[data-testid="dlq-row"][data-topic="${topic}"][data-key="${key}"]`);
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    await page.goto(`${BASE}/events/`);
    await page.getByTestId("dlq-topic").selectOption(topic);
    for (let pages = 0; pages < 50 && Date.now() < deadline; pages++) {
      try {
        await row.waitFor({ timeout: 1500 });
        return row;
      } catch {
        /* not on this page */
      }
      const next = page.getByTestId("next-page");
      if (!(await next.isEnabled())) break;
      await next.click();
    }
  }
  throw new Error(`the letter ${key} did not show in ${topic} within ${timeout} ms`);
}

test("a dead letter can be replayed from the Events page with the admin token", async () => {
  const key = producePoison();
  const page = await browser.newPage();
  const row = await findLetter(page, "inventory.dlq", key);
  await row.getByTestId("value-button").click();
  await waitForText(row.getByTestId("letter-value"), /not json/);
  await shot(page, "events");
  // a wrong token is refused and asked again; cancelling aborts the replay
  const refused = [];
  page.on("dialog", (d) => {
    refused.push(d.message());
    refused.length === 1 ? d.accept("not-the-token") : d.dismiss();
  });
  await row.getByTestId("replay-button").click();
  await waitForText(page.getByTestId("replay-notice"), /Replay failed: An admin token is needed/);
  assert.equal(refused.length, 2);
  // the right token: asked once, then kept for the tab
  page.removeAllListeners("dialog");
  const askedRight = answerTokenPrompts(page, adminToken());
  await row.getByTestId("replay-button").click();
  await waitForText(page.getByTestId("replay-notice"), /Replayed 1 dead letter/);
  assert.equal(askedRight.length, 1);
  const kept = await page.evaluate(() => sessionStorage.getItem("eventify-admin-token"));
  assert.equal(kept, adminToken(), "the token is kept for the tab");
  await page.close();
});

test("the dashboard and notifications pages render their data", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/dashboard/`);
  await waitForText(page.getByTestId("kpi-confirmed"), /^[1-9]\d*$/);
  await shot(page, "dashboard");
  await page.goto(`${BASE}/notifications/`);
  await page.getByTestId("notification").first().waitFor({ timeout: 15000 });
  await shot(page, "notifications");
  await page.close();
});
