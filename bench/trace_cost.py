"""What tracing costs: `bench/bench.py saga` at one fixed rate, run with span export off and
then on (the stack restarted in between with EVENTIFY_OTLP_ENDPOINT empty, then set), and
the CPU time (utime + stime from /proc) of every process of the stack over each run divided
by the orders placed in it. Not a test: it measures and prints a Markdown table.

    EVENTIFY_PORT_OFFSET=400 /usr/bin/python3 bench/trace_cost.py [RATE] [SECONDS]

CPU time, not wall time: the machine may be shared. The CPU readings are bench/cost.py's."""
import os
import subprocess
import sys
import time

import cost
from bench import stack_up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))


def snapshot():
    """CPU seconds so far per group: "services" (the seven services' instances together),
    "postgres", "kafka", "jaeger", and the rest (nginx, Prometheus, supervisord) by name."""
    stack, out = cost.Stack(RUN, OFFSET), {}
    for comp, ms in cost.cpu_ms(stack).items():
        group = "services" if comp in stack.http_ports else comp
        out[group] = out.get(group, 0.0) + ms / 1000.0
    return out


def orders_placed():
    env = dict(os.environ, PGPASSWORD=open(os.path.join(RUN, "secrets", "pg-orders")).read().strip())
    out = subprocess.run(["psql", "-h", "localhost", "-p", str(5432 + OFFSET), "-U", "orders",
                          "-d", "orders", "-Atc", "SELECT count(*) FROM orders"],
                         capture_output=True, text=True, env=env, check=True)
    return int(out.stdout)


def export_spans(on):
    """Restarts the stack with span export on (the stack's Jaeger) or off (an empty endpoint)."""
    stack_up(EVENTIFY_OTLP_ENDPOINT=None if on else "")


def measure(label, rate, seconds):
    before, n0 = snapshot(), orders_placed()
    started = time.monotonic()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py"), "saga"], check=True,
                   # its results stay out of the history in bench/results/: not a full run
                   env=dict(os.environ, BENCH_RATES=str(rate), BENCH_SECONDS=str(seconds),
                            BENCH_RESULTS_DIR=os.path.join(RUN, "bench", "trace-cost")),
                   stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after, n1 = snapshot(), orders_placed()
    per_group = {g: after[g] - before.get(g, 0.0) for g in after}
    orders = n1 - n0
    with open(os.path.join(RUN, "bench", "report.md")) as f:
        rss = [line for line in f if line.startswith("Peak RSS")]
    return {"label": label, "orders": orders, "wall": wall, "groups": per_group,
            "rss": rss[0].strip() if rss else ""}


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    runs = []
    export_spans(False)
    runs.append(measure("tracing off", rate, seconds))
    export_spans(True)
    runs.append(measure("tracing on", rate, seconds))
    print(f"Saga bench at {rate} orders/s for {seconds} s (plus bench.py's warm-up), CPU time"
          " of the stack's processes over the run:\n")
    print("| run | orders | services CPU s | ms/order (services) | whole stack CPU s |"
          " ms/order (stack) | of which Jaeger s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        g = r["groups"]
        total = sum(g.values())
        print(f"| {r['label']} | {r['orders']} | {g.get('services', 0):.1f} |"
              f" {1000 * g.get('services', 0) / max(r['orders'], 1):.2f} | {total:.1f} |"
              f" {1000 * total / max(r['orders'], 1):.2f} | {g.get('jaeger', 0):.1f} |")
    off, on = runs
    s_off = off["groups"].get("services", 0) / max(off["orders"], 1)
    s_on = on["groups"].get("services", 0) / max(on["orders"], 1)
    t_off = sum(off["groups"].values()) / max(off["orders"], 1)
    t_on = sum(on["groups"].values()) / max(on["orders"], 1)
    for r in runs:
        print(f"\n{r['label']}: {r['rss']}")
    print(f"\nCPU per order, services: {100 * (s_on / s_off - 1):+.1f} %;"
          f" whole stack incl. Jaeger: {100 * (t_on / t_off - 1):+.1f} %")


if __name__ == "__main__":
    main()
