// Browser test of the dashboard's live metrics: after orders are placed (through the UI's own
// origin), the charts fed by Prometheus' query API show real data: order throughput and
// handled events above zero, consumer lag, a saga p99 and the DLQ size drawn from samples.
// Prometheus scrapes every 5 s and the page polls every 5 s: each wait has a deadline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, shot } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function placeOrder() {
  const res = await fetch(`${BASE}/api/order/orders`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ customerId: "c-metrics", items: [{ sku: "SKU-BLUE-CAP", quantity: 1 }] }),
  });
  assert.equal(res.status, 201, await res.text());
}

/** Waits until the chart's data attributes satisfy ok; returns them. */
async function waitForChart(page, id, ok, timeout = 60000) {
  const chart = page.getByTestId(`chart-${id}`);
  const deadline = Date.now() + timeout;
  let last = null;
  while (Date.now() < deadline) {
    last = await chart
      .evaluate((el) => ({
        points: Number(el.dataset.points),
        last: Number(el.dataset.last),
        peak: Number(el.dataset.peak),
        lines: el.querySelectorAll("svg polyline").length,
      }))
      .catch(() => null);
    if (last && ok(last)) return last;
    await page.waitForTimeout(500);
  }
  throw new Error(`timed out waiting for chart ${id} (last: ${JSON.stringify(last)})`);
}

test("the dashboard charts live figures from Prometheus after orders", async () => {
  for (let i = 0; i < 5; i++) await placeOrder();
  const page = await browser.newPage();
  await page.goto(`${BASE}/dashboard/`);
  const drawn = (c) => c.points >= 2 && c.lines >= 1;
  await waitForChart(page, "throughput", (c) => drawn(c) && c.peak > 0);
  await waitForChart(page, "events", (c) => drawn(c) && c.peak > 0);
  await waitForChart(page, "saga-p99", (c) => drawn(c) && c.peak > 0);
  const lag = await waitForChart(page, "lag", drawn);
  assert.ok(lag.last >= 0);
  const dlq = await waitForChart(page, "dlq", drawn);
  assert.ok(dlq.last >= 0);
  await shot(page, "dashboard-metrics");
  await page.close();
});
