"""The order stream: a steady rate of orders through the UI's nginx (one upstream of every
order-service instance), each retried with its own Idempotency-Key until it gets an answer,
so an order is either accepted exactly once or refused, never lost or doubled.
The mix, drawn from the seed: plenty-of-stock orders that confirm, orders of a scarce SKU
that runs out, orders declined by the payment service (the demo flag forcePaymentFailed, or
a total above the payment limit)."""
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

import topology as t

PAYMENT_LIMIT_CENTS = 100000  # the payment service's default EVENTIFY_PAYMENT_LIMIT_CENTS


class Catalog:
    """The products this run owns: created and stocked through the inventory API."""

    def __init__(self, seed, expected_orders):
        tag = f"{seed:x}".upper()[-8:] + uuid.uuid4().hex[:4].upper()
        self.plenty = f"SKU-CHAOS-{tag}-PLENTY"
        self.scarce = f"SKU-CHAOS-{tag}-SCARCE"
        self.prices = {self.plenty: 1000, self.scarce: 700}
        # the scarce SKU runs out after about a third of the orders that want it
        self.stock = {self.plenty: 1_000_000, self.scarce: max(10, expected_orders // 10)}

    def create(self):
        for sku, price in self.prices.items():
            r = requests.put(t.url("inventory", f"/products/{sku}"), headers=t.admin_headers(),
                             json={"name": sku, "priceCents": price, "currency": "EUR"}, timeout=10)
            r.raise_for_status()
            r = requests.post(t.url("inventory", f"/products/{sku}/stock-adjustments"),
                              headers=t.admin_headers() | {"Idempotency-Key": f"{sku}-initial"},
                              json={"delta": self.stock[sku], "reason": "chaos run stock"},
                              timeout=10)
            r.raise_for_status()
        # the order service prices a SKU once it projected its ProductUpserted
        for sku, price in self.prices.items():
            if not t.wait(lambda: t.sql("order", "SELECT price_cents FROM products WHERE sku = %s",
                                        sku) == [(price,)], 60):
                raise RuntimeError(f"the order service never learned {sku}")

    def draw(self, rng):
        """One order body and the outcome it aims at."""
        roll = rng.random()
        body = {"customerId": f"c-chaos-{rng.randint(1, 500)}"}
        if roll < 0.55:
            body["items"] = [{"sku": self.plenty, "quantity": rng.randint(1, 3)}]
            kind = "confirm"
        elif roll < 0.80:
            body["items"] = [{"sku": self.scarce, "quantity": rng.randint(1, 2)},
                             {"sku": self.plenty, "quantity": 1}]
            kind = "scarce"
        elif roll < 0.90:
            body["items"] = [{"sku": self.plenty, "quantity": 1}]
            body["forcePaymentFailed"] = True
            kind = "declined-flag"
        else:
            quantity = PAYMENT_LIMIT_CENTS // self.prices[self.plenty] + rng.randint(1, 20)
            body["items"] = [{"sku": self.plenty, "quantity": quantity}]
            kind = "declined-limit"
        return body, kind


class Load:
    def __init__(self, seed, rate, catalog, log, wait_for_prices=False):
        self.rng = random.Random(f"{seed}:load")
        self.rate = rate
        self.catalog = catalog
        self.log = log
        self.lock = threading.Lock()
        self.offered = 0
        self.accepted = {}   # orderId -> (body, kind)
        self.refused = []    # (status, text): definitive 4xx answers
        self.unanswered = []  # keys that got no answer before the give-up deadline
        self.attempts = 0
        # A new product reaches each order instance's price cache within a second: until
        # then "unknown_sku" is an answer to retry, in the warm-up only.
        self.wait_for_prices = wait_for_prices
        self.session = threading.local()

    def _http(self):
        if not hasattr(self.session, "s"):
            self.session.s = requests.Session()
        return self.session.s

    def _place(self, key, body, kind, give_up, base=None):
        while True:
            with self.lock:
                self.attempts += 1
            try:
                r = self._http().post(f"{base or t.WEB + '/api/order'}/orders", json=body,
                                      timeout=15, headers={"Idempotency-Key": key})
                if r.status_code in (200, 201):
                    with self.lock:
                        self.accepted[r.json()["orderId"]] = (body, kind)
                    return
                unknown = r.status_code == 422 and "unknown_sku" in r.text
                if 400 <= r.status_code < 500 and r.status_code not in (408, 429) and \
                        not (unknown and self.wait_for_prices):
                    with self.lock:
                        self.refused.append((r.status_code, r.text[:200]))
                    return
            except (requests.RequestException, ValueError):
                pass  # no answer: the same key again, so a retry never doubles the order
            if time.monotonic() > give_up:
                with self.lock:
                    self.unanswered.append(key)
                return
            time.sleep(0.5)

    def run(self, seconds, answer_within):
        """Offers rate orders a second for `seconds`; returns when every one was answered or
        gave up `answer_within` seconds after the end."""
        interval = 1.0 / self.rate
        start = time.monotonic()
        give_up = start + seconds + answer_within
        with ThreadPoolExecutor(max_workers=96) as pool:
            n = 0
            while True:
                due = start + n * interval
                if due >= start + seconds:
                    break
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                body, kind = self.catalog.draw(self.rng)
                pool.submit(self._place, f"chaos-{uuid.uuid4()}", body, kind, give_up)
                n += 1
                with self.lock:
                    self.offered = n
                if n % (self.rate * 10) == 0:
                    self.log(f"load: {n} offered, {len(self.accepted)} accepted")
        self.elapsed = time.monotonic() - start
