"""How fast the orchestrator works through a backlog, and what each order costs it.

With the orchestrator stopped, offers ORDERS orders (default 2,000) with `hey` at RATE/s
(default 200; admission control refuses orders once the oldest PENDING one is too old, so
run the stack with EVENTIFY_ADMISSION_MAX_DELAY_MS=0 to get them all in) and waits until inventory and payment have answered every one (a reservation
and a payment row each), so the orchestrator's whole input waits in Kafka; then starts the
orchestrator and waits until every saga is decided. Prints the drain time (from the start
command to the last decision seen, and the span of the decisions' transaction times, which
leaves the consumer group's join out), and per order the CPU of the orchestrator and of
PostgreSQL's orchestrator backends, with its database's commits and statements. While it
drains, the services upstream are idle, so these are mostly the orchestrator's own costs
(the decisions it emits start the downstream services' work meanwhile).

    EVENTIFY_PORT_OFFSET=300 EVENTIFY_ADMISSION_MAX_DELAY_MS=0 infra/scripts/stack.sh up
    EVENTIFY_PORT_OFFSET=300 /usr/bin/python3 bench/saga_drain.py [ORDERS] [RATE]
"""
import json
import sys

import bench as b
import drain
from drain import query

INVENTORY_DB = b.SERVICES["inventory"][1]
PAYMENTS_DB = b.SERVICES["payment"][1]
SAGAS_DB = b.SERVICES["orchestrator"][1]


def answered(ids):
    """Every order reserved (or refused) by the inventory and charged (or declined)."""
    [(held,)] = query(INVENTORY_DB, "SELECT count(*) FROM reservations"
                      " WHERE order_id = ANY(%s::uuid[])", ids)
    [(paid,)] = query(PAYMENTS_DB, "SELECT count(*) FROM payments"
                      " WHERE order_id = ANY(%s::uuid[])", ids)
    return held == len(ids) and paid == len(ids)


def decided(ids):
    [(n,)] = query(SAGAS_DB, "SELECT count(*) FROM sagas WHERE order_id = ANY(%s::uuid[])"
                   " AND state IN ('CONFIRMED', 'CANCELLED')", ids)
    return n


def main():
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    ids, wall, cpu, work = drain.run("orchestrator", orders, rate, answered,
                                     lambda ids: decided(ids) == len(ids), drained_every=0.2)
    [(span,)] = query(SAGAS_DB, "SELECT extract(epoch from max(at) - min(at)) FROM saga_history"
                      " WHERE order_id = ANY(%s::uuid[])", ids)
    cpu = {k: v / len(ids) for k, v in cpu.items()}
    per = {k: v / len(ids) for k, v in work.items()}
    print(f"{len(ids)} orders: decided {wall:.1f} s after the start"
          f" ({len(ids) / max(wall, 0.001):.0f} orders/s), history span {float(span):.1f} s")
    for k, v in cpu.items():
        print(f"  {k:24s} {v:6.3f} CPU-ms/order")
    for k, v in per.items():
        print(f"  {k:24s} {v:6.3f} per order")
    print(json.dumps({"orders": len(ids), "wall": wall, "span": float(span),
                      "cpuMsPerOrder": cpu, "perOrder": per}))


if __name__ == "__main__":
    main()
