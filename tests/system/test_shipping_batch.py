"""Issue 10: the shipping service handles a fetched batch as a set (one statement inserts a
shipment per confirmed order, one writes their ShipmentCreated outbox rows) and writes exactly
what its per-event path writes. The service is stopped while orders run through the saga, so
their decisions wait in Kafka and arrive in batches when it starts again, with a redelivered
confirmation (skipped), a second confirmation of an order under another event id and one of an
order shipped before the stop (both find the shipment and emit nothing) among them."""
import uuid

import pytest

from conftest import (add_sku, assert_invariants, end_offsets, envelope, events_of, metric,
                      order, place_order, produce, read_since, ready, shipment, sql,
                      supervisorctl, wait_final, wait_until)

# 60 units cost 1,199.40: the payment is declined
QUANTITIES = (1, 2, 1, 60, 3, 1, 2, 1)


@pytest.mark.slow
@pytest.mark.local_stack
def test_a_backlog_of_confirmations_shipped_in_batches_once_each():
    plenty = add_sku(f"SKU-SHIP-BATCH-{uuid.uuid4().hex[:8].upper()}", 1999, 1000)
    earlier = place_order([{"sku": plenty, "quantity": 1}])["orderId"]
    shipped_before = wait_final(earlier, timeout=60)["status"] == "CONFIRMED" and shipment(earlier)
    assert shipped_before, "the order shipped before the stop"
    # its shipment is committed before the relay publishes ShipmentCreated: the offsets are
    # taken once that is in Kafka too (the outbox empty), so nothing of it comes after them
    wait_until(lambda: sql("shipping", "SELECT count(*) FROM outbox") == [(0,)], 30,
               "the earlier order's ShipmentCreated published")
    offsets = end_offsets(["order.lifecycle.events", "shipping.events"])

    assert supervisorctl("stop", "services:shipping").returncode == 0
    try:
        ids = [place_order([{"sku": plenty, "quantity": q}])["orderId"] for q in QUANTITIES]
        for oid in ids:
            wait_until(lambda oid=oid: (order(oid) or {}).get("status") in
                       ("CONFIRMED", "CANCELLED"), 60, f"order {oid} decided")
        confirmed = [oid for oid in ids if order(oid)["status"] == "CONFIRMED"]
        messages = read_since(offsets, until=lambda ms: all(
            events_of(ms, oid, "OrderConfirmed") for oid in confirmed), timeout=30)
        first = {oid: events_of(messages, oid, "OrderConfirmed")[0] for oid in confirmed}
        # the same message again, and new confirmations of a backlog order and of the order
        # shipped before: all three must change nothing
        again = first[confirmed[0]]
        produce(again.topic, again.key, again.raw)
        late = [envelope("OrderConfirmed", {"orderId": oid}) for oid in (confirmed[1], earlier)]
        for e in late:
            produce("order.lifecycle.events", e["payload"]["orderId"], e)
    finally:
        assert supervisorctl("start", "services:shipping").returncode == 0
        wait_until(lambda: ready("shipping"), 30, "the shipping service ready again")
    finals = {oid: wait_final(oid, timeout=60)["status"] for oid in ids}
    assert sorted(finals.values()).count("CANCELLED") == 1, finals
    assert set(confirmed) == {oid for oid, s in finals.items() if s == "CONFIRMED"}

    # the backlog went through the batch path (the process started afresh)
    batched = metric("shipping", "events_batch_handled_total")
    assert batched >= 8, f"only {batched} events were handled in batches"

    # one shipment per confirmed order, none for the cancelled one, the earlier one unchanged
    rows = dict(sql("shipping", "SELECT order_id::text, shipment_id::text FROM shipments"
                                " WHERE order_id = ANY(%s::uuid[])", ids + [earlier]))
    assert set(rows) == set(confirmed) | {earlier}
    assert rows[earlier] == shipped_before["shipmentId"]
    assert all(sql("shipping", "SELECT status FROM shipments WHERE order_id = %s", oid) ==
               [("CREATED",)] for oid in confirmed)

    # one ShipmentCreated per shipment created, as the per-event path emits it: caused by the
    # order's first confirmation, in its correlation and trace, keyed by the order; once every
    # confirmation was consumed and the outbox is empty, everything emitted is in Kafka
    wait_until(lambda: sql("shipping", "SELECT count(*) FROM inbox WHERE event_id = ANY(%s::uuid[])",
                           [e["eventId"] for e in late]) == [(2,)], 30, "the late confirmations")
    wait_until(lambda: sql("shipping", "SELECT count(*) FROM outbox") == [(0,)], 30,
               "the outbox published")
    messages = read_since(offsets, timeout=30)
    assert events_of(messages, earlier, "ShipmentCreated") == []
    for oid in confirmed:
        created = events_of(messages, oid, "ShipmentCreated")
        assert len(created) == 1, (oid, [m.event for m in created])
        m, cause = created[0], first[oid]
        assert m.topic == "shipping.events" and m.key == oid
        assert m.event["producer"] == "shipping"
        assert m.event["payload"] == {"orderId": oid, "shipmentId": rows[oid],
                                      "status": "CREATED"}
        assert m.event["correlationId"] == cause.event["correlationId"]
        assert m.headers.get("causationId") == cause.event["eventId"], (oid, m.headers)
        trace = m.headers["traceparent"].split("-")[1]
        assert trace == cause.headers["traceparent"].split("-")[1], (oid, m.headers)
    assert sql("shipping", "SELECT count(*) FROM inbox WHERE event_id = %s",
               again.event["eventId"]) == [(1,)]
    assert_invariants(ids)
