"""Issue 2: POST /orders and GET /orders/{id} on the real order service: the OrderPlaced v2
event in the SPEC envelope, correlation ids, idempotency keys, and bad input answered with a
JSON error that writes nothing to the database or to Kafka."""
import concurrent.futures
import json
import uuid

import pytest
import requests

from conftest import (PRICES, SERVICES, end_offsets, events_of, place_order, read_since,
                      sql, url, wait_until)

SPEC_BODY = {"customerId": "c-1001", "items": [{"sku": "SKU-RED-TSHIRT", "quantity": 2},
                                               {"sku": "SKU-BLUE-CAP", "quantity": 1}]}


def test_post_order_publishes_order_placed_v2():
    before = end_offsets(["orders.events"])
    r = requests.post(url("order", "/orders"), json=SPEC_BODY, timeout=10)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "PENDING"
    oid = body["orderId"]
    uuid.UUID(oid)
    uuid.UUID(body["correlationId"])
    msgs = read_since(before, until=lambda m: events_of(m, oid, "OrderPlaced"))
    [msg] = events_of(msgs, oid, "OrderPlaced")
    e = msg.event
    assert msg.key == oid
    assert set(e) == {"eventId", "eventType", "occurredAt", "correlationId", "producer", "version",
                      "payload"}
    assert e["version"] == 2 and e["producer"] == "order"
    assert e["correlationId"] == body["correlationId"]
    p = e["payload"]
    assert p["customerId"] == "c-1001" and p["currency"] == "EUR"
    assert [(i["sku"], i["quantity"], i["unitPriceCents"]) for i in p["items"]] == [
        ("SKU-RED-TSHIRT", 2, 1999), ("SKU-BLUE-CAP", 1, 1250)]
    assert p["totalCents"] == 2 * 1999 + 1250
    assert msg.headers["traceparent"].startswith("00-" + body["correlationId"].replace("-", ""))
    assert msg.headers["eventType"] == "OrderPlaced"


def test_get_order_returns_what_was_placed():
    placed = place_order([{"sku": "SKU-BLUE-CAP", "quantity": 3}], customer="c-get")
    r = requests.get(url("order", f"/orders/{placed['orderId']}"), timeout=5)
    assert r.status_code == 200
    o = r.json()
    assert o["orderId"] == placed["orderId"] and o["customerId"] == "c-get"
    assert o["totalCents"] == 3 * PRICES["SKU-BLUE-CAP"]
    assert o["items"] == [{"sku": "SKU-BLUE-CAP", "quantity": 3, "unitPriceCents": 1250}]


@pytest.mark.parametrize("oid", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_get_unknown_order_is_404_json(oid):
    r = requests.get(url("order", f"/orders/{oid}"), timeout=5)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_correlation_id_is_echoed_and_carried():
    cid = str(uuid.uuid4())
    before = end_offsets(["orders.events"])
    r = requests.post(url("order", "/orders"), json=SPEC_BODY,
                      headers={"X-Correlation-Id": cid}, timeout=10)
    assert r.status_code == 201
    assert r.headers["X-Correlation-Id"] == cid and r.json()["correlationId"] == cid
    oid = r.json()["orderId"]
    [msg] = events_of(read_since(before, until=lambda m: events_of(m, oid)), oid)
    assert msg.event["correlationId"] == cid


def test_client_prices_are_refused_and_catalog_prices_apply():
    """A price sent by the client is an unknown field (400 naming it), never used."""
    body = {"customerId": "c-price", "items": [{"sku": "SKU-RED-TSHIRT", "quantity": 1}],
            "totalCents": 1}
    r = requests.post(url("order", "/orders"), json=body, timeout=10)
    assert r.status_code == 400 and "totalCents" in r.json()["error"]["message"], r.text
    body = {"customerId": "c-price", "items": [{"sku": "SKU-RED-TSHIRT", "quantity": 1}]}
    r = requests.post(url("order", "/orders"), json=body, timeout=10)
    assert r.status_code == 201
    assert r.json()["totalCents"] == 1999


def counts():
    """Orders, order lines and the outbox's id sequence (the relay deletes published rows, so
    neither the outbox's row count nor its highest id is monotonic; the sequence is, and it
    moves even for an insert that was rolled back)."""
    return sql("order", "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items),"
                        " (SELECT last_value FROM outbox_id_seq)")[0]


def ok_line():
    return {"sku": "SKU-RED-TSHIRT", "quantity": 1}


BAD_JSON_BODIES = {
    "malformed JSON": (b'{"customerId": "c-1", "items": [', 400, "malformed_json"),
    "not an object": (json.dumps([1, 2]).encode(), 400, "invalid_body"),
    "empty body": (b"", 400, "malformed_json"),
    "customerId a number": ({"customerId": 5, "items": [ok_line()]}, 400, "validation_error"),
    "customerId missing": ({"items": [ok_line()]}, 400, "validation_error"),
    "customerId empty": ({"customerId": "", "items": [ok_line()]}, 400, "validation_error"),
    "customerId too long": ({"customerId": "c" * 65, "items": [ok_line()]}, 400,
                            "validation_error"),
    "items not an array": ({"customerId": "c", "items": {"sku": "x"}}, 400, "validation_error"),
    "items missing": ({"customerId": "c"}, 400, "validation_error"),
    "items empty": ({"customerId": "c", "items": []}, 400, "validation_error"),
    "101 items": ({"customerId": "c", "items": [ok_line()] * 101}, 400, "too_many_items"),
    "line not an object": ({"customerId": "c", "items": ["SKU-RED-TSHIRT"]}, 400,
                           "validation_error"),
    "quantity a string": ({"customerId": "c", "items": [{"sku": "SKU-RED-TSHIRT",
                                                         "quantity": "1"}]}, 400,
                          "validation_error"),
    "quantity fractional": ({"customerId": "c", "items": [{"sku": "SKU-RED-TSHIRT",
                                                           "quantity": 1.5}]}, 400,
                            "validation_error"),
    "quantity 0": ({"customerId": "c", "items": [{"sku": "SKU-RED-TSHIRT", "quantity": 0}]},
                   400, "invalid_quantity"),
    "quantity negative": ({"customerId": "c", "items": [{"sku": "SKU-RED-TSHIRT",
                                                         "quantity": -1}]}, 400,
                          "invalid_quantity"),
    "quantity absurd": ({"customerId": "c", "items": [{"sku": "SKU-RED-TSHIRT",
                                                       "quantity": 1000001}]}, 400,
                        "invalid_quantity"),
    "sku missing": ({"customerId": "c", "items": [{"quantity": 1}]}, 400, "validation_error"),
    "unknown sku": ({"customerId": "c", "items": [{"sku": "SKU-NOPE", "quantity": 1}]}, 422,
                    "unknown_sku"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSON_BODIES))
def test_bad_input_answers_json_error_and_writes_nothing(case):
    body, status, code = BAD_JSON_BODIES[case]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    # earlier tests' events may still be on their way to the topic: let the relay finish first
    wait_until(lambda: sql("order", "SELECT count(*) FROM outbox")[0][0] == 0, 20,
               "the order service's outbox to be published")
    before_rows, before_offsets = counts(), end_offsets(["orders.events"])
    r = requests.post(url("order", "/orders"), data=data,
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    assert counts() == before_rows
    assert end_offsets(["orders.events"]) == before_offsets


def test_oversized_body_is_413():
    before = counts()
    body = {"customerId": "c", "items": [ok_line()], "padding": "x" * 70000}
    r = requests.post(url("order", "/orders"), json=body, timeout=10)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert counts() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(content_type):
    before = counts()
    headers = {"Content-Type": content_type} if content_type else {}
    r = requests.post(url("order", "/orders"), data=json.dumps(SPEC_BODY), headers=headers,
                      timeout=10)
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert counts() == before


def test_bad_correlation_id_is_400():
    r = requests.post(url("order", "/orders"), json=SPEC_BODY,
                      headers={"X-Correlation-Id": "nope"}, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_correlation_id"


def test_same_idempotency_key_makes_one_order(sku):
    key = f"key-{uuid.uuid4()}"
    line = {"sku": sku, "quantity": 1}
    before = end_offsets(["orders.events"])
    first = place_order([line], headers={"Idempotency-Key": key})
    again = place_order([line], headers={"Idempotency-Key": key})
    assert again["orderId"] == first["orderId"]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: place_order([line],
                                                      headers={"Idempotency-Key": key}), range(5)))
    assert {r["orderId"] for r in results} == {first["orderId"]}
    assert sql("order", "SELECT count(*) FROM orders WHERE idempotency_key = %s", key)[0][0] == 1
    msgs = read_since(before, until=lambda m: events_of(m, first["orderId"]))
    assert len(events_of(msgs, first["orderId"], "OrderPlaced")) == 1


def test_concurrent_first_use_of_a_key_makes_one_order(sku):
    key = f"key-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: place_order([{"sku": sku, "quantity": 1}],
                                                      headers={"Idempotency-Key": key}), range(8)))
    assert len({r["orderId"] for r in results}) == 1
    assert sql("order", "SELECT count(*) FROM orders WHERE idempotency_key = %s", key)[0][0] == 1


def test_idempotency_key_reused_for_another_order_is_422(sku):
    key = f"key-{uuid.uuid4()}"
    place_order([{"sku": sku, "quantity": 1}], headers={"Idempotency-Key": key})
    r = requests.post(url("order", "/orders"), json={"customerId": "c-1001", "items": [
        {"sku": "SKU-BLUE-CAP", "quantity": 1}]}, headers={"Idempotency-Key": key}, timeout=10)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("service", SERVICES)
def test_health_ready_metrics(service):
    assert requests.get(url(service, "/health"), timeout=5).status_code == 200
    r = requests.get(url(service, "/ready"), timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "ready"
    r = requests.get(url(service, "/metrics"), timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "http_requests_total{" in r.text
    assert f'service="{service}"' in r.text


def test_unknown_route_is_404_json():
    r = requests.get(url("order", "/nope"), timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_metrics_count_requests(sku):
    def count():
        text = requests.get(url("order", "/metrics"), timeout=5).text
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith("http_requests_total{") and 'route="/orders"' in l
                   and 'status="201"' in l)
    before = count()
    place_order([{"sku": sku, "quantity": 1}])
    wait_until(lambda: count() >= before + 1, 5, "the request to be counted")
