"""One short saga run on the running stack, for A/B comparisons: RATE orders/s for SECONDS
with `hey`, then, once every order is shipped or cancelled, the end-to-end latency (POST ->
shipment visible in the read model) of the orders placed after the first 3 s, and the CPU
per order of the whole stack and its main parts over the run. With --hops, also the median
time of each hop of the saga for every second of placement (from the read model's timeline:
when each event occurred), which tells a slow component from a slow machine.

    /usr/bin/python3 bench/saga_seconds.py RATE SECONDS [LABEL] [--hops]

Not a test: it measures and prints."""
import collections
import sys
import time

import bench
import cost

HOPS = ("InventoryReserved", "PaymentSucceeded", "OrderConfirmed", "ShipmentCreated")


def placed_and_shipped(customer):
    with bench.db(bench.ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("SELECT id::text, extract(epoch from created_at) FROM orders"
                    " WHERE customer_id = %s", (customer,))
        placed = {o: float(t) for o, t in cur.fetchall()}
    with bench.db(bench.READ_MODEL_DB) as c, c.cursor() as cur:
        cur.execute(bench.READ_MODEL_SHIPPED_SQL, (list(placed),))
        shipped = {o: float(t) for o, t in cur.fetchall()}
    return placed, shipped


def hop_table(placed, shipped, start):
    """Per second of placement: the median ms of each hop (event occurred after the one before)."""
    with bench.db(bench.READ_MODEL_DB) as c, c.cursor() as cur:
        cur.execute("SELECT order_id::text, event_type, extract(epoch from occurred_at)"
                    " FROM rm_timeline WHERE order_id = ANY(%s::uuid[])", (list(shipped),))
        events = collections.defaultdict(dict)
        for order, kind, at in cur.fetchall():
            events[order][kind] = float(at)
    per_second = collections.defaultdict(lambda: collections.defaultdict(list))
    for order, t in placed.items():
        e = events.get(order, {})
        if order not in shipped or not all(k in e for k in HOPS):
            continue
        inv, pay, conf, ship = (1000 * (e[k] - t) for k in HOPS)
        row = per_second[int(t - start)]
        row["order → inventory"].append(inv)
        row["order → payment"].append(pay)
        row["orchestrator"].append(conf - max(inv, pay))
        row["shipping"].append(ship - conf)
        row["read model"].append(1000 * (shipped[order] - t) - ship)
        row["total"].append(1000 * (shipped[order] - t))
    names = ["order → inventory", "order → payment", "orchestrator", "shipping", "read model", "total"]
    lines = ["| second | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for second in sorted(per_second):
        row = per_second[second]
        lines.append(f"| {second} | " + " | ".join(f"{bench.pct(sorted(row[n]), 50):.0f}" for n in names) + " |")
    return "\n".join(lines)


def main():
    args = [a for a in sys.argv[1:] if a != "--hops"]
    rate, seconds = int(args[0]), int(args[1])
    label = args[2] if len(args) > 2 else f"{rate}/s"
    stack = cost.Stack(bench.RUN, bench.OFFSET)
    bench.add_bench_sku()
    before = cost.cpu_ms(stack)
    customer = f"bench-seconds-{int(time.time())}"
    bench.offer(rate, seconds, customer).wait()
    bench.wait_until(lambda: (lambda p, lat, c: len(lat) + c >= len(p))(*bench.shipped_latencies(customer)),
                     300, "every order shipped or cancelled")
    after = cost.cpu_ms(stack)
    placed, shipped = placed_and_shipped(customer)
    start = min(placed.values())
    latency = sorted(1000 * (shipped[o] - t) for o, t in placed.items() if o in shipped and t - start >= 3)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    n = len(placed)
    services = sum(v for k, v in cpu.items() if k in stack.http_ports)
    print(f"{label}: {n} orders, p50 {bench.pct(latency, 50):.0f} ms, p95 {bench.pct(latency, 95):.0f},"
          f" p99 {bench.pct(latency, 99):.0f}; CPU-ms per order: stack {sum(cpu.values()) / n:.2f}"
          f" (Jaeger {cpu.get('jaeger', 0) / n:.2f}, Kafka {cpu.get('kafka', 0) / n:.2f},"
          f" PostgreSQL {cpu.get('postgres', 0) / n:.2f}, services {services / n:.2f})", flush=True)
    if "--hops" in sys.argv:
        print("\nMedian ms of each hop, per second of placement:\n")
        print(hop_table(placed, shipped, start))


if __name__ == "__main__":
    main()
