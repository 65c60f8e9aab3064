"""Every service runs under valgrind beside the stack and leaks nothing: a second instance of
each joins its consumer group (so it handles its share of real orders' events), answers its
HTTP API, good requests and bad, is stopped with SIGTERM, and valgrind must then find no
memory error and no block definitely or indirectly lost (still-reachable blocks, which
libraries keep until exit, are not counted). The log of each run is kept in
.run/logs/valgrind-<service>-<port>.log."""
import os
import re
import uuid

import pytest
import requests
import websocket

from conftest import (ADMIN_TOKEN_FILE, PORTS, RUN, admin_headers, metric, place_order,
                      wait_until)
from spare import spare_instance

LOG = os.path.join(RUN, "logs", "valgrind-{service}-{port}.log")
VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--num-callers=30", "--log-file=" + LOG]
COMMON = ["/health", "/ready", "/metrics", "/openapi.json", "/no-such-path", "/%ff"]


def handled_events(service, port, sku):
    """True once the instance has consumed events; else places one more order (its key may
    fall on a partition of this instance) and is false."""
    if metric(service, "events_consumed_total", port=port) > 0:
        return True
    place_order([{"sku": sku, "quantity": 1}])
    return False


def summary(log):
    with open(log) as f:
        text = f.read()
    lines = [line for line in text.splitlines()
             if re.search(r"definitely lost|indirectly lost|ERROR SUMMARY", line)]
    return text, "\n".join(lines)


def exercise(service, port, sku):
    """The service's own API, good requests and bad, on the spare instance."""
    base = f"http://127.0.0.1:{port}"
    order_id = place_order([{"sku": sku, "quantity": 1}])["orderId"]
    calls = {
        "order": [("POST", "/orders", {"customerId": "c-valgrind",
                                       "items": [{"sku": sku, "quantity": 1}]}),
                  ("POST", "/orders", {"customerId": "c-valgrind", "items": []}),
                  ("POST", "/orders", "{not json"),
                  ("GET", f"/orders/{order_id}", None), ("GET", "/orders/not-a-uuid", None)],
        "inventory": [("GET", "/products", None), ("GET", f"/products/{sku}", None),
                      ("GET", "/inventory", None),
                      ("POST", f"/products/{sku}/stock-adjustments",
                       {"delta": 1, "reason": "restock"})],
        "payment": [("GET", f"/payments/{order_id}", None), ("GET", "/payments/nope", None)],
        "shipping": [("GET", f"/shipments/{order_id}", None)],
        "orchestrator": [("GET", f"/sagas/{order_id}", None)],
        "notification": [("GET", f"/notifications?orderId={order_id}", None),
                         ("GET", "/notifications?orderId=nope", None)],
        "read-model": [("GET", p, None) for p in (
            "/api/orders", f"/api/orders/{order_id}", "/api/catalog",
            f"/api/products/{sku}/history", "/api/stats", "/api/topics", "/api/events",
            "/api/dlq?limit=2", "/api/dlq/replays", "/api/kafka/cluster", "/api/kafka/topics",
            "/api/kafka/topics/orders.events", "/api/kafka/consumer-groups",
            "/api/orders?limit=nope")],
    }[service]
    for method, path, body in calls:
        headers = admin_headers() if method == "POST" else {}
        if isinstance(body, str):
            headers = headers | {"Content-Type": "application/json"}
            r = requests.request(method, base + path, data=body, headers=headers, timeout=60)
        else:
            headers = headers | ({"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {})
            r = requests.request(method, base + path, json=body, headers=headers, timeout=60)
        assert r.status_code < 500, (service, method, path, r.status_code, r.text)
    for path in COMMON:
        requests.get(base + path, timeout=60)
    if service == "read-model":
        # as a client that is no browser page (no Origin header)
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=30,
                                         suppress_origin=True)
        place_order([{"sku": sku, "quantity": 1}])
        assert ws.recv()
        ws.close()


@pytest.mark.parametrize("service", sorted(PORTS))
def test_a_service_under_valgrind_leaks_nothing(service, sku):
    with spare_instance(service, kafka_reachable=True, wrapper=VALGRIND,
                        EVENTIFY_ADMIN_TOKEN_FILE=ADMIN_TOKEN_FILE) as (port, process):
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/ready",
                                        timeout=5).status_code == 200, 90,
                   f"{service} under valgrind ready")
        exercise(service, port, sku)
        wait_until(lambda: handled_events(service, port, sku), 120,
                   f"{service} under valgrind handling events", interval=1)
    text, lines = summary(LOG.format(service=service, port=port))
    assert "ERROR SUMMARY: 0 errors" in text, lines
    assert process.returncode == 0, (process.returncode, lines)
