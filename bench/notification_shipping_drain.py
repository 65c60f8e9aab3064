"""How fast the notification or the shipping service works through a backlog, and what each
order costs it (bench/drain.py: the service stopped while ORDERS orders, default 1,000, are
offered at RATE/s, default 100, and the rest of the stack has done its part; then started and
timed until the backlog is handled). Prints the drain time and per order the CPU of the service
and of PostgreSQL's backends of its database, with that database's commits and statements.

    EVENTIFY_PORT_OFFSET=100 /usr/bin/python3 bench/notification_shipping_drain.py \
        notification|shipping [ORDERS] [RATE]
"""
import json
import sys

import bench as b
import drain
from drain import query

SHIPPING_DB = b.SERVICES["shipping"][1]
NOTIFICATIONS_DB = b.SERVICES["notification"][1]


def decided(ids):
    """(confirmed, cancelled) among the orders, as the order service has them."""
    rows = dict(query(b.ORDERS_DB, "SELECT status, count(*) FROM orders"
                      " WHERE id = ANY(%s::uuid[]) GROUP BY status", ids))
    return rows.get("CONFIRMED", 0), rows.get("CANCELLED", 0)


def shipments(ids):
    [(n,)] = query(SHIPPING_DB, "SELECT count(*) FROM shipments WHERE order_id = ANY(%s::uuid[])",
                   ids)
    return n


def all_decided(ids):
    return sum(decided(ids)) == len(ids)


def all_shipped(ids):
    confirmed, cancelled = decided(ids)
    return confirmed + cancelled == len(ids) and shipments(ids) == confirmed


def all_mailed(ids):
    """Every e-mail stored: a confirmation and a shipment per confirmed order, a cancellation
    per cancelled one."""
    confirmed, cancelled = decided(ids)
    [(n,)] = query(NOTIFICATIONS_DB, "SELECT count(*) FROM notifications"
                   " WHERE order_id = ANY(%s::uuid[])", ids)
    return n == 2 * confirmed + cancelled


def main():
    service = sys.argv[1] if len(sys.argv) > 1 else "notification"
    orders = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    if service == "notification":
        upstream, drained = all_shipped, all_mailed
    elif service == "shipping":
        upstream, drained = all_decided, all_shipped
    else:
        sys.exit(f"unknown service {service}: notification or shipping")
    ids, wall, cpu, work = drain.run(service, orders, rate, upstream, drained, drained_every=0.2)
    cpu = {k: v / len(ids) for k, v in cpu.items()}
    per = {k: v / len(ids) for k, v in work.items()}
    print(f"{len(ids)} orders: {service} drained {wall:.1f} s after the start"
          f" ({len(ids) / max(wall, 0.001):.0f} orders/s)")
    for k, v in cpu.items():
        print(f"  {k:24s} {v:6.3f} CPU-ms/order")
    for k, v in per.items():
        print(f"  {k:24s} {v:6.3f} per order")
    print(json.dumps({"service": service, "orders": len(ids), "wall": wall,
                      "cpuMsPerOrder": cpu, "perOrder": per}))


if __name__ == "__main__":
    main()
