"""The invariants, checked after quiescence from the services' own APIs, their databases and
the topics. Each check appends human-readable violations; none stops at the first."""
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from confluent_kafka import Consumer, TopicPartition

import topology as t

FINAL = ("CONFIRMED", "CANCELLED")


def offsets_now(topics):
    c = Consumer({"bootstrap.servers": t.brokers(), "group.id": f"chaos-{uuid.uuid4()}"})
    try:
        out = {}
        for topic in topics:
            for p in c.list_topics(topic, timeout=10).topics[topic].partitions:
                out[(topic, p)] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        return out
    finally:
        c.close()


def read_topics(start):
    """Every message from `start` ({(topic, partition): offset}) to the current end."""
    end = offsets_now(sorted({topic for topic, _ in start}))
    c = Consumer({"bootstrap.servers": t.brokers(), "group.id": f"chaos-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    wanted = {k: v for k, v in end.items() if v > start.get(k, 0)}
    c.assign([TopicPartition(topic, p, start.get((topic, p), 0)) for topic, p in wanted])
    got = {k: start.get(k, 0) for k in wanted}
    messages = []
    deadline = time.monotonic() + 120
    try:
        while any(got[k] < wanted[k] for k in wanted) and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=0.5):
                if m.error():
                    continue
                key = (m.topic(), m.partition())
                got[key] = max(got[key], m.offset() + 1)
                messages.append(m)
    finally:
        c.close()
    return messages


def wait_quiet(accepted, seconds, log):
    """Until every accepted order is final (orders database) and, if confirmed, shipped."""
    ids = list(accepted)
    deadline = time.monotonic() + seconds
    while True:
        try:
            rows = dict(t.sql("order", "SELECT id::text, status FROM orders WHERE id = ANY(%s::uuid[])", ids))
            shipped = {r[0] for r in t.sql("shipping", "SELECT order_id::text FROM shipments"
                                                       " WHERE order_id = ANY(%s::uuid[])", ids)}
            open_ = [i for i in ids if rows.get(i) not in FINAL
                     or (rows.get(i) == "CONFIRMED" and i not in shipped)]
        except Exception as exc:
            open_ = ids
            log(f"quiescence: {exc!r}")
        if not open_ or time.monotonic() > deadline:
            return open_
        log(f"quiescence: {len(open_)} orders still open")
        time.sleep(3)


def _get(service_path):
    """GET from any instance; None for a 404, the JSON for a 200, retried otherwise (an
    instance may still be busy catching up after the faults)."""
    service, path = service_path
    last = None
    for attempt in range(10):
        try:
            r = requests.get(t.url(service, path, attempt % t.REPLICAS + 1), timeout=10)
            if r.status_code == 200:
                return r.json()
            if r.status_code == 404:
                return None
            last = f"{r.status_code} {r.text[:200]}"
        except (requests.RequestException, ValueError) as exc:
            last = repr(exc)
        time.sleep(1)
    return {"unreachable": f"{service} {path}: {last}"}


def check_orders(accepted, v):
    """Every accepted order: final once, saga agrees, payments, shipments, reservations."""
    ids = list(accepted)
    with ThreadPoolExecutor(max_workers=16) as pool:
        orders = dict(zip(ids, pool.map(_get, [("order", f"/orders/{i}") for i in ids])))
        payments = dict(zip(ids, pool.map(_get, [("payment", f"/payments/{i}") for i in ids])))
        views = dict(zip(ids, pool.map(_get, [("read-model", f"/api/orders/{i}") for i in ids])))
    decisions = {}
    for oid, n in t.sql("orchestrator", "SELECT order_id::text, count(*) FROM saga_history"
                                        " WHERE emitted IS NOT NULL AND order_id = ANY(%s::uuid[])"
                                        " GROUP BY 1", ids):
        decisions[oid] = n
    sagas = dict(t.sql("orchestrator", "SELECT order_id::text, state FROM sagas"
                                       " WHERE order_id = ANY(%s::uuid[])", ids))
    ships = dict(t.sql("shipping", "SELECT order_id::text, count(*) FROM shipments"
                                   " WHERE order_id = ANY(%s::uuid[]) GROUP BY 1", ids))
    held = dict(t.sql("inventory", "SELECT order_id::text, status FROM reservations"
                                   " WHERE order_id = ANY(%s::uuid[])", ids))
    counts = {"CONFIRMED": 0, "CANCELLED": 0}
    for oid in ids:
        o = orders.get(oid) or {}
        if o.get("status") not in FINAL:
            v.append(f"order {oid} not final: {o and o.get('status')}")
            continue
        status = o["status"]
        counts[status] += 1
        if sagas.get(oid) != status:
            v.append(f"order {oid} {status} but saga {sagas.get(oid)}")
        if decisions.get(oid, 0) != 1:
            v.append(f"order {oid}: {decisions.get(oid, 0)} saga decisions")
        pay = payments.get(oid)
        if status == "CONFIRMED":
            if ships.get(oid, 0) != 1:
                v.append(f"order {oid} confirmed with {ships.get(oid, 0)} shipments")
            if not pay or pay.get("status") != "SUCCEEDED" or pay.get("amountCents") != o["totalCents"]:
                v.append(f"order {oid} confirmed ({o['totalCents']}) with payment {pay}")
            if held.get(oid) != "COMMITTED":
                v.append(f"order {oid} confirmed with reservation {held.get(oid)}")
        else:
            if ships.get(oid, 0):
                v.append(f"order {oid} cancelled with {ships[oid]} shipments")
            if pay and pay.get("status") not in ("FAILED", "REFUNDED", "VOID"):
                v.append(f"order {oid} cancelled but payment {pay} kept")
            if held.get(oid) in ("HELD", "COMMITTED"):
                v.append(f"order {oid} cancelled but its stock is still {held[oid]}")
        view = views.get(oid)
        if not view or view.get("order", {}).get("status") != status:
            v.append(f"read model shows order {oid} as {view}, not {status}")
        elif view["order"].get("shipped") != (status == "CONFIRMED"):
            v.append(f"read model: order {oid} shipped={view['order'].get('shipped')}")
    return counts, orders


def check_stock(catalog, accepted, orders, v):
    """Per SKU: on hand = what was stocked; reserved = the units of confirmed orders; the
    read model shows the same numbers."""
    want = {sku: 0 for sku in catalog.prices}
    for oid, o in orders.items():
        if o and o.get("status") == "CONFIRMED":
            for line in o["items"]:
                if line["sku"] in want:
                    want[line["sku"]] += line["quantity"]
    listing = _get(("inventory", "/inventory"))
    if not isinstance(listing, list):
        v.append(f"GET /inventory answered {str(listing)[:200]}")
        return
    stock = {s["sku"]: s for s in listing}
    rm = {row[0]: row[1:] for row in t.sql("read-model", "SELECT sku, initial, available, reserved"
                                                         " FROM rm_stock WHERE sku = ANY(%s)",
                                           list(catalog.prices))}
    for sku, units in want.items():
        s = stock.get(sku)
        if not s:
            v.append(f"{sku} missing from the inventory")
            continue
        if s["initial"] != catalog.stock[sku]:
            v.append(f"{sku}: on hand {s['initial']}, stocked {catalog.stock[sku]}")
        if s["reserved"] != units or s["available"] != s["initial"] - units:
            v.append(f"{sku}: available {s['available']} reserved {s['reserved']},"
                     f" confirmed orders hold {units} of {s['initial']}")
        if rm.get(sku) != (s["initial"], s["available"], s["reserved"]):
            v.append(f"{sku}: read model stock {rm.get(sku)} vs inventory"
                     f" {(s['initial'], s['available'], s['reserved'])}")


def check_topics(start, accepted, v):
    """Decisions on the log: one OrderConfirmed/OrderCancelled eventId per order. Each event
    of our orders is in the inbox of every consumer of its topic: applied (at most once, the
    inbox key) and never skipped. Any dead letter written during the run is unexplained."""
    messages = read_topics(start)
    decisions, events, where = {}, {}, {}
    for m in messages:
        if m.topic() in t.DLQ_TOPICS:
            headers = {k: (x.decode(errors="replace") if x else "") for k, x in (m.headers() or [])}
            v.append(f"dead letter {m.topic()}[{m.partition()}]@{m.offset()}: "
                     + json.dumps({k: x for k, x in headers.items() if "error" in k or "reason" in k
                                   or k.startswith("dlq")})[:300])
            continue
        try:
            e = json.loads(m.value())
        except (TypeError, ValueError):
            continue
        oid = (e.get("payload") or {}).get("orderId")
        if oid not in accepted:
            continue
        events.setdefault(m.topic(), set()).add(e["eventId"])
        where[e["eventId"]] = (m.topic(), m.partition(), m.offset())
        if e.get("eventType") in ("OrderConfirmed", "OrderCancelled"):
            decisions.setdefault(oid, set()).add(e["eventId"])
    for oid in accepted:
        if len(decisions.get(oid, ())) != 1:
            v.append(f"order {oid}: {len(decisions.get(oid, ()))} decision events on the log")
    for service, topics in t.CONSUMES.items():
        ids = sorted({e for topic in topics for e in events.get(topic, ())})
        if not ids:
            continue
        seen = {r[0] for r in t.sql(service, "SELECT event_id::text FROM inbox"
                                             " WHERE event_id = ANY(%s::uuid[])", ids)}
        missing = [e for e in ids if e not in seen]
        if missing:
            v.append(f"{service}: {len(missing)} events of its topics never applied"
                     f" (e.g. {missing[:3]}), {placed(missing, where, service)}")
    return sum(len(x) for x in events.values())


def placed(event_ids, where, group):
    """Where on the log events lie, against the group's committed offsets: an event before its
    partition's committed offset was skipped, one at or after it was never reached."""
    parts = sorted({where[e][:2] for e in event_ids})
    try:
        offsets = committed_and_end(t.brokers(), group, sorted({topic for topic, _ in parts}))
    except Exception as e:  # the report goes on without them
        return f"committed offsets unreadable ({e})"
    committed = {part: offsets[part][0] for part in parts}
    skipped = sum(1 for e in event_ids if where[e][2] < committed[where[e][:2]])
    first = {}
    for e in event_ids:
        first[where[e][:2]] = min(first.get(where[e][:2], where[e][2]), where[e][2])
    return (f"{skipped} of them before their partition's committed offset; first at "
            + ", ".join(f"{topic}[{p}]@{first[(topic, p)]} (committed {committed[(topic, p)]})"
                        for topic, p in parts))


def committed_and_end(brokers, group, topics):
    """{(topic, partition): (the group's committed offset, or < 0 for none; the end offset)}
    for every partition of topics."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for topic in topics
                 for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        return {(tp.topic, tp.partition):
                (tp.offset, c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                    timeout=10)[1])
                for tp in c.committed(parts, timeout=10)}
    finally:
        c.close()


def group_lag(brokers, groups):
    """{group: messages not yet committed, summed over its topics' partitions}."""
    return {group: sum(end - max(committed, 0)
                       for committed, end in committed_and_end(brokers, group, topics).values())
            for group, topics in groups.items()}


def wait_consumers_drained(brokers, groups, seconds, log, patience=60):
    """Waits until every group has committed up to the end of its topics, for at most
    `seconds`, and gives up early when the total lag has not shrunk for `patience` seconds
    (a stalled consumer, not a slow one). Returns {group: lag} of the groups still behind."""
    deadline = time.monotonic() + seconds
    best, since, lags = None, time.monotonic(), {}
    while time.monotonic() < deadline:
        try:
            lags = {g: n for g, n in group_lag(brokers, groups).items() if n > 0}
        except Exception as e:  # a broker still recovering: try again
            log(f"drain: lag unknown ({e})")
            time.sleep(2)
            continue
        total = sum(lags.values())
        if total == 0:
            return {}
        if best is None or total < best:
            best, since = total, time.monotonic()
        elif time.monotonic() - since > patience:
            break
        log(f"drain: {total} messages not yet consumed {lags}")
        time.sleep(5)
    return lags
