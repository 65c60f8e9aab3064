"""What the API fuzzer found, kept as plain tests: each failed on the code before its fix."""
import uuid

import requests

from conftest import admin_headers, place_order, url


def test_a_malformed_multipart_content_type_gets_an_answer():
    """The HTTP library's form parser used to drop the connection without an answer when a
    request, even a GET, announced multipart/form-data without a boundary."""
    r = requests.get(url("inventory", "/health"), timeout=5,
                     headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 200
    r = requests.post(url("order", "/orders"), data=b"a=1", timeout=5,
                      headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"


def test_an_empty_or_padded_number_in_a_query_is_refused():
    for query in ("page=", "pageSize=", "pageSize=%205", "page=%2B2", "pageSize=0x10"):
        r = requests.get(url("read-model", f"/api/orders?{query}"), timeout=5)
        assert r.status_code == 400, query
        assert r.json()["error"]["code"] == "invalid_paging"
    r = requests.get(url("read-model", "/api/events?limit="), timeout=5)
    assert r.status_code == 400
    assert requests.get(url("read-model", "/api/orders?page=1&pageSize=5"),
                        timeout=5).status_code == 200


def test_an_empty_filter_is_refused_not_ignored():
    r = requests.get(url("read-model", "/api/orders?status="), timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_status"
    r = requests.get(url("notification", "/notifications?orderId="), timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_order_id"


def test_a_whole_quantity_written_as_a_real_is_that_integer(sku):
    """JSON, and the document's "integer", do not tell 2 from 2.0."""
    placed = place_order([{"sku": sku, "quantity": 2.0}], customer="c-real")
    o = requests.get(url("order", f"/orders/{placed['orderId']}"), timeout=5).json()
    assert o["items"] == [{"sku": sku, "quantity": 2, "unitPriceCents": 1999}]
    r = requests.post(url("order", "/orders"), timeout=5, json={
        "customerId": "c-real", "items": [{"sku": sku, "quantity": 2.5}]})
    assert r.status_code == 400


def test_a_whole_price_or_delta_written_as_a_real_is_that_integer():
    """The same for the inventory's admin writes; a name is counted in characters, as the
    document's maxLength counts them, not in bytes."""
    sku = "SKU-API-EDGE-" + uuid.uuid4().hex[:8].upper()
    name = "\u00e9" * 60  # 60 characters, 120 bytes of UTF-8
    r = requests.put(url("inventory", f"/products/{sku}"), headers=admin_headers(), timeout=5,
                     json={"name": name, "priceCents": 1999.0})
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["priceCents"]) == (name, 1999)
    r = requests.put(url("inventory", f"/products/{sku}"), headers=admin_headers(), timeout=5,
                     json={"name": "\u00e9" * 101, "priceCents": 1999})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_name"
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"), timeout=5,
                      headers=admin_headers(), json={"delta": 3.0, "reason": "counted"})
    assert r.status_code == 201, r.text
    assert (r.json()["delta"], r.json()["onHand"]) == (3, 3)
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"), timeout=5,
                      headers=admin_headers(), json={"delta": 2.5, "reason": "counted"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_delta"


def test_a_dead_letter_of_a_partition_the_topic_lacks_is_not_found():
    """Not a 503: Kafka is fine, there is simply no such letter."""
    r = requests.get(url("read-model", "/api/dlq/order.dlq/1022/0"), timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
