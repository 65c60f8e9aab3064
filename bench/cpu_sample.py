"""CPU milliseconds per shipped order, by component, at one fixed offered rate.

Offers orders with `hey` for BENCH_SECONDS at the rate given as the first argument (default
200/s), waits until every one is shipped or cancelled, and divides the user+system time the
stack's processes spent over that window (from /proc/<pid>/stat) by the orders shipped:
every component bench/cost.py reads (the Kafka JVMs, each service, Jaeger, Prometheus, nginx,
supervisord) with PostgreSQL split by database (the backend's process title names it; exited
backends and the background processes are reported as "postgres (other)"), and the load
generator apart. A quick tool for weighing one change against another; `make bench`
(bench/bench.py) is the full report.

    EVENTIFY_PORT_OFFSET=200 BENCH_SECONDS=20 /usr/bin/python3 bench/cpu_sample.py 200
"""
import json
import os
import subprocess
import sys
import time

import bench as b
import cost



def snapshot(stack):
    """CPU-ms so far per component (bench/cost.py), PostgreSQL split by database."""
    return cost.postgres_split(stack, cost.cpu_ms(stack))


COUNTS_SQL = """
SELECT 'commits:' || datname, xact_commit FROM pg_stat_database WHERE datname IS NOT NULL
UNION ALL SELECT 'wal syncs', wal_sync FROM pg_stat_wal
UNION ALL SELECT 'statements:' || d.datname, sum(s.calls)::bigint
  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY d.datname"""


def counts():
    """Commits and statements per database and WAL syncs, read as the superuser over the
    stack's socket; statements only when pg_stat_statements is loaded (else left out)."""
    cmd = ["/usr/lib/postgresql/15/bin/psql", "-h", os.path.join(b.RUN, "pg-socket"), "-p",
           str(b.PG_PORT), "-U", "postgres", "-d", "postgres", "-qAtF", "\t", "-c"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    out = subprocess.run(cmd + [COUNTS_SQL], capture_output=True, text=True)
    if out.returncode != 0:  # no pg_stat_statements: commits and WAL syncs only
        out = subprocess.run(cmd + [COUNTS_SQL.split("UNION ALL SELECT 'statements:'")[0]],
                             capture_output=True, text=True)
    return {k: int(v) for k, v in (line.split("\t") for line in out.stdout.split("\n") if line)}


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    b.add_bench_sku()
    customer = f"cpu-{rate}-{int(time.time())}"
    body = json.dumps({"customerId": customer, "items": [{"sku": b.BENCH_SKU, "quantity": 1}]})
    workers = max(1, rate // 25)
    stack = cost.Stack(b.RUN, b.OFFSET)
    counts0, before, t0, load0 = counts(), snapshot(stack), time.monotonic(), os.times()
    b.sh("hey", "-z", f"{b.SECONDS}s", "-q", str(rate / workers), "-c", str(workers), "-m", "POST",
         "-T", "application/json", "-d", body, b.ORDERS_URL)
    load1 = os.times()

    def done():
        placed, lat, cancelled = b.shipped_latencies(customer)
        return len(lat) + cancelled >= len(placed)

    b.wait_until(done, 600, "every order shipped or cancelled")
    after, wall, counts1 = snapshot(stack), time.monotonic() - t0, counts()
    placed, lat, cancelled = b.shipped_latencies(customer)
    shipped = len(lat)
    per = {k: (after.get(k, 0) - before.get(k, 0)) / max(shipped, 1)
           for k in sorted(set(after) | set(before))}
    total = sum(per.values())
    load = 1000.0 * ((load1.children_user + load1.children_system) -
                     (load0.children_user + load0.children_system)) / max(shipped, 1)
    print(f"rate {rate}/s for {b.SECONDS}s: shipped {shipped}, cancelled {cancelled}, "
          f"window {wall:.1f}s, p50 {b.pct(lat, 50):.0f} ms, p99 {b.pct(lat, 99):.0f} ms")
    for k, v in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"  {k:24s} {v:6.2f} CPU-ms/order")
    print(f"  {'TOTAL (stack)':24s} {total:6.2f} CPU-ms/order")
    print(f"  {'load generator (hey)':24s} {load:6.2f} CPU-ms/order")
    done_orders = max(shipped + cancelled, 1)
    per_count = {k: (counts1[k] - counts0.get(k, 0)) / done_orders for k in counts1
                 if counts1[k] != counts0.get(k, 0)}
    print("per order finished (shipped or cancelled):")
    for k, v in sorted(per_count.items()):
        print(f"  {k:32s} {v:7.2f}")
    print(json.dumps({"rate": rate, "shipped": shipped, "per_order_ms": per, "total": total,
                      "per_order_counts": per_count}))


if __name__ == "__main__":
    main()
