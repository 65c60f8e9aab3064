"""Overload benchmark of the running local stack (make bench-overload). Not a test: it measures.

For each mode (admission control off, then on; docs/overload.md) it offers OVERLOAD_RATE
orders/s (default 1000) to POST /orders with `hey` for OVERLOAD_SECONDS (60). OUTAGE_AT
seconds in (5) it stops every consuming service with supervisorctl, and starts them again
OUTAGE_SECONDS (30) later, while intake goes on. Then it waits until every accepted order is
final and counts, from hey's status codes and the order service's database: refused (429),
accepted (201), confirmed, cancelled by the saga deadline ("timeout"), cancelled otherwise,
and how long the confirmed orders took.

"off" restarts the order service with EVENTIFY_ADMISSION_MAX_DELAY_MS=0 (through
infra/scripts/stack.sh up, which restarts only what changed); "on" with the caller's
environment, so the stack is left as the caller configured it. Results go to
.run/bench/overload.md and .run/bench/overload.json.
"""
import json
import os
import re
import threading
import time

import psycopg2

# the shared helpers of the saga bench (shell, readiness, deadlines, secrets, admin API)
from bench import inventory_api, pg_password, ready, sh, stack_up, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
SUPERVISOR = ["supervisorctl", "-c", os.path.join(RUN, "supervisor", "supervisord.conf")]
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
with open(os.path.join(ROOT, "infra", "topology.json")) as _f:
    SERVICES = {s["name"]: (s["httpPort"] + OFFSET, s["database"])
                for s in json.load(_f)["services"]}
PG_PORT = 5432 + OFFSET
ORDERS_URL = f"http://localhost:{SERVICES['order'][0]}/orders"
CONSUMERS = [s for s in SERVICES if s != "order"]
SKU = "SKU-OVERLOAD-WIDGET"
RATE = int(os.environ.get("OVERLOAD_RATE", "1000"))
SECONDS = int(os.environ.get("OVERLOAD_SECONDS", "60"))
OUTAGE_AT = int(os.environ.get("OUTAGE_AT", "5"))
OUTAGE_SECONDS = int(os.environ.get("OUTAGE_SECONDS", "30"))
MODES = os.environ.get("OVERLOAD_MODES", "off,on").split(",")
DRAIN_TIMEOUT_S = int(os.environ.get("OVERLOAD_DRAIN_TIMEOUT", "1800"))


def query(sql, *args):
    name = SERVICES["order"][1]
    with psycopg2.connect(host="localhost", port=PG_PORT, dbname=name, user=name,
                          password=pg_password(name)) as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def supervise(action, names):
    sh(*SUPERVISOR, action, *[f"services:{n}" for n in names], check=False)
    if action == "start":
        for n in names:
            wait_until(lambda p=SERVICES[n][0]: ready(p), 120, f"{n} ready")


def configure(mode):
    """Restarts the services with admission control off, or as this environment says."""
    stack_up(**({"EVENTIFY_ADMISSION_MAX_DELAY_MS": "0"} if mode == "off" else {}))


def stock_up(units):
    """The bench product with enough stock that no order is refused for the lack of it."""
    inventory_api("PUT", f"/products/{SKU}", {"name": "Overload widget", "priceCents": 100})
    available = inventory_api("GET", f"/products/{SKU}")["available"]
    while available < units:
        available = inventory_api("POST", f"/products/{SKU}/stock-adjustments",
                                  {"delta": min(1_000_000, units - available),
                                   "reason": "overload benchmark stock"},
                                  key=f"overload-{time.time_ns()}")["available"]
    wait_until(lambda: query("SELECT 1 FROM products WHERE sku = %s", SKU), 60,
               "the order service to price the bench product")


def quiet():
    return query("SELECT count(*) FROM orders WHERE status = 'PENDING'")[0][0] == 0


def outage(started, timeline):
    time.sleep(max(0.0, started + OUTAGE_AT - time.monotonic()))
    timeline.append(("consumers stopped", time.monotonic() - started))
    supervise("stop", CONSUMERS)
    time.sleep(max(0.0, started + OUTAGE_AT + OUTAGE_SECONDS - time.monotonic()))
    timeline.append(("consumers started", time.monotonic() - started))
    supervise("start", CONSUMERS)
    timeline.append(("consumers ready", time.monotonic() - started))


def run(mode):
    configure(mode)
    wait_until(quiet, DRAIN_TIMEOUT_S, "the orders of earlier runs to finish")
    stock_up(RATE * SECONDS * 2)
    customer = f"overload-{mode}-{int(time.time())}"
    body = json.dumps({"customerId": customer, "items": [{"sku": SKU, "quantity": 1}]})
    workers = max(1, RATE // 25)
    timeline = []
    started = time.monotonic()
    breaker = threading.Thread(target=outage, args=(started, timeline))
    breaker.start()
    out = sh("hey", "-z", f"{SECONDS}s", "-q", str(RATE / workers), "-c", str(workers), "-t", "10",
             "-m", "POST", "-T", "application/json", "-d", body, ORDERS_URL)
    intake_end = time.monotonic()
    breaker.join()
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    # "Error distribution:" lines, e.g. `[12]	Post "http://...": context deadline exceeded`
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+Post ", out))

    def finished():
        return query("SELECT count(*) FROM orders WHERE customer_id = %s AND status = 'PENDING'",
                     customer)[0][0] == 0
    wait_until(finished, DRAIN_TIMEOUT_S, f"every {mode} order to finish", every=2)
    drained = time.monotonic() - intake_end
    rows = query("SELECT status, coalesce(cancel_reason, ''), count(*),"
                 " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)),"
                 " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at))"
                 " FROM orders WHERE customer_id = %s GROUP BY 1, 2", customer)
    by = {(s, r): (n, p50, p99) for s, r, n, p50, p99 in rows}
    confirmed = by.get(("CONFIRMED", ""), (0, None, None))
    result = {
        "mode": mode,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD", check=False).strip(),
        "offered_per_s": RATE, "seconds": SECONDS,
        "outage": {"at_s": OUTAGE_AT, "seconds": OUTAGE_SECONDS, "timeline": timeline},
        "admission_max_delay_ms": os.environ.get("EVENTIFY_ADMISSION_MAX_DELAY_MS", "default")
        if mode == "on" else "0",
        "requests": sum(codes.values()) + errors,
        "refused_429": codes.get(429, 0),
        "accepted_201": codes.get(201, 0),
        "other_answers": {c: n for c, n in codes.items() if c not in (201, 429)},
        "transport_errors": errors,
        "orders_stored": sum(n for n, _, _ in by.values()),
        "confirmed": confirmed[0],
        "confirmed_p50_s": confirmed[1], "confirmed_p99_s": confirmed[2],
        "cancelled_by_deadline": by.get(("CANCELLED", "timeout"), (0,))[0],
        "cancelled_otherwise": sum(n for (s, r), (n, _, _) in by.items()
                                   if s == "CANCELLED" and r != "timeout"),
        "drain_after_intake_s": round(drained, 1),
    }
    print(json.dumps(result), flush=True)
    return result


def row(r):
    fmt = (lambda v: f"{v:.1f} s" if v is not None else "–")
    return (f"| {r['mode']} | {r['requests']} | {r['refused_429']} | {r['accepted_201']} |"
            f" {r['confirmed']} | {r['cancelled_by_deadline']} | {r['cancelled_otherwise']} |"
            f" {fmt(r['confirmed_p50_s'])} / {fmt(r['confirmed_p99_s'])} |"
            f" {r['drain_after_intake_s']} s |")


def main():
    results = [run(mode) for mode in MODES]
    lines = [f"# Overload run {time.strftime('%Y-%m-%d %H:%M:%S')}\n",
             f"{RATE} orders/s offered for {SECONDS} s; consumers stopped from {OUTAGE_AT} s to"
             f" {OUTAGE_AT + OUTAGE_SECONDS} s.\n",
             "| admission | requests | refused (429) | accepted (201) | confirmed |"
             " cancelled by deadline | cancelled otherwise | confirmed in p50 / p99 |"
             " drained after intake |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [row(r) for r in results]
    os.makedirs(os.path.join(RUN, "bench"), exist_ok=True)
    with open(os.path.join(RUN, "bench", "overload.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(RUN, "bench", "overload.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
