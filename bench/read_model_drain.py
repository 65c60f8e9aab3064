"""How fast the read model works through a backlog, and what each event costs it.

With the read model stopped, offers ORDERS orders (default 3,000) with `hey` at RATE/s
(default 200) and waits until the services have finished them (every order final in the order
service, every confirmed one shipped); then starts the read model and waits until it shows
them all final and their timelines stop growing. Prints the events projected per second (the
order events' timeline rows over the span of their projected_at, so the consumer group's join
is left out; the wall time from the start is printed too), and per event the CPU of the read
model and of PostgreSQL's readmodel backends, with its database's commits and statements,
and the read model's peak RSS while it drains (anonymous and file-backed apart). While it
drains, the other services are idle, so these are the read model's own costs.

    EVENTIFY_PORT_OFFSET=200 /usr/bin/python3 bench/read_model_drain.py [ORDERS] [RATE]
"""
import json
import sys
import time

import bench as b
import drain
from drain import query

SHIPPING_DB = b.SERVICES["shipping"][1]


def services_finished(ids):
    """Every order final in the order service and every confirmed one shipped."""
    [(final, confirmed)] = query(b.ORDERS_DB, "SELECT count(*) FILTER (WHERE status IN"
                                 " ('CONFIRMED', 'CANCELLED')), count(*) FILTER (WHERE status ="
                                 " 'CONFIRMED') FROM orders WHERE id = ANY(%s::uuid[])", ids)
    [(shipped,)] = query(SHIPPING_DB, "SELECT count(*) FROM shipments"
                         " WHERE order_id = ANY(%s::uuid[])", ids)
    return final == len(ids) and shipped == confirmed


def projected(ids):
    """(orders final in the read model, timeline rows of the orders)."""
    [(final,)] = query(b.READ_MODEL_DB, "SELECT count(*) FROM rm_orders WHERE order_id ="
                       " ANY(%s::uuid[]) AND (status = 'CANCELLED' OR shipped)", ids)
    [(events,)] = query(b.READ_MODEL_DB, "SELECT count(*) FROM rm_timeline"
                        " WHERE order_id = ANY(%s::uuid[])", ids)
    return final, events


def main():
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    last = [None, time.monotonic()]

    def drained(ids):
        """Every order final in the read model and its timelines not growing for 2 s."""
        final, events = projected(ids)
        if (final, events) != last[0]:
            last[0], last[1] = (final, events), time.monotonic()
        return final == len(ids) and time.monotonic() - last[1] >= 2

    sampler = []

    def watch_memory():
        sampler.append(b.RssSampler(["read-model"]))
        sampler[0].start()

    ids, wall, cpu, work = drain.run("read-model", orders, rate, services_finished, drained,
                                     started=watch_memory)
    sampler[0].stop.set()
    memory = {k: getattr(sampler[0], k)["read-model"] for k in ("peak", "peak_anon", "peak_file")}
    [(events, span)] = query(b.READ_MODEL_DB, "SELECT count(*), extract(epoch from"
                             " max(projected_at) - min(projected_at)) FROM rm_timeline"
                             " WHERE order_id = ANY(%s::uuid[])", ids)
    cpu = {k: v / events for k, v in cpu.items()}
    per = {k: v / events for k, v in work.items()}
    print(f"{len(ids)} orders, {events} events: projected in {float(span):.1f} s"
          f" ({events / max(float(span), 0.001):.0f} events/s), {wall:.1f} s from the start"
          " (including the 2 s of quiet that ends it)")
    for k, v in cpu.items():
        print(f"  {k:24s} {v:6.3f} CPU-ms/event")
    for k, v in per.items():
        print(f"  {k:24s} {v:6.3f} per event")
    print(f"  peak RSS while draining    {memory['peak'] / 1024:.1f} MB (anonymous"
          f" {memory['peak_anon'] / 1024:.1f} MB, file-backed {memory['peak_file'] / 1024:.1f} MB)")
    print(json.dumps({"orders": len(ids), "events": events, "seconds": float(span),
                      "wall": wall, "cpuMsPerEvent": cpu, "perEvent": per,
                      "rssPeakKB": memory}))


if __name__ == "__main__":
    main()
