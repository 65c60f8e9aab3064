"""Issue 7, findings 8 and 11 (HTTP side): POST /orders is strict where it guards. A field the
API does not know is a 400 naming it (top level and inside items), never silently dropped;
customerId, which reaches logs and e-mails, is 1..64 printable characters with no control,
format or bidi characters. A refused request writes nothing."""
import uuid

import pytest
import requests

from conftest import WEB_URL, sql, url

GOOD_ITEMS = [{"sku": "SKU-BLUE-CAP", "quantity": 1}]


def post(body, base=None):
    target = f"{base}/api/order/orders" if base else url("order", "/orders")
    return requests.post(target, json=body, timeout=10)


def orders_of(customer):
    return sql("order", "SELECT count(*) FROM orders WHERE customer_id = %s", customer)[0][0]


@pytest.mark.parametrize("body, field", [
    ({"customerId": "c-typo", "items": GOOD_ITEMS, "note": "gift"}, "note"),
    ({"customerID": "c-typo", "customerId": "c-typo", "items": GOOD_ITEMS}, "customerID"),
    ({"customerId": "c-typo", "items": GOOD_ITEMS, "totalCents": 1}, "totalCents"),
    ({"customerId": "c-typo", "items": [{"sku": "SKU-BLUE-CAP", "qty": 1, "quantity": 1}]},
     "items[0].qty"),
    ({"customerId": "c-typo", "items": [{"sku": "SKU-BLUE-CAP", "quantity": 1},
                                        {"sku": "SKU-RED-TSHIRT", "quantity": 1,
                                         "unitPriceCents": 1}]}, "items[1].unitPriceCents"),
])
def test_unknown_fields_are_a_400_naming_the_field(body, field):
    before = orders_of("c-typo")
    r = post(body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_field" and field in error["message"], error
    assert orders_of("c-typo") == before


@pytest.mark.parametrize("customer, why", [
    ("c-1\r\nBcc: victim@example.com", "CR/LF"),
    ("c-1\n", "LF"),
    ("c-\x07bell", "control"),
    ("c-\x7f", "DEL"),
    ("c-\u0085", "C1 control"),
    ("c-\u202egnp.exe", "right-to-left override"),
    ("c-\u2066x\u2069", "bidi isolate"),
    ("c-\u200e", "left-to-right mark"),
    ("c-\u200b", "zero-width space"),
    ("\ufeffc-1", "byte order mark"),
    ("c-\u2028", "line separator"),
    ("c" * 65, "65 characters"),
    ("\u00e9" * 65, "65 two-byte characters"),
    ("", "empty"),
])
def test_customer_id_must_be_printable_and_bounded(customer, why):
    r = post({"customerId": customer, "items": GOOD_ITEMS})
    assert r.status_code == 400, f"{why}: {r.status_code} {r.text}"
    error = r.json()["error"]
    assert "customerId" in error["message"], error
    assert sql("order", "SELECT count(*) FROM orders WHERE customer_id = %s", customer)[0][0] == 0


def test_printable_customer_ids_of_any_script_are_accepted():
    for customer in (f"Zoë Müller-李 {uuid.uuid4().hex[:6]}", "\u00e9" * 60 + uuid.uuid4().hex[:4]):
        r = post({"customerId": customer, "items": GOOD_ITEMS})
        assert r.status_code == 201, r.text
        assert orders_of(customer) == 1


def test_the_ui_origin_applies_the_same_rules():
    """The UI posts through nginx at /api/order/orders: the same validation answers."""
    r = post({"customerId": "c-ui\r\n", "items": GOOD_ITEMS}, base=WEB_URL)
    assert r.status_code == 400 and "customerId" in r.json()["error"]["message"]
    r = post({"customerId": "c-ui", "items": GOOD_ITEMS, "coupon": "X"}, base=WEB_URL)
    assert r.status_code == 400 and "coupon" in r.json()["error"]["message"]
