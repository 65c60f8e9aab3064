"""Products and stock as data owned by the inventory service and carried by events: the admin
API (token on every write), the order service pricing from its own projection of
catalog.events, restocking, write-offs, idempotent adjustments, the read model's products
and stock history, and the demo controls of POST /orders. Every test ends with the stock
ledger checked."""
import concurrent.futures
import os
import subprocess
import uuid

import pytest
import requests

from conftest import (BROKERS, PORTS, ROOT, add_sku, adjust_stock, admin_headers,
                      assert_invariants, assert_stock_ledger, end_offsets, events_of,
                      instance_env, order_service_prices, place_order, put_product, read_since, sql, stock,
                      supervisorctl, url, wait_final, wait_until)


def new_sku(prefix="SKU-CAT"):
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def product(sku):
    r = requests.get(url("inventory", f"/products/{sku}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def projected(sku):
    """The product as the read model lists it in /api/catalog, or None."""
    items = requests.get(url("read-model", "/api/catalog"), timeout=5).json()
    return next((p for p in items if p["sku"] == sku), None)


def history(sku):
    r = requests.get(url("read-model", f"/api/products/{sku}/history"), timeout=5)
    return r.json() if r.status_code == 200 else None


def read_model_agrees(sku):
    """The read model's product equals the inventory service's (price and stock)."""
    mine, theirs = product(sku), projected(sku)
    keys = ("name", "priceCents", "currency", "revision", "available", "reserved", "onHand")
    return mine and theirs and all(mine[k] == theirs[k] for k in keys)


def assert_conserved(sku):
    """On hand = every adjustment applied to the SKU = available + reserved; reserved = units
    of live reservations (the ledger of every SKU); the read model says the same."""
    p = product(sku)
    applied = sql("inventory", "SELECT coalesce(sum(delta), 0) FROM stock_adjustments"
                               " WHERE sku = %s", sku)[0][0]
    assert p["onHand"] == applied == p["available"] + p["reserved"], (p, applied)
    assert_stock_ledger()
    wait_until(lambda: read_model_agrees(sku), 30, f"the read model to agree on {sku}")


# --- the admin API ----------------------------------------------------------------------------

def test_every_write_without_the_token_is_refused():
    sku = new_sku()
    writes = [
        ("PUT", f"/products/{sku}", {"name": "Nope", "priceCents": 100}),
        ("POST", f"/products/{sku}/stock-adjustments", {"delta": 5, "reason": "restock"}),
        ("POST", "/products/SKU-RED-TSHIRT/stock-adjustments", {"delta": 5, "reason": "x"}),
        ("PUT", "/products/SKU-RED-TSHIRT", {"name": "Free T-shirt", "priceCents": 0}),
    ]
    before = stock()
    for method, path, body in writes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            r = requests.request(method, url("inventory", path), json=body, headers=headers,
                                 timeout=5)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["code"]
    assert product(sku) is None
    assert product("SKU-RED-TSHIRT")["name"] == "Red T-shirt"
    assert stock()["SKU-RED-TSHIRT"]["initial"] == before["SKU-RED-TSHIRT"]["initial"]


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "priceCents": 100, "colour": "red"}, "colour"),
    ({"priceCents": 100}, "name"),
    ({"name": "", "priceCents": 100}, "name"),
    ({"name": "a\u0007b", "priceCents": 100}, "name"),
    ({"name": "x" * 101, "priceCents": 100}, "name"),
    ({"name": "X", "priceCents": -1}, "priceCents"),
    ({"name": "X", "priceCents": 12.5}, "priceCents"),
    ({"name": "X", "priceCents": "100"}, "priceCents"),
    ({"name": "X", "priceCents": 100000001}, "priceCents"),
    ({"name": "X", "priceCents": 100, "currency": "euro"}, "currency"),
])
def test_bad_product_bodies_are_400_naming_the_field(body, field):
    sku = new_sku()
    r = requests.put(url("inventory", f"/products/{sku}"), json=body, headers=admin_headers(),
                     timeout=5)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]
    assert product(sku) is None


@pytest.mark.parametrize("sku", ["sku-lower", "SKU WITH SPACE", "X", "-SKU", "S" * 65])
def test_bad_skus_are_400(sku):
    r = requests.put(url("inventory", f"/products/{requests.utils.quote(sku)}"),
                     json={"name": "X", "priceCents": 1}, headers=admin_headers(), timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_sku", r.text


def test_bad_adjustments_are_refused_clearly(sku):
    before = product(sku)
    cases = [({"delta": 0, "reason": "x"}, 400, "delta"),
             ({"delta": 1000001, "reason": "x"}, 400, "delta"),
             ({"delta": -1000001, "reason": "x"}, 400, "delta"),
             ({"delta": 1.5, "reason": "x"}, 400, "delta"),
             ({"delta": 5}, 400, "reason"),
             ({"delta": 5, "reason": ""}, 400, "reason"),
             ({"delta": 5, "reason": "x", "sku": "SKU-OTHER"}, 400, "sku")]
    for body, status, field in cases:
        r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"), json=body,
                          headers=admin_headers(), timeout=5)
        assert r.status_code == status and field in r.json()["error"]["message"], (body, r.text)
    r = requests.post(url("inventory", f"/products/{new_sku()}/stock-adjustments"),
                      json={"delta": 5, "reason": "x"}, headers=admin_headers(), timeout=5)
    assert r.status_code == 404 and "PUT /products" in r.json()["error"]["message"]
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"),
                      json={"delta": 5, "reason": "x"},
                      headers=admin_headers() | {"Idempotency-Key": "has space"}, timeout=5)
    assert r.status_code == 400
    assert product(sku)["onHand"] == before["onHand"]


# --- products reach the order service and the read model ---------------------------------------

def test_add_a_product_and_order_it():
    sku = new_sku()
    before = end_offsets(["catalog.events", "inventory.events"])
    created = put_product(sku, "Yellow scarf", 2500, expect=(201,))
    assert created == created | {"sku": sku, "name": "Yellow scarf", "priceCents": 2500,
                                 "currency": "EUR", "revision": 1, "available": 0, "onHand": 0}
    received = adjust_stock(sku, 5, reason="first delivery")
    assert (received["delta"], received["available"], received["onHand"]) == (5, 5, 5)
    msgs = read_since(before, until=lambda ms: [m for m in ms if m.key == sku and
                                                m.event["eventType"] == "StockAdjusted"])
    [upserted] = [m for m in msgs if m.topic == "catalog.events" and m.key == sku]
    assert upserted.event["payload"] == {"sku": sku, "name": "Yellow scarf", "priceCents": 2500,
                                         "currency": "EUR", "revision": 1}
    [adjusted] = [m for m in msgs if m.topic == "inventory.events" and m.key == sku]
    assert adjusted.event["payload"]["adjustmentId"] == received["adjustmentId"]

    # until the order service has consumed ProductUpserted, the SKU is unknown there: 422
    order_service_prices(sku, 2500)
    placed = place_order([{"sku": sku, "quantity": 2}], customer="c-scarf")
    assert placed["totalCents"] == 5000
    assert wait_final(placed["orderId"])["status"] == "CONFIRMED"
    p = product(sku)
    assert (p["available"], p["reserved"], p["onHand"]) == (3, 2, 5)
    wait_until(lambda: read_model_agrees(sku), 30, "the read model to list the product")
    h = wait_until(lambda: (lambda x: x if x and len(x["movements"]) == 2 else None)(history(sku)),
                   30, "received and reserved in the history")
    assert [(m["kind"], m["delta"]) for m in h["movements"]] == [("RESERVED", 2), ("RECEIVED", 5)]
    assert h["movements"][0]["orderId"] == placed["orderId"]
    assert h["prices"] == [h["prices"][0] | {"priceCents": 2500, "revision": 1}]
    assert_invariants([placed["orderId"]])
    assert_conserved(sku)


def kafka_ready():
    return subprocess.run(["kcat", "-b", BROKERS, "-L", "-m", "2"],
                          capture_output=True).returncode == 0


def saga_works_again(probe_sku):
    """After Kafka's restart every consumer rejoins its group, which can take longer than the
    saga deadline: true once a probe order confirms again."""
    oid = place_order([{"sku": probe_sku, "quantity": 1}], customer="c-probe")["orderId"]
    return wait_final(oid, timeout=60)["status"] == "CONFIRMED"


@pytest.mark.slow
@pytest.mark.local_stack
def test_before_the_order_service_learns_a_product_customers_get_422_then_it_sells(sku):
    """The moment between creation and the order service knowing, stretched by stopping
    Kafka: the inventory has the product (its event waits in the outbox), the order service
    answers 422 with a message to retry and stores nothing; once the event arrives it sells."""
    new = new_sku()
    body = {"customerId": "c-early", "items": [{"sku": new, "quantity": 1}]}
    assert supervisorctl("stop", "kafka").returncode == 0
    try:
        put_product(new, "Early bird", 990, expect=(201,))
        assert product(new)["name"] == "Early bird"
        orders_before = sql("order", "SELECT count(*) FROM orders")[0][0]
        r = requests.post(url("order", "/orders"), json=body, timeout=10)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "unknown_sku"
        assert "retry" in r.json()["error"]["message"]
        assert sql("order", "SELECT count(*) FROM orders")[0][0] == orders_before
    finally:
        supervisorctl("start", "kafka")
        wait_until(kafka_ready, 90, "Kafka back")
    adjust_stock(new, 1)
    placed = wait_until(lambda: (lambda r: r.json() if r.status_code == 201 else None)(
        requests.post(url("order", "/orders"), json=body, timeout=10)), 60,
        "the order service to learn the product and sell it")
    assert placed["totalCents"] == 990
    assert requests.get(url("order", f"/orders/{placed['orderId']}"),
                        timeout=5).json()["items"][0]["unitPriceCents"] == 990
    wait_until(lambda: saga_works_again(sku), 180, "the saga to work again after Kafka's restart")
    assert_conserved(new)


def test_unknown_sku_is_422_with_a_clear_message():
    r = requests.post(url("order", "/orders"), timeout=5, json={
        "customerId": "c-1", "items": [{"sku": "SKU-NEVER-MADE", "quantity": 1}]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "unknown_sku" and "SKU-NEVER-MADE" in err["message"]


def test_a_price_change_applies_to_new_orders_and_old_orders_keep_theirs():
    sku = add_sku(new_sku(), 1000, 100)
    old = place_order([{"sku": sku, "quantity": 3}], customer="c-price")
    assert old["totalCents"] == 3000
    changed = put_product(sku, sku, 1500, expect=(200,))
    assert changed["revision"] == 2
    # the same body again changes nothing: no new revision, no event
    assert put_product(sku, sku, 1500, expect=(200,))["revision"] == 2
    order_service_prices(sku, 1500)
    new = place_order([{"sku": sku, "quantity": 3}], customer="c-price")
    assert new["totalCents"] == 4500
    for oid in (old["orderId"], new["orderId"]):
        wait_final(oid)
    got = requests.get(url("order", f"/orders/{old['orderId']}"), timeout=5).json()
    assert got["totalCents"] == 3000 and got["items"][0]["unitPriceCents"] == 1000
    assert requests.get(url("order", f"/orders/{new['orderId']}"),
                        timeout=5).json()["items"][0]["unitPriceCents"] == 1500
    def old_projected():
        d = requests.get(url("read-model", f"/api/orders/{old['orderId']}"), timeout=5)
        return d.status_code == 200 and d.json()["order"]["totalCents"] == 3000 and \
            d.json()["order"]["items"][0]["unitPriceCents"] == 1000
    wait_until(old_projected, 30, "the read model to keep the old order's price")
    h = wait_until(lambda: (lambda x: x if x and len(x["prices"]) == 2 else None)(history(sku)),
                   30, "both prices in the history")
    assert [(p["revision"], p["priceCents"]) for p in h["prices"]] == [(2, 1500), (1, 1000)]
    assert sql("inventory", "SELECT revision FROM products WHERE sku = %s", sku) == [(2,)]
    assert_invariants([old["orderId"], new["orderId"]])
    assert_conserved(sku)


def test_restocking_lets_a_waiting_customer_order():
    sku = add_sku(new_sku(), 700, 0)
    first = place_order([{"sku": sku, "quantity": 2}], customer="c-waiting")
    o = wait_final(first["orderId"])
    assert o["status"] == "CANCELLED" and "stock" in o["cancelReason"]
    adjust_stock(sku, 2, reason="restock from the supplier")
    second = place_order([{"sku": sku, "quantity": 2}], customer="c-waiting")
    assert wait_final(second["orderId"])["status"] == "CONFIRMED"
    p = product(sku)
    assert (p["available"], p["reserved"], p["onHand"]) == (0, 2, 2)
    assert_invariants([first["orderId"], second["orderId"]])
    assert_conserved(sku)


def test_an_adjustment_retried_with_the_same_key_applies_once():
    sku = add_sku(new_sku(), 300, 10)
    key = f"delivery-{uuid.uuid4()}"
    before = end_offsets(["inventory.events"])
    first = adjust_stock(sku, 7, reason="delivery 42", key=key)
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"),
                      json={"delta": 7, "reason": "delivery 42"},
                      headers=admin_headers() | {"Idempotency-Key": key}, timeout=5)
    assert r.status_code == 200 and r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["adjustmentId"] == first["adjustmentId"]
    # retried concurrently: still once
    key2 = f"delivery-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.post(
            url("inventory", f"/products/{sku}/stock-adjustments"),
            json={"delta": 3, "reason": "delivery 43"},
            headers=admin_headers() | {"Idempotency-Key": key2}, timeout=10), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["adjustmentId"] for a in answers}) == 1
    # the key used for another adjustment: refused
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"),
                      json={"delta": 8, "reason": "delivery 42"},
                      headers=admin_headers() | {"Idempotency-Key": key}, timeout=5)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert product(sku)["onHand"] == 20
    msgs = read_since(before, until=lambda ms: len([m for m in ms if m.key == sku]) >= 2)
    assert sorted(m.event["payload"]["delta"] for m in msgs if m.key == sku) == [3, 7]
    assert_conserved(sku)


def test_a_write_off_below_the_reserved_units_is_refused():
    sku = add_sku(new_sku(), 400, 5)
    placed = place_order([{"sku": sku, "quantity": 3}], customer="c-writeoff")
    assert wait_final(placed["orderId"])["status"] == "CONFIRMED"
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"),
                      json={"delta": -3, "reason": "water damage"}, headers=admin_headers(),
                      timeout=5)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "below_reserved" and "3 reserved" in err["message"] and \
        "at most 2" in err["message"]
    written_off = adjust_stock(sku, -2, reason="water damage")
    assert (written_off["available"], written_off["reserved"], written_off["onHand"]) == (0, 3, 3)
    h = wait_until(lambda: (lambda x: x if x and len(x["movements"]) == 3 else None)(history(sku)),
                   30, "the write-off in the history")
    assert h["movements"][0]["kind"] == "WRITTEN_OFF" and h["movements"][0]["delta"] == -2
    assert h["movements"][0]["reason"] == "water damage"
    assert_invariants([placed["orderId"]])
    assert_conserved(sku)


def test_the_seed_products_were_created_through_events():
    """No product comes from a migration: the seed's ProductUpserted events are on
    catalog.events, and every service knows the same three products."""
    seeds = {"SKU-RED-TSHIRT": 1999, "SKU-BLUE-CAP": 1250, "SKU-GREEN-HOODIE": 4900}
    events = read_since({("catalog.events", p): 0 for p in range(3)})
    upserted = {m.key: m.event["payload"] for m in events
                if m.event and m.event["eventType"] == "ProductUpserted"
                and m.event["payload"]["revision"] == 1}
    for sku, price in seeds.items():
        assert upserted[sku]["priceCents"] == price
        assert sql("order", "SELECT price_cents FROM products WHERE sku = %s", sku) == [(price,)]
        assert projected(sku)["priceCents"] == price
    for path in ("services/inventory/migrations", "services/order/migrations",
                 "services/read-model/migrations"):
        for name in os.listdir(os.path.join(ROOT, path)):
            text = open(os.path.join(ROOT, path, name)).read()
            assert "SKU-" not in text, f"{path}/{name} writes product data"


# --- demo controls ----------------------------------------------------------------------------

def test_demo_control_force_payment_failed_is_carried_and_cancels(sku):
    before = end_offsets(["orders.events"])
    r = requests.post(url("order", "/orders"), timeout=5, json={
        "customerId": "c-demo", "forcePaymentFailed": True,
        "items": [{"sku": sku, "quantity": 1}]})
    assert r.status_code == 201, r.text
    oid = r.json()["orderId"]
    [placed] = events_of(read_since(before, until=lambda ms: events_of(ms, oid)), oid)
    assert placed.event["payload"]["forcePaymentFailed"] is True
    o = wait_final(oid)
    assert o["status"] == "CANCELLED" and "payment" in o["cancelReason"]
    assert_invariants([oid])


def test_demo_control_force_exception_ends_in_the_dlq(sku):
    before = end_offsets(["payments.dlq"])
    oid = place_order([{"sku": sku, "quantity": 1}], customer="c-demo")["orderId"]  # control
    r = requests.post(url("order", "/orders"), timeout=5, json={
        "customerId": "c-demo", "forceException": True, "items": [{"sku": sku, "quantity": 1}]})
    assert r.status_code == 201, r.text
    forced = r.json()["orderId"]
    msgs = read_since(before, until=lambda ms: [m for m in ms if m.key == forced], timeout=30)
    assert "exception" in [m for m in msgs if m.key == forced][0].headers["x-error"]
    assert wait_final(forced, timeout=60)["cancelReason"] == "timeout"
    assert wait_final(oid)["status"] == "CONFIRMED"
    assert_invariants([oid, forced])


def test_demo_controls_must_be_booleans():
    r = requests.post(url("order", "/orders"), timeout=5, json={
        "customerId": "c-demo", "forceException": "yes",
        "items": [{"sku": "SKU-RED-TSHIRT", "quantity": 1}]})
    assert r.status_code == 400 and "forceException" in r.json()["error"]["message"]


def start_order_service(mode, port):
    env = dict(instance_env("order", port), EVENTIFY_MODE=mode, EVENTIFY_LOG_LEVEL="warn")
    return subprocess.Popen([os.path.join(ROOT, "build", "release", "bin", "eventify-order")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.local_stack
def test_production_mode_refuses_the_demo_controls(sku):
    """A second order service on the same database, in production mode."""
    port = PORTS["order"] + 10000
    proc = start_order_service("production", port)
    try:
        wait_until(lambda: requests.get(f"http://localhost:{port}/ready", timeout=2)
                   .status_code == 200, 30, "the production-mode order service")
        count = sql("order", "SELECT count(*) FROM orders")[0][0]
        for flag in ("forcePaymentFailed", "forceException"):
            r = requests.post(f"http://localhost:{port}/orders", timeout=5, json={
                "customerId": "c-prod", flag: True, "items": [{"sku": sku, "quantity": 1}]})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "demo_controls_disabled"
            assert flag in r.json()["error"]["message"]
        assert sql("order", "SELECT count(*) FROM orders")[0][0] == count
        ok = requests.post(f"http://localhost:{port}/orders", timeout=5, json={
            "customerId": "c-prod", "items": [{"sku": sku, "quantity": 1}]})
        assert ok.status_code == 201, ok.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert wait_final(ok.json()["orderId"])["status"] == "CONFIRMED"
    bad = start_order_service("staging", port)
    assert bad.wait(timeout=30) == 1
    assert b"EVENTIFY_MODE" in bad.stderr.read()
