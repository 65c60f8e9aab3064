"""Issue 4: the CQRS read model and the notification service on the real stack: the query
API, the live WebSocket stream, DLQ listing and replay through the API, agreement with the
services' own databases, and a rebuild from the log that ends in exactly the same state."""
import json
import os
import subprocess
import uuid

import pytest
import requests
import websocket

from conftest import (PORT_OFFSET, PORTS, ROOT, WEB_URL, adjust_stock, admin_headers, envelope,
                      instance_env, place_order, produce, put_product, sql, stock, supervisorctl,
                      url, wait_final, wait_until)

def detail(order_id):
    r = requests.get(url("read-model", f"/api/orders/{order_id}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def projected(order_id, status, shipped=None):
    d = detail(order_id)
    return d if d and d["order"]["status"] == status and \
        (shipped is None or d["order"]["shipped"] == shipped) else None


def test_an_event_dated_before_its_order_leaves_the_order_date_alone(sku):
    """An order's date is its OrderPlaced's occurredAt once that is projected, whatever comes
    later: otherwise a late event dated earlier (a producer's clock behind) moves it, and the
    live projection and a rebuild, which meet the events in another order, disagree."""
    oid = place_order([{"sku": sku, "quantity": 1}], customer="c-rm-date")["orderId"]
    wait_until(lambda: projected(oid, "CONFIRMED", shipped=True), 30, "the projection")
    created = sql("read-model", "SELECT created_at FROM rm_orders WHERE order_id = %s", oid)
    late = envelope("OrderConfirmed", {"orderId": oid})
    late["occurredAt"] = "2020-01-01T00:00:00Z"
    produce("order.lifecycle.events", oid, late)
    wait_until(lambda: sql("read-model", "SELECT 1 FROM rm_timeline WHERE event_id = %s",
                           late["eventId"]), 30, "the late event projected")
    assert sql("read-model", "SELECT created_at FROM rm_orders WHERE order_id = %s",
               oid) == created


def test_order_detail_has_steps_timeline_and_shipment(sku):
    cid = str(uuid.uuid4())
    oid = place_order([{"sku": sku, "quantity": 2}], customer="c-rm",
                      headers={"X-Correlation-Id": cid})["orderId"]
    d = wait_until(lambda: projected(oid, "CONFIRMED", shipped=True), 30, "the projection")
    o = d["order"]
    assert o["customerId"] == "c-rm" and o["totalCents"] == 2 * 1999
    assert o["steps"] == {"placed": "DONE", "inventory": "RESERVED", "payment": "SUCCEEDED",
                          "decision": "CONFIRMED", "shipment": "CREATED"}
    types = [e["eventType"] for e in d["timeline"]]
    for t in ("OrderPlaced", "InventoryReserved", "PaymentSucceeded", "OrderConfirmed",
              "ShipmentCreated"):
        assert types.count(t) == 1, types
    assert {e["correlationId"] for e in d["timeline"]} == {cid}
    assert d["shipment"]["status"] == "CREATED"


def test_the_widest_order_moves_the_stock_of_every_line():
    """The widest order the API takes, 100 lines of 64-character SKUs: the read model records
    a stock movement for every line and moves every SKU's stock. (Its stock lines were once
    written into fixed buffers, which silently kept only the first thirty or so.)"""
    tag = uuid.uuid4().hex[:8].upper()
    skus = sorted(f"SKU-WIDE-{tag}-{i:03d}".ljust(64, "X") for i in range(100))
    for i, s in enumerate(skus):
        put_product(s, f"Wide {i}", 100)
        adjust_stock(s, 5, reason="initial stock for a test")
    wait_until(lambda: sql("order", "SELECT count(*) FROM products WHERE sku = ANY(%s)", skus)
               == [(100,)], 60, "the order service to price the 100 SKUs")
    oid = place_order([{"sku": s, "quantity": 2} for s in skus], customer="c-rm-wide")["orderId"]
    wait_until(lambda: projected(oid, "CONFIRMED", shipped=True), 60, "the projection")
    moves = sql("read-model", "SELECT sku, delta FROM rm_stock_movements"
                " WHERE order_id = %s AND kind = 'RESERVED' ORDER BY sku", oid)
    assert moves == [(s, 2) for s in skus]
    wait_until(lambda: sql("read-model", "SELECT sku, available, reserved FROM rm_stock"
                           " WHERE sku = ANY(%s) ORDER BY sku", skus) == [(s, 3, 2) for s in skus],
               30, "every SKU's stock: 5 received, 2 reserved")


def test_cancelled_order_shows_reason_and_compensation(sku):
    oid = place_order([{"sku": sku, "quantity": 60}])["orderId"]  # 1199.40: declined
    d = wait_until(lambda: (lambda x: x if x and x["order"]["steps"]["inventory"] == "RELEASED"
                            else None)(projected(oid, "CANCELLED")), 30, "the compensation")
    assert "payment" in d["order"]["cancelReason"]
    assert d["order"]["steps"]["payment"] == "FAILED"
    assert d["order"]["steps"]["shipment"] == "NONE" and d["shipment"] is None


def test_list_filters_and_pages(sku):
    customer = f"c-list-{uuid.uuid4().hex[:6]}"
    ids = [place_order([{"sku": sku, "quantity": 1}], customer=customer)["orderId"] for _ in range(3)]
    wait_until(lambda: all(projected(i, "CONFIRMED") for i in ids), 30, "three confirmations")
    r = requests.get(url("read-model", "/api/orders"),
                     params={"customerId": customer, "pageSize": 2, "page": 1}, timeout=5).json()
    assert r["total"] == 3 and len(r["items"]) == 2 and r["page"] == 1
    page2 = requests.get(url("read-model", "/api/orders"),
                         params={"customerId": customer, "pageSize": 2, "page": 2}, timeout=5).json()
    assert {i["orderId"] for i in r["items"] + page2["items"]} == set(ids)
    confirmed = requests.get(url("read-model", "/api/orders"),
                             params={"customerId": customer, "status": "CANCELLED"},
                             timeout=5).json()
    assert confirmed["total"] == 0
    for bad in ({"status": "LOST"}, {"page": "0"}, {"pageSize": "1000"}):
        r = requests.get(url("read-model", "/api/orders"), params=bad, timeout=5)
        assert r.status_code == 400 and r.json()["error"]["code"]


def test_unknown_order_is_404():
    r = requests.get(url("read-model", f"/api/orders/{uuid.uuid4()}"), timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_websocket_pushes_each_change(sku):
    # Sent from the web UI's pages: the read model refuses other browser origins.
    ws = websocket.create_connection(f"ws://localhost:{PORTS['read-model']}/ws", timeout=15,
                                     origin=WEB_URL)
    try:
        oid = place_order([{"sku": sku, "quantity": 1}])["orderId"]
        statuses, events = [], set()
        while not (statuses and statuses[-1] == ("CONFIRMED", True)
                   and "ShipmentCreated" in events):
            msg = json.loads(ws.recv())
            if msg["type"] == "order" and msg["order"]["orderId"] == oid:
                statuses.append((msg["order"]["status"], msg["order"]["shipped"]))
            if msg["type"] == "event" and msg["event"]["orderId"] == oid:
                events.add(msg["event"]["eventType"])
    finally:
        ws.close()
    assert statuses[0][0] == "PENDING"
    assert {"OrderPlaced", "OrderConfirmed", "ShipmentCreated"} <= events


def test_stats_catalog_and_topics():
    s = requests.get(url("read-model", "/api/stats"), timeout=10).json()
    assert set(s["ordersByStatus"]) == {"PENDING", "CONFIRMED", "CANCELLED"}
    assert "payments.dlq" in s["dlq"] and s["shipped"] >= 0
    catalog = {c["sku"]: c for c in requests.get(url("read-model", "/api/catalog"), timeout=5).json()}
    assert catalog["SKU-RED-TSHIRT"]["priceCents"] == 1999
    t = requests.get(url("read-model", "/api/topics"), timeout=30).json()
    names = {x["topic"] for x in t["topics"]}
    assert {"orders.events", "shipping.events", "payments.dlq"} <= names
    assert {g["group"] for g in t["consumerGroups"]} >= {"order", "inventory", "read-model"}


def test_read_model_agrees_with_the_services(sku):
    ids = [place_order([{"sku": sku, "quantity": q}])["orderId"] for q in (1, 60)]
    for oid in ids:
        wait_final(oid)
    def agree():
        for oid in ids:
            d = detail(oid)
            if not d or d["order"]["status"] != requests.get(
                    url("order", f"/orders/{oid}"), timeout=5).json()["status"]:
                return False
        # seeded SKUs: the projected stock equals the inventory service's
        inv = stock()
        return all(inv[c["sku"]]["available"] == c["available"] and
                   inv[c["sku"]]["reserved"] == c["reserved"]
                   for c in requests.get(url("read-model", "/api/catalog"), timeout=5).json())
    wait_until(agree, 30, "the read model to agree with order and inventory")


def test_dead_letter_listed_and_replayed_through_the_api():
    key = str(uuid.uuid4())
    produce("shipping.events", key, b"{not json")
    letter = wait_until(lambda: next((l for l in requests.get(
        url("read-model", "/api/dlq"), params={"topic": "read-model.dlq", "limit": 100},
        timeout=30).json()["items"] if l["key"] == key), None), 30, "the letter in /api/dlq")
    assert letter["originTopic"] == "shipping.events" and "invalid JSON" in letter["error"]
    shown = requests.get(url("read-model", f"/api/dlq/{letter['topic']}/{letter['partition']}/"
                                           f"{letter['offset']}"), timeout=10).json()
    assert shown["value"] == "{not json" and shown["valueBytes"] == len("{not json")
    r = requests.post(url("read-model", "/api/dlq/replay"), json={
        "topic": letter["topic"], "partition": letter["partition"], "offset": letter["offset"]},
        headers=admin_headers(), timeout=30)
    assert r.status_code == 200 and r.json() == {"replayed": 1, "notReplayable": 0}
    bad = requests.post(url("read-model", "/api/dlq/replay"), json={"topic": "orders.events"},
                        headers=admin_headers(), timeout=10)
    assert bad.status_code == 400


def test_notifications_one_per_event(sku):
    ok = place_order([{"sku": sku, "quantity": 1}], customer="c-mail")["orderId"]
    ko = place_order([{"sku": "SKU-GREEN-HOODIE", "quantity": 1}], customer="c-mail")["orderId"]
    def mails(oid):
        return requests.get(url("notification", "/notifications"), params={"orderId": oid},
                            timeout=5).json()
    got = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(mails(ok)), 30,
                     "confirmation and shipment e-mails")
    assert sorted(m["eventType"] for m in got) == ["OrderConfirmed", "ShipmentCreated"]
    assert all(m["recipient"] == "c-mail@customers.example.com" for m in got)
    [cancel] = wait_until(lambda: mails(ko) or None, 30, "the cancellation e-mail")
    assert "stock" in cancel["body"]
    assert requests.get(url("notification", "/notifications"), params={"orderId": "x"},
                        timeout=5).status_code == 400


def dump():
    tables = {
        "rm_orders": "SELECT * FROM rm_orders ORDER BY order_id",
        "rm_timeline": "SELECT event_id, order_id, event_type, version, producer, occurred_at,"
                       " correlation_id, topic, partition, \"offset\", payload FROM rm_timeline"
                       " ORDER BY event_id",
        "rm_shipments": "SELECT order_id, shipment_id, status, created_at FROM rm_shipments"
                        " ORDER BY order_id",
        "rm_stock": "SELECT * FROM rm_stock ORDER BY sku",
        "rm_stock_movements": "SELECT * FROM rm_stock_movements ORDER BY event_id, sku",
        "rm_price_history": "SELECT * FROM rm_price_history ORDER BY event_id",
        "rm_placed_per_minute": "SELECT * FROM rm_placed_per_minute ORDER BY minute",
    }
    return {name: sql("read-model", query) for name, query in tables.items()}


@pytest.mark.slow
@pytest.mark.local_stack
def test_rebuild_from_the_log_ends_in_the_same_state(sku):
    oid = place_order([{"sku": sku, "quantity": 1}])["orderId"]
    wait_until(lambda: projected(oid, "CONFIRMED", shipped=True), 30, "the projection")
    assert supervisorctl("stop", "services:read-model").returncode == 0
    try:
        before = dump()
        assert before["rm_orders"], "nothing projected"
        env = instance_env("read-model", 18186 + PORT_OFFSET)
        r = subprocess.run([os.path.join(ROOT, "build", "release", "bin", "eventify-read-model"),
                            "--rebuild"], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        after = dump()
    finally:
        supervisorctl("start", "services:read-model")
    for table in before:
        assert after[table] == before[table], f"{table} differs after the rebuild"
    # the live service goes on from where the replay ended
    oid2 = place_order([{"sku": sku, "quantity": 1}])["orderId"]
    wait_until(lambda: projected(oid2, "CONFIRMED", shipped=True), 30, "projection after rebuild")
    assert sql("read-model", "SELECT count(*) FROM rm_timeline WHERE order_id = %s", oid2)[0][0] == 5
