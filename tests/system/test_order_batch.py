"""Issue 10: the order service applies a fetched batch of the orchestrator's decisions in one
statement. Orders are placed while the orchestrator is stopped (they stay PENDING); then the
order service is stopped and the orchestrator started, so every decision waits in Kafka and
arrives at the order service in batches when it starts again: each order must end as its
decision says, a cancellation with its reason, exactly as the per-event path writes it."""
import uuid

import pytest

from conftest import (add_sku, assert_invariants, end_offsets, events_of, metric, order,
                      place_order, read_since, ready, supervisorctl, wait_final, wait_until)

# 60 units cost 1,199.40: the payment is declined
QUANTITIES = (1, 2, 1, 60, 3, 1, 2, 1)


def decided(ids):
    """True once every order's decision is in Kafka."""
    return lambda messages: all(events_of(messages, oid, "OrderConfirmed") or
                                events_of(messages, oid, "OrderCancelled") for oid in ids)


def restart(service):
    assert supervisorctl("start", f"services:{service}").returncode == 0
    wait_until(lambda: ready(service), 30, f"{service} ready again")


@pytest.mark.slow
@pytest.mark.local_stack
def test_a_backlog_of_decisions_applied_in_batches():
    offsets = end_offsets(["order.lifecycle.events"])
    plenty = add_sku(f"SKU-ORDER-BATCH-{uuid.uuid4().hex[:8].upper()}", 1999, 1000)
    scarce = add_sku(f"SKU-ORDER-SCARCE-{uuid.uuid4().hex[:8].upper()}", 500, 2)
    assert supervisorctl("stop", "services:orchestrator").returncode == 0
    try:
        ids = [place_order([{"sku": plenty, "quantity": q}])["orderId"] for q in QUANTITIES]
        short = place_order([{"sku": scarce, "quantity": 3}])["orderId"]  # out of stock
        ids.append(short)
        assert supervisorctl("stop", "services:order").returncode == 0
    finally:
        restart("orchestrator")
    try:
        messages = read_since(offsets, until=decided(ids), timeout=60)
    finally:
        restart("order")
    finals = {oid: wait_final(oid, timeout=60) for oid in ids}

    declined = ids[QUANTITIES.index(60)]
    for oid in ids:
        decisions = [m.event for m in events_of(messages, oid)
                     if m.event["eventType"] in ("OrderConfirmed", "OrderCancelled")]
        assert len(decisions) == 1, (oid, decisions)
        want = "CANCELLED" if oid in (declined, short) else "CONFIRMED"
        assert decisions[0]["eventType"] == ("OrderCancelled" if want == "CANCELLED"
                                             else "OrderConfirmed")
        got = finals[oid]
        assert got["status"] == want, (oid, got)
        if want == "CANCELLED":
            assert got["cancelReason"] == decisions[0]["payload"]["reason"], (oid, got)
            assert got["cancelReason"].startswith(
                "payment failed" if oid == declined else "out of stock"), got
        else:
            assert got.get("cancelReason") is None, (oid, got)

    # the backlog went through the batch path (the process started afresh, so its counter
    # counts only this backlog)
    batched = metric("order", "events_batch_handled_total")
    assert batched >= 5, f"only {batched} decisions were handled in batches"
    assert all(order(oid)["status"] == finals[oid]["status"] for oid in ids)
    assert_invariants(ids)
