"""make bench-short (part of make test): a few seconds of the saga bench at one low rate
against the running stack, checking that the bench still produces its cost table, counts,
JSON result and pictures and that they are sane. No performance figure is asserted: the
machine may be busy with anything."""
import glob
import json
import os
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
sys.path.insert(0, BENCH)

import results  # noqa: E402

# A confirmed order is five events: OrderPlaced, InventoryReserved, PaymentSucceeded,
# OrderConfirmed, ShipmentCreated.
EVENTS_PER_ORDER = 5
STACK_COMPONENTS = {"postgres", "kafka", "order", "orchestrator", "inventory", "shipping", "payment",
                    "read-model", "notification"}


def test_short_bench_produces_sane_tables_json_and_pictures(tmp_path):
    env = dict(os.environ, BENCH_SECONDS="6", BENCH_RATES="20", BENCH_WARMUP_SECONDS="3",
               BENCH_RAMP_SECONDS="1", BENCH_TAIL_SECONDS="0.5", BENCH_PERF_SECONDS="0",
               BENCH_RESULTS_DIR=str(tmp_path))
    for png in glob.glob(os.path.join(RUN, "bench", "bench-*.png")):
        os.remove(png)
    run = subprocess.run([sys.executable, os.path.join(BENCH, "bench.py"), "saga"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "CPU-ms per order by component" in run.stdout
    assert "Counts per order" in run.stdout

    files = glob.glob(str(tmp_path / "*.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        result = json.load(f)
    assert result["commit"] and result["machine"]["cores"] >= 1
    assert result["shape"]["kafkaNodes"] in (1, 3)
    (rate,) = result["rates"]
    assert rate["offered"] == 20
    assert rate["placed"] > 0 and rate["shipped"] + rate["cancelled"] == rate["placed"]
    assert rate["cpuBasis"] in ("window", "run")

    cpu = rate["cpuMsPerOrder"]
    assert STACK_COMPONENTS <= set(cpu), cpu
    assert all(v >= 0 for v in cpu.values()), cpu
    assert rate["cpuTotalMsPerOrder"] > 0
    assert abs(rate["cpuTotalMsPerOrder"] - sum(cpu.values())) < 1e-6
    assert "load generator" not in cpu and rate["loadGeneratorMsPerOrder"] >= 0

    # each service's peak RSS, and the peaks of its own and its shared-library parts: each
    # part is at most the whole (the peaks may fall in different samples), and they add up
    # to at least the whole
    peak, own, mapped = rate["rssPeakKB"], rate["rssPeakAnonKB"], rate["rssPeakFileKB"]
    assert set(peak) == set(own) == set(mapped) and len(peak) == 7, peak
    for service, kb in peak.items():
        assert 0 < own[service] <= kb and 0 < mapped[service] <= kb, (service, peak, own, mapped)
        assert own[service] + mapped[service] >= kb, (service, peak, own, mapped)

    per_order = rate["perOrder"]
    assert per_order["produced"] >= EVENTS_PER_ORDER, per_order
    assert per_order["delivered"] >= per_order["produced"], per_order
    assert per_order["commits"] > 0 and per_order["walSyncs"] > 0 and per_order["tcpBytes"] > 0, per_order
    if result["statementsCounted"]:
        assert per_order["statements"] >= per_order["commits"], per_order

    for name in ("bench-latency.png", "bench-cpu.png"):
        with open(os.path.join(RUN, "bench", name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    trend = results.trend_table(results.load_all(str(tmp_path)))
    assert trend.count("\n") == 2 and f"| {result['commit']}" in trend


def test_postgres_cpu_is_charged_to_each_service_database():
    """The drains and bench/cpu_sample.py charge PostgreSQL's CPU to each service's database
    by its backends' process titles. The services reach PostgreSQL on its Unix socket, whose
    backends are titled `[local]` instead of `host(port)`: until 2026-11-27 the split missed
    them and charged every backend to "postgres (other)"."""
    import cost
    with open(os.path.join(ROOT, "infra", "topology.json")) as f:
        databases = {s["database"] for s in json.load(f)["services"]}
    stack = cost.Stack(os.path.abspath(RUN), int(os.environ.get("EVENTIFY_PORT_OFFSET", "0")))
    split = cost.postgres_split(stack, cost.cpu_ms(stack))
    charged = {key[len("pg:"):] for key in split if key.startswith("pg:")}
    assert databases <= charged, split


def test_tracing_cost_is_attributed_to_its_threads():
    """bench/trace_share.py tells tracing's CPU apart inside one run: Jaeger's, the services'
    exporter threads' (found by their name, "ev-trace") and the spans' recording (spans
    exported times what the probe measures one to cost). Each part must be found and be
    plausible, or the share it prints would be wrong without anyone seeing it."""
    import cost
    import trace_share
    ns = trace_share.span_cost_ns(count=20_000)
    assert 50 < ns < 100_000, ns
    stack = cost.Stack(os.path.abspath(RUN), int(os.environ.get("EVENTIFY_PORT_OFFSET", "0")))
    run = trace_share.one_run(stack, 20, 4)
    orders = run["orders"]
    assert orders >= 40, run
    # a confirmed order's trace: 17 deliveries and 5 publishes, the request and its insert,
    # and its share of the batches' transaction spans
    assert 20 <= run["spans"] / orders <= 40, run
    # every service instance's exporter thread is found (a few seconds at 20/s may cost them
    # less than the kernel's 10 ms tick, so their time is not what is checked)
    instances = [p for p in stack.programs if cost.component_of(p) in stack.http_ports]
    assert len(trace_share.exporter_threads(stack)) == len(instances), stack.programs
    assert run["jaeger"] > 0 and run["exporters"] >= 0, run
    assert run["jaeger"] + run["exporters"] < run["total"], run


def test_write_path_compares_post_with_pgbench_and_leaves_no_pgbench_orders():
    """bench/bench.py write, a few seconds a side: POST /orders under wrk against pgbench
    running the service's statement, at 8 and 32 connections. pgbench's orders have no saga
    and would stay PENDING for ever, a backlog that admission control then refuses every new
    order for: the step deletes them. Whatever pgbench wrote, no order other than wrk's may
    remain from the step. (The step restarts the services twice, with this environment's
    settings; the test then waits until the saga has finished wrk's orders, so the stack is
    quiet for what runs next.)"""
    import bench as b
    with b.db(b.ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("SELECT now()")
        (start,) = cur.fetchone()
    env = dict(os.environ, BENCH_SECONDS="2")
    run = subprocess.run([sys.executable, os.path.join(BENCH, "bench.py"), "write"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines()
            if line.startswith("| 8 |") or line.startswith("| 32 |")]
    assert [r[0].strip() for r in rows] == ["8", "32"], run.stdout
    for r in rows:
        assert float(r[1]) > 0 and float(r[4]) > 0, r  # req/s and pgbench's tps
    with b.db(b.ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("SELECT customer_id, count(*) FROM orders WHERE created_at >= %s"
                    " GROUP BY customer_id", (start,))
        written = dict(cur.fetchall())
    assert written.get("c-bench", 0) > 0, written  # wrk's, which the saga works through
    assert set(written) == {"c-bench"}, written

    def pending():
        with b.db(b.ORDERS_DB) as c, c.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders WHERE created_at >= %s"
                        " AND status = 'PENDING'", (start,))
            return cur.fetchone()[0]
    deadline = time.monotonic() + 600
    while pending() and time.monotonic() < deadline:
        time.sleep(2)
    assert pending() == 0, "the saga did not finish wrk's orders within 600 s"
