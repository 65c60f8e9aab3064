// Browser test of the Kafka UI in the Events section against the running stack: the
// overview (brokers and controller, topics, consumer groups), a topic's page (partitions,
// configs, a test message produced with the admin token, then found again by offset, by
// time and by search, its value pretty-printed; a late answer never replaces a later one) and
// a consumer group's page (members, assignments, lag). Every wait is an expectation with a
// deadline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BASE, adminToken, answerTokenPrompts, launch, shot, waitForText } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Polls until locator matches at least n elements. */
async function waitForCount(locator, n, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let count = 0;
  while ((count = await locator.count()) < n) {
    assert.ok(Date.now() < deadline, `expected ${n} elements, saw ${count}`);
    await locator.page().waitForTimeout(200);
  }
  return count;
}

test("the overview shows the brokers with the controller, the topics and the consumer groups", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/events/`);
  await waitForText(page.getByTestId("cluster"), /controller broker \d+/);
  await waitForText(page.getByTestId("broker").first(), /controller/);
  const row = page.locator('[data-testid="topic-row"][data-topic="orders.events"]');
  await waitForText(row, /orders\.events\s*events\s*3/);
  await waitForText(page.locator('[data-testid="group-row"][data-group="read-model"]'), /read-model\s*Stable/);
  await shot(page, "kafka-overview");
  await row.getByRole("link", { name: "orders.events" }).click();
  await page.waitForURL(/\/events\/topic\/\?name=orders\.events/, { timeout: 15000 });
  await waitForCount(page.getByTestId("partition-row"), 3);
  await page.close();
});

test("a topic's page shows partitions and configs, produces a test message and finds it again", async () => {
  const page = await browser.newPage();
  const asked = answerTokenPrompts(page, adminToken());
  const key = `kafka-ui-${randomUUID()}`;
  await page.goto(`${BASE}/events/topic/?name=orders.events`);
  await waitForCount(page.getByTestId("partition-row"), 3);
  assert.match(await page.getByTestId("partition-row").first().textContent(), /^0\s*broker \d+/);
  // every setting, then only the ones set on purpose
  await page.getByTestId("configs-only-set").uncheck();
  await page.locator('[data-testid="config-row"][data-name="retention.ms"]').waitFor({ timeout: 15000 });

  await page.getByTestId("produce-key").fill(key);
  await page.getByTestId("produce-partition").selectOption("2");
  await page.getByTestId("produce-value").fill(`{"hello":"${key}","items":[1,2]}`);
  await page.getByTestId("produce-headers").fill("note: from the browser");
  // a little before the message, for the by-time browse below: other tests write large
  // messages to this topic, so "a minute ago" could be more than a browse's byte bound away
  const producedAfter = new Date(Date.now() - 2000);
  await page.getByTestId("produce").click();
  const notice = await waitForText(page.getByTestId("produce-notice"), /Produced to orders\.events\[2\] at offset \d+/);
  assert.equal(asked.length, 1, "the admin token is asked for once");
  const offset = Number(/offset (\d+)/.exec(notice)[1]);

  // by offset
  await page.getByTestId("browse-partition").selectOption("2");
  await page.getByTestId("browse-from").selectOption("offset");
  await page.getByTestId("browse-offset").fill(String(offset));
  await page.getByTestId("browse").click();
  const message = page.locator(`[data-testid="message"][data-offset="${offset}"]`);
  await waitForText(message.getByTestId("message-value"), new RegExp(`"hello": "${key}",\\n  "items": \\[`));
  await waitForText(message.getByTestId("message-headers"), /note: from the browser · x-eventify-test-message: ui/);
  assert.equal(await message.getAttribute("data-key"), key);
  await shot(page, "kafka-topic");

  // by time: from just before it was produced, the message is among the first found
  await page.getByTestId("browse-from").selectOption("time");
  const local = new Date(producedAfter.getTime() - producedAfter.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  await page.getByTestId("browse-time").fill(local);
  await page.getByTestId("browse").click();
  await waitForText(page.getByTestId("browse-status"), /read \d+ from offset/);
  await message.waitFor({ timeout: 15000 });

  // by search, over a window from the message on (a window from the partition's start could
  // stop at the byte bound before reaching it: the large messages of the security tests)
  await page.getByTestId("browse-from").selectOption("offset");
  await page.getByTestId("browse-offset").fill(String(offset));
  await page.getByTestId("browse-search").fill(key);
  await page.getByTestId("browse").click();
  await waitForText(page.getByTestId("browse-status"), /1 shown/);
  await message.waitFor({ timeout: 15000 });
  await page.getByTestId("browse-search").fill(`nothing-${randomUUID()}`);
  await page.getByTestId("browse").click();
  await waitForText(page.getByTestId("browse-status"), /0 shown/);
  await page.close();
});

test("a browse answered before the first page keeps its messages", async () => {
  const page = await browser.newPage();
  // The first page (partition 0's latest messages, megabytes when they are large) is held
  // back until a browse asked after it has been shown, as on a busy machine.
  let release;
  const released = new Promise((resolve) => (release = resolve));
  await page.route(/\/messages\?partition=0&limit=20$/, async (route) => {
    const answer = await route.fetch();
    await released;
    await route.fulfill({ response: answer });
  });
  await page.goto(`${BASE}/events/topic/?name=orders.events`);
  await waitForCount(page.getByTestId("partition-row"), 3);
  await page.getByTestId("browse-partition").selectOption("1");
  await page.getByTestId("browse").click();
  await waitForText(page.getByTestId("browse-status"), /^Partition 1 holds/);

  const late = page.waitForResponse((r) => /messages\?partition=0&/.test(r.url()));
  release();
  await (await late).finished();
  // two frames: time for the page to handle the late answer and draw whatever it does with it
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  assert.match(await page.getByTestId("browse-status").textContent(), /^Partition 1 holds/);
  await page.close();
});

test("a bad browse position gets a clear message", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/events/topic/?name=orders.events`);
  await page.getByTestId("browse-from").selectOption("offset");
  await page.getByTestId("browse-offset").fill("-5");
  await page.getByTestId("browse").click();
  await waitForText(page.getByTestId("browse-error"), /whole number/);
  await page.goto(`${BASE}/events/topic/?name=no-such-topic`);
  await waitForText(page.getByTestId("topic-error"), /no topic no-such-topic/);
  await page.close();
});

test("a consumer group's page shows its members, assignments and lag per partition", async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/events/`);
  await page.locator('[data-testid="group-row"][data-group="read-model"]').getByRole("link").click();
  await page.waitForURL(/\/events\/group\/\?id=read-model/, { timeout: 15000 });
  await waitForText(page.getByTestId("group-summary"), /state Stable .* 1 member\(s\) · total lag \d+/);
  await waitForText(page.getByTestId("member-row").first(), /orders\.events\[0\]/);
  await waitForCount(page.getByTestId("lag-row"), 3);
  await shot(page, "kafka-group");
  await page.goto(`${BASE}/events/group/?id=no-such-group`);
  await waitForText(page.getByTestId("group-error"), /no consumer group/);
  await page.close();
});
