"""What the API fuzzer found, kept as plain tests: each failed on the code before its fix."""
import requests

from conftest import place_order, url


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
