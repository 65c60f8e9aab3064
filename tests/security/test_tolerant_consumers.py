"""Issue 7, findings 7 and 11 (consumer side): strict where it guards, tolerant where it reads.

A consumer checks what it uses and what could hurt it: an event outside the HTTP API's bounds
(a quantity that overflows price x quantity, too many lines, an over-long customer id) goes
to every consumer's DLQ at once, never into a total. It accepts what it does not need: the
reference inventory service's InventoryReserved without reservationId, and unknown extra
fields, confirm the order; the deviation is logged once per producer and event type."""
import datetime
import json
import os
import uuid

import pytest

from conftest import (CONSUMERS, DLQ, RUN, end_offsets, envelope, place_order,
                      produce, read_since, sql, supervisorctl, wait_final, wait_until, ready)

OVERFLOW = 4611686018427387904  # 2^62: price x quantity overflows int64


def reference_event(event_type, payload, producer):
    """A v1 event as the reference services send it, stamped now to the microsecond (after
    the order's own events, as a live reference service would be)."""
    event = envelope(event_type, payload, version=1)
    event["producer"] = producer
    event["occurredAt"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    return event


def log_lines(service, needle):
    with open(os.path.join(RUN, "logs", f"{service}.log"), errors="replace") as f:
        return [line for line in f if needle in line]


def dead_letters_of(topic, key, dlqs, before):
    msgs = read_since(before, timeout=30,
                      until=lambda ms: {m.topic for m in ms if m.key == key} >= set(dlqs))
    return [m for m in msgs if m.key == key]


@pytest.mark.parametrize("name,payload,reason", [
    ("overflowing quantity",
     lambda oid, sku: {"orderId": oid, "items": [{"sku": sku, "quantity": OVERFLOW}]},
     "quantity must be an integer from 1 to 1000"),
    ("quantity above the API's bound",
     lambda oid, sku: {"orderId": oid, "items": [{"sku": sku, "quantity": 1001}]},
     "quantity must be an integer from 1 to 1000"),
    ("too many lines",
     lambda oid, sku: {"orderId": oid, "items": [{"sku": sku, "quantity": 1}] * 101},
     "payload.items must be an array of 1 to 100 lines"),
    ("customer id too long",
     lambda oid, sku: {"orderId": oid, "customerId": "c" * 65,
                       "items": [{"sku": sku, "quantity": 1}]},
     "payload.customerId must be a string of 1 to 64 characters"),
])
def test_an_order_placed_outside_the_api_bounds_is_dead_lettered_at_once(name, payload, reason,
                                                                         sku):
    oid = str(uuid.uuid4())
    dlqs = sorted({DLQ[s] for s in CONSUMERS["orders.events"]})
    before = end_offsets(dlqs)
    produce("orders.events", oid, envelope("OrderPlaced", payload(oid, sku), version=1))
    letters = dead_letters_of("orders.events", oid, dlqs, before)
    assert sorted({m.topic for m in letters}) == dlqs
    for m in letters:
        assert m.headers["x-attempts"] == "1", f"{m.topic} retried it: {m.headers}"
        assert reason in m.headers["x-error"], m.headers["x-error"]
    # nothing of it reached a read model, a payment or a reservation
    assert sql("read-model", "SELECT count(*) FROM rm_orders WHERE order_id = %s", oid)[0][0] == 0
    assert sql("payment", "SELECT count(*) FROM payments WHERE order_id = %s", oid)[0][0] == 0
    assert sql("inventory", "SELECT count(*) FROM reservations WHERE order_id = %s", oid)[0][0] == 0


@pytest.fixture
def inventory_stopped():
    """Our inventory service stopped, so a reference-style one can answer in its place."""
    assert supervisorctl("stop", "services:inventory").returncode == 0
    try:
        yield
    finally:
        supervisorctl("start", "services:inventory")
        wait_until(lambda: ready("inventory"), 30, "inventory ready again")


@pytest.mark.parametrize("extra", [{}, {"warehouse": "north", "pickedBy": {"id": 7}}],
                         ids=["missing-reservationId", "missing-reservationId-and-extra-fields"])
def test_a_reference_inventory_reserved_without_reservation_id_confirms_the_order(
        extra, sku, inventory_stopped):
    producer = f"inventory-reference-{uuid.uuid4().hex[:8]}"
    dlqs = sorted({DLQ[s] for s in CONSUMERS["inventory.events"]})
    before = end_offsets(dlqs)
    placed = place_order([{"sku": sku, "quantity": 1}], customer="c-reference")
    oid = placed["orderId"]
    # what the brief's reference inventory service emits: the reference contract's v1 event,
    # without reservationId
    event = reference_event("InventoryReserved", {"orderId": oid, **extra}, producer)
    produce("inventory.events", oid, event)
    final = wait_final(oid)
    assert final["status"] == "CONFIRMED", final
    # the read model projected it (no dead letter), and the orchestrator warned once
    wait_until(lambda: sql("read-model", "SELECT count(*) FROM rm_timeline WHERE event_id = %s",
                           event["eventId"])[0][0] == 1, 20, "the read model to project it")
    assert not [m for m in read_since(before) if m.key == oid], "dead-lettered"
    # a second event of the same producer and type: accepted, no second warning
    again = reference_event("InventoryReserved", {"orderId": oid, **extra}, producer)
    produce("inventory.events", oid, again)
    for service in CONSUMERS["inventory.events"]:
        wait_until(lambda s=service: sql(s, "SELECT count(*) FROM inbox WHERE event_id = %s",
                                         again["eventId"])[0][0] == 1, 20,
                   f"{service} to handle the second event")
        warnings = log_lines(service, f"from {producer} with")
        assert len(warnings) == 1, f"{service}: {warnings}"
        assert "payload.reservationId missing" in json.loads(warnings[0])["message"]
