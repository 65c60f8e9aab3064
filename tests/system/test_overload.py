"""Overload as a deliberate choice (docs/overload.md): while the orders placed earlier wait for
their outcome longer than EVENTIFY_ADMISSION_MAX_DELAY_MS, POST /orders answers 429 with
Retry-After, stores nothing, and still answers a retry of an accepted order with that order;
once the backlog drains it admits again. The backlog is made deterministically by stopping the
orchestrator (no saga decides, every order stays PENDING); it is started again in a finally."""
import os
import uuid

import pytest
import requests

from conftest import (WEB_URL, place_order, ready, sql, supervisorctl, url, wait_final,
                      wait_until)

# Stops the orchestrator under supervisor: the local stack only (not make compose-test).
pytestmark = pytest.mark.local_stack

# The test stack's threshold (Makefile TEST_ENV) and the service's default rank.
MAX_DELAY_S = int(os.environ.get("EVENTIFY_ADMISSION_MAX_DELAY_MS", "5000")) / 1000
MIN_BACKLOG = int(os.environ.get("EVENTIFY_ADMISSION_MIN_BACKLOG", "50"))


def post(line, key, base=None):
    target = f"{base}/api/order/orders" if base else url("order", "/orders")
    return requests.post(target, json={"customerId": "c-overload", "items": line},
                         headers={"Idempotency-Key": key}, timeout=10)


def stored(key):
    return sql("order", "SELECT id FROM orders WHERE idempotency_key = %s", key)


def test_backlog_older_than_the_threshold_refuses_then_drains_and_admits(sku):
    line = [{"sku": sku, "quantity": 1}]
    first_key = f"overload-{uuid.uuid4()}"
    accepted = []
    assert supervisorctl("stop", "services:orchestrator").returncode == 0
    try:
        first = place_order(line, customer="c-overload", headers={"Idempotency-Key": first_key})
        accepted.append(first["orderId"])
        accepted += [place_order(line, customer="c-overload")["orderId"] for _ in range(MIN_BACKLOG)]

        def refused():
            r = post(line, f"overload-{uuid.uuid4()}")
            assert r.status_code in (201, 429), r.text
            if r.status_code == 201:
                accepted.append(r.json()["orderId"])
                return None
            return [r]  # a list: a 429 Response is falsy
        busy, = wait_until(refused, MAX_DELAY_S + 30, "POST /orders to refuse", interval=0.5)
        retry_after = int(busy.headers["Retry-After"])
        assert 1 <= retry_after <= 30
        assert busy.json()["error"]["code"] == "overloaded"
        assert f"{retry_after} s" in busy.json()["error"]["message"]

        # A refused order is not stored, and the UI's proxy passes the refusal through.
        key = f"overload-{uuid.uuid4()}"
        via_web = post(line, key, base=WEB_URL)
        assert via_web.status_code == 429, via_web.text
        assert int(via_web.headers["Retry-After"]) >= 1
        assert not stored(key)

        # The retry of an order accepted before gets its original answer, not 429 ...
        again = post(line, first_key)
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["orderId"] == first["orderId"]
        # ... and a key reused for another order is still told so.
        other = post([{"sku": sku, "quantity": 2}], first_key)
        assert other.status_code == 422, other.text
    finally:
        supervisorctl("start", "services:orchestrator")
        wait_until(lambda: ready("orchestrator"), 60, "the orchestrator back")

    def admitted():
        r = post(line, f"overload-{uuid.uuid4()}")
        assert r.status_code in (201, 429), r.text
        return r.json()["orderId"] if r.status_code == 201 else None
    accepted.append(wait_until(admitted, 90, "POST /orders to admit again", interval=0.5))
    for order_id in accepted:
        assert wait_final(order_id, timeout=90)["status"] == "CONFIRMED"
