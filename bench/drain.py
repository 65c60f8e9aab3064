"""A consumer working through a backlog: what bench/read_model_drain.py and
bench/saga_drain.py share. With SERVICE stopped, offers ORDERS orders with `hey` at RATE/s,
waits until `upstream_done(ids)` (the rest of the stack has done its part, so SERVICE's whole
input waits in Kafka), then starts SERVICE and waits until `drained(ids)`. Returns what the
callers divide by their own units: the order ids, the wall time from the start to the drain,
and the CPU-ms of SERVICE and of its database's backends and that database's commits and
statements over the drain (bench/cost.py, bench/cpu_sample.py)."""
import json
import time

import bench as b
import cost
from cpu_sample import counts, snapshot


def query(database, sql, *args):
    with b.db(database) as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def order_ids(customer):
    return [r[0] for r in query(b.ORDERS_DB, "SELECT id::text FROM orders WHERE customer_id = %s",
                                customer)]


def run(service, orders, rate, upstream_done, drained, drained_every=0.5, started=None):
    database = b.SERVICES[service][1]
    b.add_bench_sku()
    customer = f"drain-{service}-{orders}-{int(time.time())}"
    body = json.dumps({"customerId": customer, "items": [{"sku": b.BENCH_SKU, "quantity": 1}]})
    workers = max(1, rate // 25)
    stack = cost.Stack(b.RUN, b.OFFSET)
    b.supervise("stop", [service])
    try:
        b.sh("hey", "-n", str(orders), "-q", str(rate / workers), "-c", str(workers), "-m",
             "POST", "-T", "application/json", "-d", body, b.ORDERS_URL)
        ids = order_ids(customer)
        b.wait_until(lambda: upstream_done(ids), 900, f"the stack to finish its part before {service}",
                     every=1)
        time.sleep(2)  # the last relays' publishes
    finally:
        stack.refresh()
        counts0, before, t0 = counts(), snapshot(stack), time.monotonic()
        b.supervise("start", [service])
        if started:
            started()  # the service's new process is up, its backlog before it
    b.wait_until(lambda: drained(ids), 1800, f"{service} to work through the backlog",
                 every=drained_every)
    wall = time.monotonic() - t0
    time.sleep(b.STATS_FLUSH_SECONDS)
    stack.refresh()  # the service's new process
    after, counts1 = snapshot(stack), counts()
    cpu = {k: after.get(k, 0) - before.get(k, 0) for k in (service, f"pg:{database}")}
    work = {k: counts1.get(k, 0) - counts0.get(k, 0)
            for k in (f"commits:{database}", f"statements:{database}")}
    return ids, wall, cpu, work
