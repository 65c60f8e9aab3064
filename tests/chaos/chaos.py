"""The chaos suite: offers a steady stream of orders to a stack of several Kafka nodes and
service replicas while a seeded scheduler kills and pauses parts of it, then checks that
nothing accepted was lost or doubled (docs/reliability.md).

    EVENTIFY_RUN_DIR=.run/chaos EVENTIFY_PORT_OFFSET=50 EVENTIFY_KAFKA_NODES=3 EVENTIFY_REPLICAS=2 \
      CHAOS_SECONDS=120 CHAOS_RATE=50 CHAOS_SEED=1234 python3 tests/chaos/chaos.py

(tests/chaos/run.sh starts such a stack and runs this; `make chaos` and `make chaos-short`.)
Exits 1 listing the violations (the first few; all of them in the run folder's
chaos-report.txt) and then one summary line, or 0 when there is none."""
import json
import os
import random
import sys
import threading
import time

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402
import diagnose  # noqa: E402
import topology as t  # noqa: E402
from faults import Scheduler  # noqa: E402
from load import Catalog, Load  # noqa: E402

START = time.monotonic()


def log(text):
    print(f"chaos {time.monotonic() - START:7.1f}s  {text}", flush=True)


class Listener:
    """A WebSocket client of one read-model instance, keeping the order ids it was told of."""

    def __init__(self, k):
        self.k = k
        self.seen = {}
        # as the UI's pages do: the read model admits the UI's origin only
        self.ws = websocket.create_connection(
            f"ws://localhost:{t.instance_port('read-model', k)}/ws", timeout=5, origin=t.WEB)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                change = json.loads(self.ws.recv())
            except Exception:
                return
            if change.get("type") == "order":
                o = change["order"]
                self.seen[o["orderId"]] = o["status"]

    def close(self):
        self.ws.close()


def warm_up(catalog, v):
    """Before any fault: each order instance prices both products (a few orders placed on each
    directly), and, with replicas, a WebSocket client of each read-model instance hears the
    changes of these orders whichever instance projected them (the LISTEN/NOTIFY feed).
    Returns the warm-up orders: they are checked with the rest."""
    listeners = [Listener(k) for k in range(1, t.REPLICAS + 1)] if t.REPLICAS > 1 else []
    load = Load(0, 1, catalog, log, wait_for_prices=True)
    for i in range(12):  # keys spread over partitions, so over every read-model instance
        k = i % t.REPLICAS + 1
        body = {"customerId": "c-chaos-warm-up",
                "items": [{"sku": catalog.plenty, "quantity": 1}, {"sku": catalog.scarce, "quantity": 1}]}
        load._place(f"chaos-warm-up-{catalog.plenty}-{i}", body, "confirm", time.monotonic() + 60,
                    base=f"http://localhost:{t.instance_port('order', k)}")
    ids = list(load.accepted)
    if len(ids) != 12:
        v.append(f"warm-up: {len(ids)} of 12 orders accepted ({load.refused[:2]})")
    final = lambda l: all(l.seen.get(i) in checks.FINAL for i in ids)  # noqa: E731
    for listener in listeners:
        if not t.wait(lambda: final(listener), 60):
            v.append(f"live updates: read-model instance {listener.k} told its client of"
                     f" {sum(1 for i in ids if listener.seen.get(i) in checks.FINAL)}"
                     f" of {len(ids)} final orders")
        listener.close()
    if listeners:
        log(f"live updates: each of {t.REPLICAS} read-model instances pushed all {len(ids)} orders")
    return load.accepted


def main():
    seconds = int(os.environ.get("CHAOS_SECONDS", "120"))
    rate = int(os.environ.get("CHAOS_RATE", "50"))
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2**31))
    quiet_s = int(os.environ.get("CHAOS_QUIET_SECONDS", "300"))
    log(f"seed {seed} (replay: CHAOS_SEED={seed}), {seconds}s at {rate} orders/s,"
        f" {t.KAFKA_NODES} Kafka node(s), {t.REPLICAS} replica(s) of each service")
    violations = []
    catalog = Catalog(seed, seconds * rate)
    catalog.create()
    start = checks.offsets_now(t.EVENT_TOPICS + t.DLQ_TOPICS)
    warm = warm_up(catalog, violations)

    scheduler = Scheduler(seed, log)
    faults = threading.Thread(target=scheduler.run, args=(seconds,), daemon=True)
    faults.start()
    load = Load(seed, rate, catalog, log)
    load.run(seconds, answer_within=quiet_s)
    load.accepted.update(warm)
    log(f"load done: {load.offered} offered in {load.elapsed:.1f}s, {len(load.accepted)} accepted,"
        f" {len(load.refused)} refused, {len(load.unanswered)} unanswered; waiting for the faults")
    faults.join()
    violations += scheduler.problems
    if load.refused:
        kinds = {}
        for status, text in load.refused:
            kinds[f"{status} {text[:120]}"] = kinds.get(f"{status} {text[:120]}", 0) + 1
        for what, n in kinds.items():
            violations.append(f"{n} orders refused: {what}")
    if load.unanswered:
        violations.append(f"{len(load.unanswered)} orders never answered (e.g. {load.unanswered[:3]})")

    log(f"quiescence: waiting up to {quiet_s}s for {len(load.accepted)} orders")
    still_open = checks.wait_quiet(load.accepted, quiet_s, log)
    if still_open:
        violations.append(f"{len(still_open)} orders not final after {quiet_s}s (e.g. {still_open[:3]})")
    # The read model and the inboxes trail the orders database: each consumer group gets
    # time to drain its topics as long as it makes progress (on a loaded machine that can
    # take minutes); a group that stops draining is reported by the checks that follow.
    stalled = checks.wait_consumers_drained(t.brokers(), GROUPS, quiet_s, log)
    diagnosis = []
    if stalled:
        log(f"consumer groups still behind: {stalled}")
        diagnosis = diagnose.report(t.brokers(), stalled, GROUPS)
        for line in diagnosis:
            log(line)
    t.wait(lambda: not checks_pending(load), 60, interval=2)
    counts, orders = checks.check_orders(load.accepted, violations)
    checks.check_stock(catalog, load.accepted, orders, violations)
    events = checks.check_topics(start, load.accepted, violations)

    write_report(violations, diagnosis)
    for line in violations[:SHOWN_VIOLATIONS]:
        print(f"  violation: {line}", flush=True)
    if len(violations) > SHOWN_VIOLATIONS:
        print(f"  ... and {len(violations) - SHOWN_VIOLATIONS} more violations in {REPORT}",
              flush=True)
    # Last, so that the end of the output (all CI keeps) has the seed that replays the run.
    # The warm-up's orders are among the accepted (and checked) but not among the offered.
    print(f"chaos summary: seed={seed} offered={load.offered} warm_up={len(warm)}"
          f" accepted={len(load.accepted)}"
          f" confirmed={counts['CONFIRMED']} cancelled={counts['CANCELLED']}"
          f" faults={scheduler.total()} {dict(sorted(scheduler.counts.items()))}"
          f" events={events} violations={len(violations)}"
          f" rate={load.offered / max(load.elapsed, 1e-9):.1f}/s", flush=True)
    return 1 if violations else 0


SHOWN_VIOLATIONS = 12  # the rest are in the report file: one stall can make thousands
REPORT = os.path.join(t.RUN, "chaos-report.txt")  # run.sh prints its stall lines at the end


def write_report(violations, diagnosis):
    with open(REPORT, "w") as f:
        for line in diagnosis:
            f.write(line + "\n")
        for line in violations:
            f.write(f"violation: {line}\n")


# Every consumer group and its topics (the topology table's export).
GROUPS = {s["group"]: s["consumes"] for s in t._TABLE["services"] if s["consumes"]}


def checks_pending(load):
    """True while the read model still shows an accepted order differently from the orders
    database (it projects a little after the fact)."""
    ids = list(load.accepted)
    truth = dict(t.sql("order", "SELECT id::text, status FROM orders WHERE id = ANY(%s::uuid[])", ids))
    seen = dict(t.sql("read-model", "SELECT order_id::text, status FROM rm_orders"
                                    " WHERE order_id = ANY(%s::uuid[])", ids))
    return any(seen.get(i) != s for i, s in truth.items())


if __name__ == "__main__":
    sys.exit(main())
