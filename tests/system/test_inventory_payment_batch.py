"""Issue 10: the inventory and the payment service handle a fetched batch as a set (one
statement locks the batch's reservations or payments, the inventory's another its stock rows,
the events are folded in C in delivery order, one statement writes the rows back and one the
outbox). The orchestrator, the inventory and the payment service are stopped while orders are
placed (real ones through the API, some competing for scarce stock, one declined by the
payment; synthetic ones on one partition so their delivery order is known; a cancel for an
order never placed; exact copies of some OrderPlaced), so everything reaches the two services
in batches when they start again, and the orchestrator's decisions reach them in batches when
it starts after them. The rows and events must be exactly what the per-event path gives."""
import os
import uuid

import pytest

from conftest import (MAX_ATTEMPTS, RUN, add_sku, assert_invariants, end_offsets, envelope,
                      events_of, metric, place_order, produce, read_since, ready, sql, stock,
                      supervisorctl, wait_final, wait_until)

TOPICS = ["orders.events", "inventory.events", "payments.events", "order.lifecycle.events"]
PLENTY = (1, 2, 60, 3)  # 60 units cost 1,199.40: the payment is declined
SCARCE_UNITS, SCARCE_ORDERS = 5, 4  # four orders of 2 units: two get stock, two do not


def start(service):
    """Starts a stopped service (one already running stays as it is) and waits until ready."""
    supervisorctl("start", f"services:{service}")
    wait_until(lambda: ready(service), 30, f"{service} ready again")


def reservation(oid):
    rows = sql("inventory", "SELECT status, reservation_id::text, items, reason"
                            " FROM reservations WHERE order_id = %s", oid)
    return rows[0] if rows else None


def payment_row(oid):
    rows = sql("payment", "SELECT status, payment_id::text, amount_cents, reason"
                          " FROM payments WHERE order_id = %s", oid)
    return rows[0] if rows else None


def trace_of(message):
    return message.headers["traceparent"].split("-")[1]


def one_event(messages, oid, types):
    """The one event of these types about the order (there must be exactly one)."""
    found = [m for m in events_of(messages, oid) if m.event["eventType"] in types]
    assert len(found) == 1, (oid, types, [m.event for m in found])
    return found[0]


def assert_caused_by(effect, cause, producer):
    """effect was emitted for cause as ev_emit does it, under the cause's trace."""
    assert effect.headers.get("causationId") == cause.event["eventId"], effect.headers
    assert effect.event["correlationId"] == cause.event["correlationId"]
    assert effect.event["producer"] == producer
    assert effect.key == cause.event["payload"]["orderId"]
    if "traceparent" in cause.headers:
        assert trace_of(effect) == trace_of(cause), (effect.headers, cause.headers)


def synthetic_order_placed(oid, sku, units, **flags):
    """An OrderPlaced for an order the order service never saw, as its producer writes it."""
    return envelope("OrderPlaced", {
        "orderId": oid, "customerId": "c-1001", "currency": "EUR",
        "items": [{"sku": sku, "quantity": units, "unitPriceCents": 300}],
        "totalCents": 300 * units, **flags}, version=2)


@pytest.mark.slow
@pytest.mark.local_stack
def test_backlogs_reserved_and_charged_in_batches_as_one_by_one():
    offsets = end_offsets(TOPICS)
    tag = uuid.uuid4().hex[:8].upper()
    plenty = add_sku(f"SKU-INV-BATCH-{tag}", 1999, 1000)
    scarce = add_sku(f"SKU-INV-SCARCE-{tag}", 500, SCARCE_UNITS)
    tiny = add_sku(f"SKU-INV-TINY-{tag}", 300, 3)
    for service in ("orchestrator", "inventory", "payment"):
        assert supervisorctl("stop", f"services:{service}").returncode == 0
    synthetic = [str(uuid.uuid4()) for _ in range(3)]
    never_placed = str(uuid.uuid4())
    try:
        ids = [place_order([{"sku": plenty, "quantity": q}])["orderId"] for q in PLENTY]
        contenders = [place_order([{"sku": scarce, "quantity": 2}])["orderId"]
                      for _ in range(SCARCE_ORDERS)]
        ids += contenders
        # one key, so one partition: delivered in this order, 2 + 2 + 1 units of 3
        for oid, units in zip(synthetic, (2, 2, 1)):
            produce("orders.events", f"batch-{tag}", synthetic_order_placed(oid, tiny, units))
        produce("order.lifecycle.events", never_placed,
                envelope("OrderCancelled", {"orderId": never_placed, "reason": "changed mind"}))
        # exact copies of three OrderPlaced (a redelivery): skipped by the inbox
        placed = read_since(offsets, until=lambda ms: all(
            events_of(ms, oid, "OrderPlaced") for oid in ids + synthetic), timeout=30)
        for oid in (ids[0], contenders[0], synthetic[1]):
            m = events_of(placed, oid, "OrderPlaced")[0]
            produce(m.topic, m.key, m.raw, [(k, v.encode()) for k, v in m.headers.items() if v])
        start("inventory")
        start("payment")
        every = ids + synthetic + [never_placed]
        wait_until(lambda: all(reservation(o) and payment_row(o) for o in every), 60,
                   "the backlog reserved and charged")
        # what the services decided before the orchestrator's decisions reach them
        held = {o: reservation(o) for o in every}
        paid = {o: payment_row(o) for o in every}
    finally:
        for service in ("inventory", "payment", "orchestrator"):
            start(service)

    # the backlog went through both batch paths (the processes started afresh)
    for service in ("inventory", "payment"):
        batched = metric(service, "events_batch_handled_total")
        assert batched >= 8, f"{service}: only {batched} events were handled in batches"

    # competing orders got the stock in delivery order, as one by one
    assert [held[o][0] for o in synthetic] == ["HELD", "REJECTED", "HELD"], held
    assert held[synthetic[1]][3] == f"insufficient stock for {tiny}: requested 2, available 1"
    assert held[synthetic[1]][2] == [{"sku": tiny, "quantity": 2}]
    # whatever order the contenders came in, two got 2 units each and two found 1 left
    got = [o for o in contenders if held[o][0] == "HELD"]
    assert len(got) == 2, [held[o] for o in contenders]
    for oid in set(contenders) - set(got):
        assert held[oid][0] == "REJECTED"
        assert held[oid][3] == f"insufficient stock for {scarce}: requested 2, available 1"
    assert [held[o][0] for o in ids if o not in contenders] == ["HELD"] * len(PLENTY)
    # every order charged once (a copy skipped), the declined one failed, the cancel voided
    assert [paid[o][0] for o in ids + synthetic] == \
        ["FAILED" if o == ids[PLENTY.index(60)] else "SUCCEEDED" for o in ids + synthetic]
    assert held[never_placed][0::2] == ("VOID", [])
    assert held[never_placed][3] == "cancelled before placed"
    assert (paid[never_placed][0],) + paid[never_placed][2:] == \
        ("VOID", 0, "cancelled before placed")

    finals = {oid: wait_final(oid, timeout=60)["status"] for oid in ids}
    declined = ids[PLENTY.index(60)]
    cancelled = {declined} | (set(contenders) - set(got))
    assert finals == {oid: "CANCELLED" if oid in cancelled else "CONFIRMED" for oid in ids}
    wait_until(lambda: [reservation(o)[0] for o in synthetic] == ["COMMITTED", "REJECTED",
                                                                   "COMMITTED"]
               and payment_row(synthetic[1])[0] == "REFUNDED", 60, "the synthetic orders decided")
    levels = stock()
    for sku, want in ((tiny, (0, 3, 3)), (scarce, (1, 4, SCARCE_UNITS))):
        assert (levels[sku]["available"], levels[sku]["reserved"], levels[sku]["initial"]) == want

    # every row is the per-event path's, every event emitted once, caused by its event
    messages = read_since(offsets, until=lambda ms: all(
        events_of(ms, oid, "InventoryReleased") for oid in [declined]) and all(
        events_of(ms, oid, "PaymentRefunded") for oid in cancelled - {declined} | {synthetic[1]}),
        timeout=30)
    for oid in ids + synthetic:
        placed_event = events_of(messages, oid, "OrderPlaced")[0]
        total = placed_event.event["payload"]["totalCents"]
        items = placed_event.event["payload"]["items"]
        status, reservation_id, items_held, reason = reservation(oid)
        decided = one_event(messages, oid, {"InventoryReserved", "OutOfStock"})
        assert_caused_by(decided, placed_event, "inventory")
        assert items_held == [{"sku": i["sku"], "quantity": i["quantity"]} for i in items]
        if status == "REJECTED":
            assert decided.event["eventType"] == "OutOfStock"
            assert decided.event["payload"]["reason"] == reason
            assert not events_of(messages, oid, "InventoryReleased")
        else:
            assert decided.event["eventType"] == "InventoryReserved"
            assert decided.event["payload"]["reservationId"] == reservation_id
            assert decided.event["payload"]["items"] == items_held and reason is None
        pay_status, payment_id, amount, pay_reason = payment_row(oid)
        charged = one_event(messages, oid, {"PaymentSucceeded", "PaymentFailed"})
        assert_caused_by(charged, placed_event, "payment")
        if oid == declined:
            assert (pay_status, amount, charged.event["eventType"]) == ("FAILED", 0, "PaymentFailed")
            assert pay_reason == charged.event["payload"]["reason"] == \
                "payment declined: total 1199.40 exceeds the limit 1000.00"
            released = one_event(messages, oid, {"InventoryReleased"})
            assert_caused_by(released, one_event(messages, oid, {"OrderCancelled"}), "inventory")
            assert released.event["payload"] == {"orderId": oid, "reservationId": reservation_id,
                                                 "items": items_held}
            assert status == "RELEASED"
            continue
        assert charged.event["payload"] == {"orderId": oid, "paymentId": payment_id}
        assert amount == total and pay_reason is None
        if oid in cancelled or oid == synthetic[1]:
            assert pay_status == "REFUNDED"
            refunded = one_event(messages, oid, {"PaymentRefunded"})
            assert_caused_by(refunded, one_event(messages, oid, {"OrderCancelled"}), "payment")
            assert refunded.event["payload"] == {"orderId": oid, "paymentId": payment_id,
                                                 "amountCents": total}
        else:
            assert (pay_status, status) == ("SUCCEEDED", "COMMITTED")
            assert not events_of(messages, oid, "PaymentRefunded")
    for service_events in ("InventoryReserved", "OutOfStock", "PaymentSucceeded", "PaymentFailed"):
        assert not events_of(messages, never_placed, service_events)

    assert_invariants(ids)


@pytest.mark.slow
@pytest.mark.local_stack
def test_a_gateway_exception_gives_the_payment_batch_up_to_the_per_event_path():
    """A charge the gateway answers with a transient error cannot be decided in a batch: the
    batch is rolled back and every event goes through the per-event path, which charges the
    others exactly as the batch would have and retries and dead-letters the failing one."""
    tag = uuid.uuid4().hex[:8].upper()
    sku = add_sku(f"SKU-PAY-BATCH-{tag}", 300, 100)
    key = f"pay-batch-{tag}"
    ids = [str(uuid.uuid4()) for _ in range(3)]
    log = os.path.join(RUN, "logs", "payment.log")
    offsets = end_offsets(["payments.events", "payments.dlq"])
    for service in ("orchestrator", "payment"):
        assert supervisorctl("stop", f"services:{service}").returncode == 0
    try:
        log_size = os.path.getsize(log)
        for oid, flags in zip(ids, ({}, {"forceException": True}, {})):
            produce("orders.events", key, synthetic_order_placed(oid, sku, 1, **flags))
        start("payment")
        messages = read_since(offsets, until=lambda ms: events_of(ms, ids[0], "PaymentSucceeded")
                              and events_of(ms, ids[2], "PaymentSucceeded")
                              and [m for m in ms if m.topic == "payments.dlq" and m.key == key],
                              timeout=60)
    finally:
        for service in ("payment", "orchestrator"):
            start(service)

    with open(log, encoding="utf-8") as f:
        f.seek(log_size)
        assert f"handled one by one: order {ids[1]}: simulated gateway exception" in f.read()
    [dead] = [m for m in messages if m.topic == "payments.dlq" and m.key == key]
    assert dead.event["payload"]["orderId"] == ids[1]
    assert int(dead.headers["x-attempts"]) == MAX_ATTEMPTS
    assert sql("payment", "SELECT count(*) FROM payments WHERE order_id = %s", ids[1]) == [(0,)]
    for oid in (ids[0], ids[2]):
        [charged] = events_of(messages, oid)
        status, payment_id, amount, reason = sql(
            "payment", "SELECT status, payment_id::text, amount_cents, reason FROM payments"
                       " WHERE order_id = %s", oid)[0]
        assert (status, amount, reason) == ("SUCCEEDED", 300, None)
        assert charged.event["eventType"] == "PaymentSucceeded"
        assert charged.event["payload"] == {"orderId": oid, "paymentId": payment_id}
