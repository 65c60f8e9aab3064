// Browser test of the Admin page against the running stack: a product added there (with the
// admin token typed once) appears in the store and can be ordered; its stock history then
// shows the receipt and the reservation. Every wait is an expectation with a deadline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BASE, adminToken, launch, shot, waitForText } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("a product added on the Admin page appears in the store and can be ordered", async () => {
  const sku = `SKU-UI-${randomUUID().slice(0, 8).toUpperCase()}`;
  const page = await browser.newPage();
  await page.goto(`${BASE}/admin/`);
  await page.getByTestId("admin-token").fill(adminToken());
  await page.getByTestId("admin-token-save").click();
  await page.getByTestId("new-sku").fill(sku);
  await page.getByTestId("new-name").fill("Browser mug");
  await page.getByTestId("new-price").fill("7.25");
  await page.getByTestId("new-stock").fill("4");
  await page.getByTestId("add-product").click();
  await page.getByTestId("admin-notice").waitFor({ timeout: 15000 });
  await page.getByTestId(`admin-row-${sku}`).waitFor({ timeout: 30000 });
  await shot(page, "admin");

  // the token stays for the tab: a reload does not ask again
  await page.reload();
  await page.getByTestId("new-sku").waitFor({ timeout: 15000 });

  await page.goto(`${BASE}/`);
  const card = page.getByTestId(`product-${sku}`);
  await card.waitFor({ timeout: 30000 });
  assert.match(await card.textContent(), /7\.25/);
  // the stock arrives through inventory.events, possibly after the product itself
  await waitForText(card.getByTestId("stock"), /4 in stock/);
  await page.getByTestId(`add-${sku}`).click();
  await page.getByTestId("customer").fill("c-browser-admin");
  // the order service learns of a product from catalog.events: until then it answers 422
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.getByTestId("place-order").click();
    const outcome = await Promise.race([
      page.getByTestId("placed-link").waitFor({ timeout: 10000 }).then(() => "placed"),
      page.getByTestId("place-error").waitFor({ timeout: 10000 }).then(() => "error"),
    ]);
    if (outcome === "placed") break;
    assert.ok(Date.now() < deadline, await page.getByTestId("place-error").textContent());
    await page.waitForTimeout(500);
  }
  await page.getByTestId("placed-link").click();
  await page.waitForURL(/\/orders\/view\/\?id=/, { timeout: 15000 });
  await waitForText(page.getByTestId("order-status"), /SHIPPED/);

  await page.goto(`${BASE}/admin/`);
  await page.getByTestId(`history-toggle-${sku}`).click();
  const movements = page.getByTestId(`history-${sku}`).getByTestId("movement");
  const end = Date.now() + 30000;
  while ((await movements.count()) < 2) {
    assert.ok(Date.now() < end, "the history did not show the receipt and the reservation");
    await page.waitForTimeout(200);
  }
  const text = await page.getByTestId(`history-${sku}`).textContent();
  assert.match(text, /received/);
  assert.match(text, /reserved/);
  await waitForText(page.getByTestId(`levels-${sku}`), /3 available · 1 reserved/);
  await shot(page, "admin-history");
  await page.close();
});

test("the store's simulate control makes a declined payment happen", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/`);
  await page.getByTestId("add-SKU-BLUE-CAP").click();
  await page.getByTestId("customer").fill("c-browser-demo");
  await page.getByTestId("simulate-declined").check();
  await page.getByTestId("place-order").click();
  await page.getByTestId("placed-link").click();
  await page.waitForURL(/\/orders\/view\/\?id=/, { timeout: 15000 });
  await waitForText(page.getByTestId("cancel-reason"), /payment/i);
  await shot(page, "simulate-declined");
  await page.close();
});
