"""Issue 10: the read model projects a fetched batch as a set (one statement to lock the
orders' rows, one to write every table back) and ends in exactly the rows its per-event path
gives. The read model is stopped while a product is added and orders run through the saga,
so their events wait in Kafka and arrive in batches when it starts again; the result must agree with the services and
equal a rebuild from the log event by event (`--rebuild --per-event`)."""
import os
import subprocess
import uuid

import pytest

from conftest import (PORT_OFFSET, ROOT, add_sku, instance_env, metric, order, place_order,
                      ready, shipment, sql, stock, supervisorctl, wait_final, wait_until)
from test_read_model import dump

QUANTITIES = (1, 2, 1, 3, 60, 1, 2, 1)  # 60 units cost 1,199.40: the payment is declined


def projected_as_services_say(order_ids):
    for oid in order_ids:
        rows = sql("read-model", "SELECT status, shipped FROM rm_orders WHERE order_id = %s", oid)
        o = order(oid)
        if not rows or rows[0] != (o["status"], o["status"] == "CONFIRMED"):
            return False
    return True


def rebuilt():
    """The projections a rebuild from the log event by event gives (`--rebuild --per-event`:
    the per-event path), the service stopped meanwhile and started again afterwards; with the
    rows before the rebuild."""
    assert supervisorctl("stop", "services:read-model").returncode == 0
    try:
        before = dump()
        env = instance_env("read-model", 18186 + PORT_OFFSET)
        r = subprocess.run([os.path.join(ROOT, "build", "release", "bin", "eventify-read-model"),
                            "--rebuild", "--per-event"], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return before, dump()
    finally:
        supervisorctl("start", "services:read-model")
        wait_until(lambda: ready("read-model"), 30, "the read model ready again")


@pytest.mark.slow
@pytest.mark.local_stack
def test_a_backlog_projected_in_batches_equals_the_per_event_path():
    assert supervisorctl("stop", "services:read-model").returncode == 0
    try:
        # the product's events (ProductUpserted, StockAdjusted) wait in the same backlog
        sku = add_sku(f"SKU-BATCH-{uuid.uuid4().hex[:8].upper()}", 1999, 1000)
        ids = [place_order([{"sku": sku, "quantity": q}])["orderId"] for q in QUANTITIES]
        finals = {oid: wait_final(oid, timeout=60)["status"] for oid in ids}
    finally:
        supervisorctl("start", "services:read-model")
    assert sorted(finals.values()).count("CANCELLED") == 1, finals
    wait_until(lambda: projected_as_services_say(ids), 60, "the backlog projected")

    # the backlog went through the batch path: at least a few orders' events at a time (the
    # process started afresh, so its counter counts only this backlog and what followed it)
    batched = metric("read-model", "events_batch_handled_total")
    assert batched >= 10, f"only {batched} events were projected in batches"

    # what the services say: shipments, stock, and every event on each order's timeline
    for oid in ids:
        s = shipment(oid)
        rows = sql("read-model", "SELECT shipment_id::text, status FROM rm_shipments"
                                 " WHERE order_id = %s", oid)
        assert rows == ([(s["shipmentId"], s["status"])] if s else []), (oid, rows, s)
        types = sorted(t for t, in sql("read-model", "SELECT event_type FROM rm_timeline"
                                                     " WHERE order_id = %s", oid))
        want = (["InventoryReserved", "OrderConfirmed", "OrderPlaced", "PaymentSucceeded",
                 "ShipmentCreated"] if finals[oid] == "CONFIRMED" else
                ["InventoryReleased", "InventoryReserved", "OrderCancelled", "OrderPlaced",
                 "PaymentFailed"])
        assert types == want, (oid, types)
    inventory = stock()[sku]
    wait_until(lambda: sql("read-model", "SELECT name, price_cents, initial, available, reserved"
                                         " FROM rm_stock WHERE sku = %s", sku) ==
               [(sku, 1999, 1000, inventory["available"], inventory["reserved"])], 30,
               "the read model's stock to equal the inventory's")
    placed = sql("read-model", "SELECT count(*), sum(item_count) FROM rm_orders"
                               " WHERE order_id = ANY(%s::uuid[])", ids)
    assert placed == [(len(ids), sum(QUANTITIES))]

    # the same rows as the per-event path: this rebuild projects every event one by one
    before, after = rebuilt()
    for table in before:
        assert after[table] == before[table], f"{table} differs from the per-event path"
