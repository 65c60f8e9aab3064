"""What tracing costs: `bench/bench.py saga` at one fixed rate, run with span export off and
then on (the stack restarted in between with EVENTIFY_OTLP_ENDPOINT empty, then set), and
the CPU time (utime + stime from /proc) of every process of the stack over each run divided
by the orders placed in it. Not a test: it measures and prints a Markdown table.

    EVENTIFY_PORT_OFFSET=400 /usr/bin/python3 bench/trace_cost.py [RATE] [SECONDS]

CPU time, not wall time: the machine may be shared. Processes that end within a window
(none of the stack's, normally) are not counted."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = ["order", "inventory", "payment", "orchestrator", "shipping", "notification",
            "read-model"]


def supervisord_pid():
    with open(os.path.join(RUN, "supervisor", "supervisord.pid")) as f:
        return int(f.read())


def children():
    """pid -> parent pid of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(entry)] = int(fields[1])
            except OSError:
                pass
    return out


def cpu_seconds(pid):
    """utime + stime of pid, and of its children it has waited for, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def command(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def stack_processes():
    """pid -> group ("services", "postgres", "kafka", "jaeger", "web") of every process under
    the stack's supervisord."""
    parents = children()
    root = supervisord_pid()
    groups = {}
    for pid in parents:
        p, chain = pid, []
        while p in parents and p != root and p > 1:
            chain.append(p)
            p = parents[p]
        if p != root or not chain:
            continue
        top = command(chain[-1])
        group = ("services" if "eventify-" in top else "postgres" if "postgres" in top else
                 "kafka" if "kafka.Kafka" in top else "jaeger" if "jaeger" in top else "web")
        groups[pid] = group
    return groups


def snapshot():
    out = {}
    for pid, group in stack_processes().items():
        try:
            out[pid] = (group, cpu_seconds(pid))
        except OSError:
            pass
    return out


def orders_placed():
    env = dict(os.environ, PGPASSWORD=open(os.path.join(RUN, "secrets", "pg-orders")).read().strip())
    out = subprocess.run(["psql", "-h", "localhost", "-p", str(5432 + OFFSET), "-U", "orders",
                          "-d", "orders", "-Atc", "SELECT count(*) FROM orders"],
                         capture_output=True, text=True, env=env, check=True)
    return int(out.stdout)


def stack_up(endpoint):
    env = dict(os.environ)
    if endpoint is None:
        env["EVENTIFY_OTLP_ENDPOINT"] = ""
    else:
        env.pop("EVENTIFY_OTLP_ENDPOINT", None)
    subprocess.run([os.path.join(ROOT, "infra", "scripts", "stack.sh"), "up"], env=env,
                   check=True, stdout=subprocess.DEVNULL)


def measure(label, rate, seconds):
    before, n0 = snapshot(), orders_placed()
    started = time.monotonic()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py"), "saga"], check=True,
                   env=dict(os.environ, BENCH_RATES=str(rate), BENCH_SECONDS=str(seconds)),
                   stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after, n1 = snapshot(), orders_placed()
    per_group = {}
    for pid, (group, cpu) in after.items():
        if pid in before:
            per_group[group] = per_group.get(group, 0.0) + cpu - before[pid][1]
    orders = n1 - n0
    with open(os.path.join(RUN, "bench", "report.md")) as f:
        rss = [line for line in f if line.startswith("Peak RSS")]
    return {"label": label, "orders": orders, "wall": wall, "groups": per_group,
            "rss": rss[0].strip() if rss else ""}


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    runs = []
    stack_up(None)
    runs.append(measure("tracing off", rate, seconds))
    stack_up("on")
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
