"""Benchmarks of the running local stack (make bench). Not a test: it measures and reports.

1. POST /orders with wrk at 8 and 32 connections, side by side with pgbench running the
   same SQL statement (bench/order_tx.sql) on the same PostgreSQL at the same concurrency,
   with the consuming services stopped so both measure the write path alone (and the order
   service's admission control off, which would refuse orders that wait); RSS of the order
   service sampled meanwhile.
2. The whole saga: orders offered at fixed rates with `hey`, everything running; orders per
   second carried to ShipmentCreated, end-to-end latency POST -> shipment visible in the
   read model (p50/p95/p99), and the RSS of every service.
   Where the milliseconds go (bench/cost.py): CPU-ms per order of every component from
   /proc over the steady window, and per order counts (Kafka messages and deliveries, SQL
   statements, transactions, WAL syncs, bytes); optionally a perf profile of one rate
   (bench/perf_profile.py).
3. Start-up: each service binary started by hand until GET /ready answers 200.
4. The transport floor (bench/floor.py): the broker's CPU per order for the topology's
   messages and deliveries from the thinnest clients, and PostgreSQL's CPU per committed
   transaction from pgbench, with the services stopped: what no service code can go below.
5. What tracing costs (bench/trace_share.py): Jaeger's CPU, the services' exporter threads'
   and the spans' recording, told apart inside three runs at 250 orders/s, against the rest
   of the stack's CPU in the same runs.

Every run that includes the saga writes a JSON result (bench/results.py) into BENCH_RESULTS_DIR
(default bench/results/) and draws its pictures (bench/plots.py) into .run/bench/.

Settings (environment): BENCH_SECONDS (20) per rate, BENCH_RATES (250,500,1000),
BENCH_WARMUP_SECONDS (10), BENCH_RAMP_SECONDS (3) and BENCH_TAIL_SECONDS (1) cut from each end
of the offered period to make the steady window, BENCH_PERF_SECONDS (10; 0 = no profile),
BENCH_FLOOR_RATES (250,1000) and BENCH_FLOOR_TX (transactions per order for the floor: by
default the saga's own count at the same rate when it ran, else 3.5), BENCH_ROUND_TRIPS
(40000: the PostgreSQL round trips the floor times over TCP and over the socket).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg2

import cost
import floor
import perf_profile
import plots
import results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
SUPERVISOR = ["supervisorctl", "-c", os.path.join(RUN, "supervisor", "supervisord.conf")]
# EVENTIFY_PORT_OFFSET shifts every port of the stack, as in infra/scripts/stack.sh.
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
# name -> (HTTP port, database), from the topology table's export (libs/src/topology.c).
with open(os.path.join(ROOT, "infra", "topology.json")) as _f:
    SERVICES = {s["name"]: (s["httpPort"] + OFFSET, s["database"])
                for s in json.load(_f)["services"]}
PG_PORT = 5432 + OFFSET
ORDERS_DB, READ_MODEL_DB = SERVICES["order"][1], SERVICES["read-model"][1]
ORDERS_URL = f"http://localhost:{SERVICES['order'][0]}/orders"
CONSUMERS = [s for s in SERVICES if s != "order"]
BENCH_SKU = "SKU-BENCH-WIDGET"
BENCH_UNITS = 10_000_000  # kept available before each run
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "10"))
RAMP_SECONDS = float(os.environ.get("BENCH_RAMP_SECONDS", "3"))
TAIL_SECONDS = float(os.environ.get("BENCH_TAIL_SECONDS", "1"))
PERF_SECONDS = int(os.environ.get("BENCH_PERF_SECONDS", "10"))
TRACE_RATE = 250  # the rate of the tracing budget's measurement: the latency target's
RESULTS_DIR = os.environ.get("BENCH_RESULTS_DIR", os.path.join(ROOT, "bench", "results"))
MIN_CARRIED = 10  # fewer orders shipped inside the steady window make it meaningless
KEEPS_UP = 0.85  # the stack keeps up while it ships this share of what it accepts
STATS_FLUSH_SECONDS = 1.5  # PostgreSQL publishes pending statistics at most once a second
report = []
result = {}  # the run's figures, saved as JSON by bench/results.py


def pg_password(role):
    """The role's random password, made by the stack at its first start (owner-only file)."""
    with open(os.path.join(RUN, "secrets", f"pg-{role}")) as f:
        return f.read().strip()


def db(name):
    return psycopg2.connect(host="localhost", port=PG_PORT, dbname=name, user=name,
                            password=pg_password(name))


def sh(*cmd, check=True, env=None):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, env=env).stdout


def ready(port):
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def wait_until(predicate, timeout, what, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def supervise(action, names):
    sh(*SUPERVISOR, action, *[f"services:{n}" for n in names], check=False)
    if action in ("start", "restart"):
        for n in names:
            wait_until(lambda p=SERVICES[n][0]: ready(p), 60, f"{n} ready")


def pid_of(name):
    out = sh(*SUPERVISOR, "pid", f"services:{name}", check=False).strip()
    return int(out) if out.isdigit() else None


def rss_parts_kb(pid):
    """(RSS, its anonymous part, its file-backed part) in KB: the heap and stacks against the
    mapped code of the program and its libraries, most of which all services share."""
    parts = {"VmRSS:": 0, "RssAnon:": 0, "RssFile:": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(maxsplit=1)[0] if line.strip() else ""
                if key in parts:
                    parts[key] = int(line.split()[1])
    except OSError:
        pass
    return parts["VmRSS:"], parts["RssAnon:"], parts["RssFile:"]


class RssSampler(threading.Thread):
    """Samples the peak RSS of the named services every 200 ms while running, and the peaks
    of its anonymous and file-backed parts (each its own peak)."""

    def __init__(self, names):
        super().__init__(daemon=True)
        self.pids = {n: pid_of(n) for n in names}
        self.peak = {n: 0 for n in names}
        self.peak_anon = {n: 0 for n in names}
        self.peak_file = {n: 0 for n in names}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for n, pid in self.pids.items():
                if pid:
                    rss, anon, mapped = rss_parts_kb(pid)
                    self.peak[n] = max(self.peak[n], rss)
                    self.peak_anon[n] = max(self.peak_anon[n], anon)
                    self.peak_file[n] = max(self.peak_file[n], mapped)


def inventory_api(method, path, body=None, key=None):
    """A call to the inventory service's admin API with the stack's admin token."""
    with open(os.path.join(RUN, "secrets", "admin-token")) as f:
        token = f.read().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(f"http://localhost:{SERVICES['inventory'][0]}{path}",
                                 method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def add_bench_sku(units=BENCH_UNITS):
    """The benchmark's product, created and stocked through the inventory API like any other
    product (receipts of at most a million units each), then awaited in the order service's
    projection of catalog.events."""
    inventory_api("PUT", f"/products/{BENCH_SKU}", {"name": "Bench widget", "priceCents": 100})
    available = inventory_api("GET", f"/products/{BENCH_SKU}")["available"]
    while available < units:
        delta = min(1_000_000, units - available)
        available = inventory_api("POST", f"/products/{BENCH_SKU}/stock-adjustments",
                                  {"delta": delta, "reason": "benchmark stock"},
                                  key=f"bench-{time.time_ns()}")["available"]

    def priced():
        with db(ORDERS_DB) as c, c.cursor() as cur:
            cur.execute("SELECT 1 FROM products WHERE sku = %s", (BENCH_SKU,))
            return cur.fetchone() is not None
    wait_until(priced, 30, "the order service to learn the bench product")


def stack_up(**settings):
    """`stack.sh up` with this process's environment changed by settings (a value of None
    removes the variable): the services restart with exactly those settings (stack.sh)."""
    env = dict(os.environ)
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run([os.path.join(ROOT, "infra", "scripts", "stack.sh"), "up"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"stack.sh up failed: {done.stderr[-2000:]}")


def outbox_drained(timeout=600):
    """Waits until the order service's relay has published every outbox row. Each side of the
    write path starts on an empty outbox, so neither runs while the relay and the broker work
    off the rows the other side wrote."""
    conn = db(ORDERS_DB)
    conn.autocommit = True
    try:
        def empty():
            with conn.cursor() as cur:
                cur.execute("SELECT NOT EXISTS (SELECT 1 FROM outbox)")
                return cur.fetchone()[0]
        wait_until(empty, timeout, "the order service's outbox to drain", every=0.5)
    finally:
        conn.close()


def write_path():
    report.append("## POST /orders against pgbench (same statement, same PostgreSQL)\n")
    report.append(f"Consumers stopped, admission control off; {SECONDS} s per run; wrk -t2,"
                  " pgbench -j2 -M prepared.\n")
    report.append("| connections | POST /orders req/s | p50 | p99 | pgbench tps | ratio | order RSS peak |")
    report.append("| --- | --- | --- | --- | --- | --- | --- |")
    # With the consumers stopped every order stays PENDING, and admission control would refuse
    # new ones (429) once the oldest is older than its limit: it is off while this runs.
    stack_up(EVENTIFY_ADMISSION_MAX_DELAY_MS="0")
    supervise("stop", CONSUMERS)
    try:
        for conns in (8, 32):
            outbox_drained()
            sampler = RssSampler(["order"])
            sampler.start()
            out = sh("wrk", "-t2", f"-c{conns}", f"-d{SECONDS}s", "--latency", "-s",
                     os.path.join(ROOT, "bench", "post_order.lua"), ORDERS_URL)
            sampler.stop.set()
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            # the latency distribution's lines, not a "70.50%" in the thread stats above them
            p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
            p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            if non2xx:  # a refused order is no write: such a run compares nothing
                raise SystemExit(f"POST /orders answered {non2xx.group(1)} requests with an"
                                 f" error at {conns} connections:\n{out}")
            outbox_drained()
            pg = sh("pgbench", "-n", "-M", "prepared", f"-c{conns}", "-j2", f"-T{SECONDS}", "-f",
                    os.path.join(ROOT, "bench", "order_tx.sql"),
                    f"host=localhost port={PG_PORT} dbname=orders user=orders",
                    env=dict(os.environ, PGPASSWORD=pg_password(ORDERS_DB)))
            tps = float(re.search(r"tps = ([\d.]+)", pg).group(1))
            report.append(f"| {conns} | {rps:.0f} | {p50} | {p99} | {tps:.0f} | "
                          f"{100 * rps / tps:.0f}% | {sampler.peak['order'] / 1024:.1f} MB |")
    finally:
        delete_pgbench_orders()
        stack_up()  # the settings of this environment again, consumers started
    report.append("")


# The customer of every order bench/order_tx.sql writes (a literal there: pgbench cannot bind a
# variable inside the request's JSON text).
PGBENCH_CUSTOMER = "c-pgbench"


def delete_pgbench_orders():
    """pgbench's orders (bench/order_tx.sql) have no saga: they would stay PENDING for ever,
    a backlog that admission control refuses new orders for. Their outbox rows do not refer
    to them and go out as usual; no consumer acts on those events."""
    with db(ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("DELETE FROM order_items WHERE order_id IN"
                    " (SELECT id FROM orders WHERE customer_id = %s)", (PGBENCH_CUSTOMER,))
        cur.execute("DELETE FROM orders WHERE customer_id = %s", (PGBENCH_CUSTOMER,))


def shipped_latencies(customer):
    """Milliseconds from the order's insert to its shipment in the read model, and how many
    of the orders the read model shows cancelled (the saga deadline passed under overload)."""
    with db(ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("SELECT id::text, extract(epoch from created_at) FROM orders"
                    " WHERE customer_id = %s", (customer,))
        placed = dict(cur.fetchall())
    with db(READ_MODEL_DB) as c, c.cursor() as cur:
        cur.execute(READ_MODEL_SHIPPED_SQL, (list(placed),))
        shipped = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM rm_orders WHERE status = 'CANCELLED'"
                    " AND order_id = ANY(%s::uuid[])", (list(placed),))
        cancelled = cur.fetchone()[0]
    lat = sorted(1000 * (float(shipped[o]) - float(t)) for o, t in placed.items() if o in shipped)
    return placed, lat, cancelled


# When the read model made each shipment visible (services/read-model/migrations).
READ_MODEL_SHIPPED_SQL = ("SELECT order_id::text, extract(epoch from projected_at)"
                          " FROM rm_shipments WHERE order_id = ANY(%s::uuid[])")


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def warm_up():
    """BENCH_WARMUP_SECONDS (10) at 50 orders/s, all shipped, so consumer groups have settled
    and caches are warm before anything is measured."""
    customer = f"bench-warm-up-{int(time.time())}"
    body = json.dumps({"customerId": customer, "items": [{"sku": BENCH_SKU, "quantity": 1}]})
    sh("hey", "-z", f"{WARMUP_SECONDS}s", "-q", "5", "-c", "10", "-m", "POST", "-T", "application/json",
       "-d", body, ORDERS_URL)
    wait_until(lambda: (lambda p, l, c: len(l) + c >= len(p))(*shipped_latencies(customer)), 120,
               "the warm-up orders")


def settle(stack):
    """Waits until every group has consumed everything, then a little longer: PostgreSQL
    publishes its cumulative statistics (pg_stat_database, pg_stat_wal) at most once a second,
    so counters read sooner would miss the last transactions."""
    wait_until(lambda: cost.kafka_counts(stack)["lag"] == 0, 300, "every consumer group to catch up", every=0.5)
    time.sleep(STATS_FLUSH_SECONDS)


def shipped_between(customer, t0, t1):
    """How many of the customer's orders the read model showed shipped between t0 and t1."""
    with db(ORDERS_DB) as c, c.cursor() as cur:
        cur.execute("SELECT id::text FROM orders WHERE customer_id = %s", (customer,))
        ids = [r[0] for r in cur.fetchall()]
    with db(READ_MODEL_DB) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM rm_shipments WHERE order_id = ANY(%s::uuid[])"
                    " AND projected_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)", (ids, t0, t1))
        return cur.fetchone()[0]


def idle_cpu(stack, seconds=3.0):
    """CPU-ms per second of each component with no orders offered: the floor under every rate."""
    before, t0 = cost.cpu_ms(stack), time.monotonic()
    time.sleep(seconds)
    after, t1 = cost.cpu_ms(stack), time.monotonic()
    return {k: (after[k] - before.get(k, 0.0)) / (t1 - t0) for k in after}


def run_rate(stack, rate, statements):
    """Offers `rate` orders/s for SECONDS. CPU is read at the edges of the steady window (the
    offered period less RAMP_SECONDS at its start and TAIL_SECONDS at its end) and divided by
    the orders the read model showed shipped inside it; counts are read before the first
    order and after the last one settled, and divided by the orders placed, so that they are
    whole numbers of messages per order."""
    customer = f"bench-{rate}-{int(time.time())}"
    body = json.dumps({"customerId": customer, "items": [{"sku": BENCH_SKU, "quantity": 1}]})
    workers = max(1, rate // 25)
    print(f"bench: {rate} orders/s for {SECONDS} s", file=sys.stderr, flush=True)
    settle(stack)
    counts0, tcp0 = cost.counters(stack, statements), cost.tcp_bytes(stack)
    stmts0 = cost.statement_snapshot(stack) if statements else {}
    sampler = RssSampler(list(SERVICES))
    sampler.start()
    run0 = cost.cpu_ms(stack)
    start = time.monotonic()
    hey = subprocess.Popen(["hey", "-z", f"{SECONDS}s", "-q", str(rate / workers), "-c", str(workers),
                            "-m", "POST", "-T", "application/json", "-d", body, ORDERS_URL],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    extra = {"load generator": hey.pid}
    time.sleep(RAMP_SECONDS)
    cpu0, w0 = cost.cpu_ms(stack, extra), time.time()
    time.sleep(max(0.5, start + SECONDS - TAIL_SECONDS - time.monotonic()))
    cpu1, w1 = cost.cpu_ms(stack, extra), time.time()
    out, err = hey.communicate()
    if hey.returncode != 0:
        raise SystemExit(f"hey failed: {err}")
    offered_end = time.monotonic()
    m = re.search(r"\[201\]\s+(\d+) responses", out)
    accepted = int(m.group(1)) if m else 0

    def done():
        placed, lat, cancelled = shipped_latencies(customer)
        return len(lat) + cancelled >= len(placed)
    try:
        # polled gently: each poll's queries land in the counts of this run
        wait_until(done, 600, "every bench order shipped or cancelled", every=0.1)
    finally:
        sampler.stop.set()
    end = time.monotonic()
    run1 = cost.cpu_ms(stack)
    placed, lat, cancelled = shipped_latencies(customer)
    settle(stack)
    counts1, tcp1 = cost.counters(stack, statements), cost.tcp_bytes(stack)
    carried = shipped_between(customer, w0, w1)
    window = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    load = window.pop("load generator", 0.0)
    whole = {k: run1[k] - run0.get(k, 0.0) for k in run1}
    accepted_rate = accepted / (offered_end - start)
    # The steady window measures an order's cost only while the stack keeps up (it ships
    # about what it accepts). When it falls behind, or a short run on a busy machine ships
    # too little inside the window, the whole run's CPU (first order to last one settled,
    # ramp, drain and idle floor included) over the orders placed is the cost instead.
    keeps_up = carried >= MIN_CARRIED and carried / (w1 - w0) >= KEEPS_UP * accepted_rate
    basis, cpu, per = ("window", window, carried) if keeps_up else ("run", whole, max(1, len(placed)))
    if not keeps_up:
        load *= SECONDS / (w1 - w0)  # hey is reaped by now: its window stands for its run
    raw = cost.diff(counts0, counts1)
    raw.pop("lag", None)
    raw["tcpBytes"] = cost.tcp_delta(tcp0, tcp1)
    orders = max(1, len(placed))
    return {
        "offered": rate, "acceptedPerSecond": accepted_rate,
        "placed": len(placed), "shipped": len(lat), "cancelled": cancelled,
        "shippedPerSecond": len(lat) / (end - start), "drainSeconds": end - offered_end,
        "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
        "windowSeconds": w1 - w0, "carried": carried, "carriedPerSecond": carried / (w1 - w0),
        "cpuBasis": basis,
        "cpuMsPerOrder": {k: v / per for k, v in sorted(cpu.items())},
        "cpuTotalMsPerOrder": sum(cpu.values()) / per,
        "loadGeneratorMsPerOrder": load / per,
        "cpuWindowMsPerOrder": sum(window.values()) / max(1, carried),
        "cpuRunMsPerOrder": sum(whole.values()) / max(1, len(placed)),
        "counts": raw, "perOrder": {k: v / orders for k, v in raw.items()},
        "topStatements": cost.top_statements(stack, stmts0) if statements else [],
        "rssPeakKB": sampler.peak,
        "rssPeakAnonKB": sampler.peak_anon,
        "rssPeakFileKB": sampler.peak_file,
    }


def saga(rates):
    stack = cost.Stack(RUN, OFFSET)
    statements = cost.ensure_pg_stat_statements(stack)
    warm_up()
    settle(stack)
    result["idleCpuMsPerSecond"] = idle_cpu(stack)
    result["statementsCounted"] = statements
    result["rates"] = [run_rate(stack, rate, statements) for rate in rates]
    if PERF_SECONDS > 0:
        result["perf"] = perf_profile.record(stack, PERF_SECONDS, lambda: offer(rates[0], PERF_SECONDS + 4))
        result["perf"]["rate"] = rates[0]
    report.append(results.saga_markdown(result))


def offer(rate, seconds, customer=None):
    """Starts hey offering `rate` orders/s for `seconds` (as `customer`, by default a customer
    of its own); returns it."""
    body = json.dumps({"customerId": customer or f"bench-perf-{int(time.time())}",
                       "items": [{"sku": BENCH_SKU, "quantity": 1}]})
    workers = max(1, rate // 25)
    return subprocess.Popen(["hey", "-z", f"{seconds}s", "-q", str(rate / workers), "-c", str(workers),
                             "-m", "POST", "-T", "application/json", "-d", body, ORDERS_URL],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tracing_share():
    """What tracing costs, told apart inside runs at 250/s (bench/trace_share.py)."""
    import trace_share  # it uses this module's helpers
    text, figures = trace_share.measure(TRACE_RATE, SECONDS, 3)
    result["tracing"] = {"rate": TRACE_RATE, "runs": figures}
    report.append("## What tracing costs\n\n" + text)


def transport_floor():
    measured = {r["offered"]: r["perOrder"].get("commits", 0) for r in result.get("rates", [])}
    given = float(os.environ.get("BENCH_FLOOR_TX", "0"))

    def transactions_per_order(rate):
        if given:
            return given, "BENCH_FLOOR_TX"
        if measured.get(rate):
            return round(measured[rate], 2), f"the saga's at {rate}/s"
        return 3.5, "the saga's at 250/s, about"

    rates = [int(r) for r in os.environ.get("BENCH_FLOOR_RATES", "250,1000").split(",")]
    trips = int(os.environ.get("BENCH_ROUND_TRIPS", "40000"))
    rows, round_trips = floor.run(cost.Stack(RUN, OFFSET), rates, SECONDS, transactions_per_order,
                                  supervise, trips)
    result["floor"] = {"rates": rows, "pgRoundTrip": round_trips}
    report.append(floor.markdown(rows))
    report.append(floor.round_trip_markdown(round_trips))


def startup():
    report.append("## Start-up: process start to GET /ready = 200 (PostgreSQL and Kafka up)\n")
    report.append("| service | ms |")
    report.append("| --- | --- |")
    env = dict(os.environ)
    for name, (port, database) in SERVICES.items():
        supervise("stop", [name])
        env.update(EVENTIFY_HTTP_PORT=str(port), EVENTIFY_PG_DATABASE=database,
                   EVENTIFY_PG_USER=database, EVENTIFY_PG_PASSWORD=pg_password(database),
                   EVENTIFY_PG_PORT=str(PG_PORT), EVENTIFY_KAFKA_BROKERS=f"localhost:{9092 + OFFSET}")
        t0 = time.monotonic()
        proc = subprocess.Popen([os.path.join(ROOT, "build", "release", "bin", f"eventify-{name}")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: ready(port), 10, f"{name} ready")
            report.append(f"| {name} | {1000 * (time.monotonic() - t0):.0f} |")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            supervise("start", [name])
    report.append("")


def main():
    add_bench_sku()
    result.update(results.describe_run(cost.Stack(RUN, OFFSET)))
    m = result["machine"]
    report.insert(0, f"# Benchmark run {result['date']}\n\n"
                     f"Machine: {m['cores']} cores ({m['model']}), {m['ramGiB']:.0f} GiB. "
                     f"Stack: {result['shape']['kafkaNodes']} Kafka node(s), "
                     f"{result['shape']['replicas']} instance(s) of each service. Commit {result['commit']}.\n"
                     f"Command: make bench (BENCH_SECONDS={SECONDS}).\n")
    # The write path runs last: with the consumers stopped it leaves a backlog of orders that
    # the saga then works through (most are cancelled by the saga deadline, as they should).
    steps = sys.argv[1:] or ["saga", "tracing", "floor", "startup", "write"]
    if "saga" in steps:
        result["settings"] = {"seconds": SECONDS, "warmupSeconds": WARMUP_SECONDS,
                              "rampSeconds": RAMP_SECONDS, "tailSeconds": TAIL_SECONDS}
        saga([int(r) for r in os.environ.get("BENCH_RATES", "250,500,1000").split(",")])
    if "tracing" in steps:
        tracing_share()
    if "floor" in steps:
        transport_floor()
    if "startup" in steps:
        startup()
    if "write" in steps:
        write_path()
    out_dir = os.path.join(RUN, "bench")
    os.makedirs(out_dir, exist_ok=True)
    if "saga" in steps:
        path = results.save(result, RESULTS_DIR)
        pictures = plots.draw([result], out_dir)
        report.append(f"Result: {path}; pictures: {', '.join(pictures)}\n")
    text = "\n".join(report)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
