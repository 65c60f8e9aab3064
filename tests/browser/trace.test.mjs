// Browser test of the order's trace on its page: an order placed in the store shows, once
// shipped, a waterfall of its one trace with spans of at least six services, whose id is the
// order's correlation id (the trace backend's query API, proxied by the UI's nginx).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, shot, waitForText } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the order page draws the order's trace across the services", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/`);
  await page.getByTestId("add-SKU-BLUE-CAP").click();
  await page.getByTestId("customer").fill("c-browser-trace");
  await page.getByTestId("place-order").click();
  const link = page.getByTestId("placed-link");
  await link.waitFor({ timeout: 15000 });
  await link.click();
  await page.waitForURL(/\/orders\/view\/\?id=/, { timeout: 15000 });
  await waitForText(page.getByTestId("order-status"), /SHIPPED/);
  // spans of the order, inventory, payment, orchestrator, shipping, notification and read model
  await waitForText(page.getByTestId("trace-services"), /^([6-9]|\d\d)$/, 45000);
  const correlation = (await page.getByTestId("correlation-id").textContent()).replaceAll("-", "");
  const traceId = await page.getByTestId("trace-waterfall").getAttribute("data-trace-id");
  assert.equal(traceId, correlation);
  assert.ok((await page.getByTestId("trace-span").count()) >= 15);
  const href = await page.getByTestId("trace-link").getAttribute("href");
  const raw = await page.evaluate(async (u) => (await fetch(u)).json(), href);
  assert.equal(raw.data[0].traceID, traceId);
  await page.getByTestId("trace").scrollIntoViewIfNeeded();
  await shot(page, "order-trace");
  await page.close();
});
