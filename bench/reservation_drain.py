"""How fast the inventory or the payment service works through a backlog of OrderPlaced, and
what each order costs it.

With the orchestrator stopped (so no saga deadline cancels an order and no decision joins the
backlog) and SERVICE (inventory or payment) stopped, offers ORDERS orders (default 1,000) with
`hey` at RATE/s (default 200; run the stack with EVENTIFY_ADMISSION_MAX_DELAY_MS=0, or
admission control refuses orders while no saga decides) and waits until the order service's
outbox is empty; then starts SERVICE and waits until every order has its reservation (payment)
row. Prints the drain time from the start command and, per order, the CPU of SERVICE and of
PostgreSQL's backends of its database, with that database's commits and statements. The
orchestrator is started again at the end and decides the sagas.

    EVENTIFY_PORT_OFFSET=200 EVENTIFY_ADMISSION_MAX_DELAY_MS=0 infra/scripts/stack.sh up
    EVENTIFY_PORT_OFFSET=200 /usr/bin/python3 bench/reservation_drain.py SERVICE [ORDERS] [RATE]
"""
import json
import sys

import bench as b
import drain
from drain import query

TABLES = {"inventory": "reservations", "payment": "payments"}


def published(ids):
    """Every OrderPlaced is in Kafka: the order service's outbox is empty."""
    [(waiting,)] = query(b.ORDERS_DB, "SELECT count(*) FROM outbox")
    return waiting == 0


def main():
    service = sys.argv[1] if len(sys.argv) > 1 else ""
    if service not in TABLES:
        raise SystemExit("usage: reservation_drain.py inventory|payment [ORDERS] [RATE]")
    orders = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    database = b.SERVICES[service][1]

    def answered(ids):
        [(n,)] = query(database, f"SELECT count(*) FROM {TABLES[service]}"
                       " WHERE order_id = ANY(%s::uuid[])", ids)
        return n == len(ids)

    b.supervise("stop", ["orchestrator"])
    try:
        ids, wall, cpu, work = drain.run(service, orders, rate, published, answered,
                                         drained_every=0.2)
    finally:
        b.supervise("start", ["orchestrator"])
    cpu = {k: v / len(ids) for k, v in cpu.items()}
    per = {k: v / len(ids) for k, v in work.items()}
    print(f"{len(ids)} orders: {service} answered them {wall:.1f} s after its start")
    for k, v in cpu.items():
        print(f"  {k:24s} {v:6.3f} CPU-ms/order")
    for k, v in per.items():
        print(f"  {k:24s} {v:6.3f} per order")
    print(json.dumps({"service": service, "orders": len(ids), "wall": wall,
                      "cpuMsPerOrder": cpu, "perOrder": per}))


if __name__ == "__main__":
    main()
