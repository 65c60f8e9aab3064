"""Issue 10: the notification service handles a fetched batch as a set (one statement stores the
customers the batch's OrderPlaced events name and reads those stored before, the e-mails are
rendered in C, one statement stores them all) and writes exactly the rows its per-event path
writes. The service is stopped while orders are placed, then again while the saga decides and
ships them, so both halves arrive as backlogs: first the OrderPlaced events, then every
confirmation, cancellation and shipment, with a redelivered event (skipped) and an order
cancelled twice without ever being placed (two e-mails to the fallback address) among them.

The longest customer ids the order service accepts (64 characters, up to 256 bytes in UTF-8)
reach every e-mail whole: the recipient was once cut at 127 bytes, inside a character from 64 x
"\u00e9" on, and the e-mail then never stored (the UTF-8 database refused it)."""
import uuid

import pytest

from conftest import (DLQ, add_sku, end_offsets, envelope, events_of, metric, order, place_order,
                      produce, read_since, ready, sql, supervisorctl, wait_until)

# 60 units cost 1,199.40: the payment is declined
QUANTITIES = (1, 2, 1, 60, 3, 1, 2)
MAIL_TYPES = ("OrderConfirmed", "OrderCancelled", "ShipmentCreated")


def rendered(event, customer):
    """The e-mail the templates render for event (templates.c), to customer (None: unknown)."""
    p = event["payload"]
    oid = p["orderId"]
    short = oid[:8]
    recipient = (f"{customer}@customers.example.com" if customer
                 else f"customer+{short}@customers.example.com")
    kind = event["eventType"]
    if kind == "OrderConfirmed":
        subject = f"Order {short} is confirmed"
        body = (f"Good news: your order {oid} is confirmed. Your items are reserved and your "
                "payment went through. We will tell you as soon as it ships.")
    elif kind == "OrderCancelled":
        subject = f"Order {short} was cancelled"
        body = (f"We are sorry: your order {oid} was cancelled "
                f"({p.get('reason') or 'no reason given'}). Nothing is charged: any payment is "
                "refunded and any reserved items are released.")
    else:
        subject = f"Order {short} has shipped"
        body = (f"Your order {oid} is on its way. Shipment reference: "
                f"{p.get('shipmentId') or 'pending'}.")
    return (oid, event["eventId"], kind, recipient, subject, body)


def stopped(service):
    assert supervisorctl("stop", f"services:{service}").returncode == 0


def started(service):
    assert supervisorctl("start", f"services:{service}").returncode == 0
    wait_until(lambda: ready(service), 30, f"the {service} ready again")


def customers_of(ids):
    return dict(sql("notification", "SELECT order_id::text, customer_id FROM order_customers"
                                    " WHERE order_id = ANY(%s::uuid[])", ids))


def mails_of(ids):
    return sql("notification", "SELECT order_id::text, event_id::text, event_type, recipient,"
                               " subject, body FROM notifications"
                               " WHERE order_id = ANY(%s::uuid[]) ORDER BY id", ids)


@pytest.mark.slow
@pytest.mark.local_stack
def test_backlogs_of_e_mails_written_in_batches_as_one_by_one():
    topics = ["orders.events", "order.lifecycle.events", "shipping.events"]
    offsets = end_offsets(topics)
    plenty = add_sku(f"SKU-MAIL-BATCH-{uuid.uuid4().hex[:8].upper()}", 1999, 1000)
    scarce = add_sku(f"SKU-MAIL-SCARCE-{uuid.uuid4().hex[:8].upper()}", 500, 2)
    customers = {}

    # first backlog: the OrderPlaced events only (the orchestrator waits too, so nothing is
    # decided before the customers are stored)
    stopped("notification")
    stopped("orchestrator")
    try:
        try:
            for i, q in enumerate(QUANTITIES):
                c = f"c-mail-{i}-{uuid.uuid4().hex[:6]}"
                customers[place_order([{"sku": plenty, "quantity": q}], customer=c)["orderId"]] = c
            c = f"c-mail-short-{uuid.uuid4().hex[:6]}"
            short = place_order([{"sku": scarce, "quantity": 3}], customer=c)["orderId"]
            customers[short] = c
            ids = list(customers)
            read_since(offsets, until=lambda ms: all(events_of(ms, oid, "OrderPlaced")
                                                     for oid in ids), timeout=60)
        finally:
            started("notification")
        wait_until(lambda: customers_of(ids) == customers, 60, "the customers stored")
        learnt = metric("notification", "events_batch_handled_total")
        assert learnt >= 4, f"only {learnt} OrderPlaced events were handled in batches"
        assert mails_of(ids) == []
        stopped("notification")
    finally:
        started("orchestrator")

    # second backlog: every decision and shipment, a redelivered confirmation, and an order
    # never placed, cancelled twice
    never = str(uuid.uuid4())
    try:
        for oid in ids:
            wait_until(lambda oid=oid: (order(oid) or {}).get("status") in
                       ("CONFIRMED", "CANCELLED"), 60, f"order {oid} decided")
        for reason in ("first cancel", "second cancel"):
            produce("order.lifecycle.events", never,
                    envelope("OrderCancelled", {"orderId": never, "reason": reason}))
        confirmed = [oid for oid in ids if order(oid)["status"] == "CONFIRMED"]

        def waiting(ms):
            return (all(events_of(ms, oid, "ShipmentCreated") for oid in confirmed) and
                    len(events_of(ms, never, "OrderCancelled")) == 2)
        messages = read_since(offsets, until=waiting, timeout=60)
        again = events_of(messages, confirmed[0], "OrderConfirmed")[0]
        produce(again.topic, again.key, again.raw)
    finally:
        started("notification")

    # one e-mail per event that sends one, each exactly as the per-event path renders it:
    # the customers were stored before the batch; the order never placed goes to the fallback
    wanted = [m.event for m in messages if m.event and m.event["eventType"] in MAIL_TYPES and
              m.event["payload"]["orderId"] in ids + [never]]
    want = {rendered(e, customers.get(e["payload"]["orderId"])) for e in wanted}
    assert len(want) == len(wanted) == sum(
        1 for oid in ids for t in MAIL_TYPES if events_of(messages, oid, t)) + 2
    wait_until(lambda: len(mails_of(ids + [never])) >= len(want), 60, "every e-mail stored")
    mails = mails_of(ids + [never])
    assert len(mails) == len(want), "an e-mail stored twice"
    assert set(mails) == want

    # the second backlog went through the batch path too (the process started afresh)
    batched = metric("notification", "events_batch_handled_total")
    assert batched >= 8, f"only {batched} events were handled in batches"
    assert sql("notification", "SELECT count(*) FROM inbox WHERE event_id = %s",
               again.event["eventId"]) == [(1,)]


# 64 characters: 128 bytes ("\u00e9", the example that lost its e-mails) and 256 bytes
LONGEST_CUSTOMERS = {"64-e-acute": "\u00e9" * 64, "64-emoji": "\U0001F600" * 64}


@pytest.mark.parametrize("customer", LONGEST_CUSTOMERS.values(), ids=LONGEST_CUSTOMERS.keys())
def test_the_longest_customer_id_gets_every_e_mail_at_its_whole_address(customer, sku):
    dlq = end_offsets([DLQ["notification"]])
    confirmed = place_order([{"sku": sku, "quantity": 1}], customer=customer)["orderId"]
    declined = place_order([{"sku": sku, "quantity": 60}], customer=customer)["orderId"]  # 1,199.40
    ids = [confirmed, declined]
    want = {(confirmed, "OrderConfirmed"), (confirmed, "ShipmentCreated"),
            (declined, "OrderCancelled")}
    wait_until(lambda: {(m[0], m[2]) for m in mails_of(ids)} == want, 60,
               "the three e-mails stored")
    assert customers_of(ids) == {confirmed: customer, declined: customer}
    for oid, _, kind, recipient, subject, body in mails_of(ids):
        assert recipient == f"{customer}@customers.example.com", (kind, recipient)
        assert subject.startswith(f"Order {oid[:8]} ")
        assert oid in body
    letters = [m for m in read_since(dlq) if m.key in ids]
    assert letters == [], [m.headers.get("x-error") for m in letters]
