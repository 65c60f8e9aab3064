"""Issue 10: the orchestrator handles a fetched batch as a set (one statement to lock or
create every saga of the batch, saga_step folded over the events in C, one statement to write
the states and history back, then the decisions' outbox rows). The orchestrator is stopped
while orders are placed and their inventory and payment results are produced, so all of it
waits in Kafka and arrives in batches when it starts again: every saga must reach the
decision its events call for, exactly once, with the history and decision events the
per-event path writes."""
import uuid

import pytest

from conftest import (add_sku, assert_invariants, end_offsets, events_of, metric, place_order,
                      read_since, ready, sql, supervisorctl, wait_final, wait_until)

RESULTS = {"InventoryReserved", "OutOfStock", "PaymentSucceeded", "PaymentFailed"}
# 60 units cost 1,199.40: the payment is declined
QUANTITIES = (1, 2, 1, 60, 3, 1, 2)


def results_waiting(ids):
    """True once every order has its inventory and its payment result in Kafka."""
    def check(messages):
        for oid in ids:
            types = {m.event["eventType"] for m in events_of(messages, oid)}
            if not ({"InventoryReserved", "OutOfStock"} & types and
                    {"PaymentSucceeded", "PaymentFailed"} & types):
                return False
        return True
    return check


@pytest.mark.slow
@pytest.mark.local_stack
def test_a_backlog_of_sagas_decided_in_batches_once_each():
    offsets = end_offsets(["inventory.events", "payments.events", "order.lifecycle.events"])
    plenty = add_sku(f"SKU-SAGA-BATCH-{uuid.uuid4().hex[:8].upper()}", 1999, 1000)
    scarce = add_sku(f"SKU-SAGA-SCARCE-{uuid.uuid4().hex[:8].upper()}", 500, 2)
    assert supervisorctl("stop", "services:orchestrator").returncode == 0
    try:
        ids = [place_order([{"sku": plenty, "quantity": q}])["orderId"] for q in QUANTITIES]
        short = place_order([{"sku": scarce, "quantity": 3}])["orderId"]  # out of stock
        ids.append(short)
        read_since(offsets, until=results_waiting(ids), timeout=60)
    finally:
        assert supervisorctl("start", "services:orchestrator").returncode == 0
        wait_until(lambda: ready("orchestrator"), 30, "the orchestrator ready again")
    finals = {oid: wait_final(oid, timeout=60)["status"] for oid in ids}
    declined = ids[QUANTITIES.index(60)]
    want = {oid: "CANCELLED" if oid in (declined, short) else "CONFIRMED" for oid in ids}
    assert finals == want

    # the backlog went through the batch path: several orders' events at a time (the
    # process started afresh, so its counter counts only this backlog)
    batched = metric("orchestrator", "events_batch_handled_total")
    assert batched >= 10, f"only {batched} events were handled in batches"

    # each saga stepped once per event, every step from the state the previous one left,
    # and decided once: what its events call for
    for oid in ids:
        history = sql("orchestrator", "SELECT event_type, event_id::text, from_state, to_state,"
                                      " emitted FROM saga_history WHERE order_id = %s"
                                      " ORDER BY id", oid)
        assert sorted(h[0] for h in history) == sorted(
            ["OrderPlaced", "InventoryReserved" if oid != short else "OutOfStock",
             "PaymentFailed" if oid == declined else "PaymentSucceeded"]), (oid, history)
        assert history[0][2] == "STARTED", (oid, history)
        for before, after in zip(history, history[1:]):
            assert after[2] == before[3], (oid, history)
        decided = [h for h in history if h[4]]
        emitted = "OrderConfirmed" if want[oid] == "CONFIRMED" else "OrderCancelled"
        assert [(h[3], h[4]) for h in decided] == [(want[oid], emitted)], (oid, history)
        state, reason = sql("orchestrator", "SELECT state, reason FROM sagas"
                                            " WHERE order_id = %s", oid)[0]
        assert state == want[oid]
        if oid == declined:
            assert reason.startswith("payment failed"), reason
        elif oid == short:
            assert reason.startswith("out of stock"), reason
        else:
            assert reason is None

    # one decision event per order, caused by the event whose step decided it, in that
    # event's trace (the batch handler writes it under the causing message's span)
    messages = read_since(offsets, until=lambda ms: all(
        events_of(ms, oid, "OrderConfirmed") or events_of(ms, oid, "OrderCancelled")
        for oid in ids), timeout=30)
    by_id = {m.event["eventId"]: m for m in messages if m.event}
    for oid in ids:
        decisions = [m for m in events_of(messages, oid)
                     if m.event["eventType"] in ("OrderConfirmed", "OrderCancelled")]
        assert len(decisions) == 1, (oid, [m.event for m in decisions])
        decision = decisions[0]
        cause = sql("orchestrator", "SELECT event_id::text FROM saga_history"
                                    " WHERE order_id = %s AND emitted IS NOT NULL", oid)[0][0]
        assert decision.headers.get("causationId") == cause, (oid, decision.headers)
        correlation = sql("orchestrator", "SELECT correlation_id::text FROM sagas"
                                          " WHERE order_id = %s", oid)[0][0]
        assert decision.event["correlationId"] == correlation, (oid, decision.event)
        assert decision.event["producer"] == "orchestrator"
        assert decision.key == oid
        trace = decision.headers["traceparent"].split("-")[1]
        assert trace == by_id[cause].headers["traceparent"].split("-")[1], (oid, decision.headers)

    assert_invariants(ids)
