"""The transport floor (make bench, step "floor"): what the broker and PostgreSQL cost for an
order's traffic when no service does any work, measured on the running stack with its services
stopped.

- PostgreSQL: pgbench commits one-row INSERT transactions (synchronous_commit on, 8 clients)
  at a given rate; PostgreSQL's CPU over the window divided by the transactions is the least a
  committed transaction costs at that rate. Times the saga's transactions per order at that
  rate, it is the database's floor for an order: what the stack's PostgreSQL time per order spends beyond
  it goes to statements and rows, not to commits.
- Kafka: the saga's traffic from plain clients. One scratch topic stands in for each event
  topic of the topology; one producer (acks=all, idempotent, linger.ms=2) writes one 700-byte
  message per order to each of the five topics an order touches, and one consumer per group
  of the topology reads the stand-ins of that group's topics, so an order makes the stack's 5
  messages and 17 deliveries. This is a reference, not a floor: the broker's cost is per
  request, and the stack's relays, which publish what a pass gathered, send fewer and fuller
  requests than a producer that sends each order as it comes.

Both run at each rate of BENCH_FLOOR_RATES (default 250,1000) for BENCH_SECONDS; the services
are stopped for the floor and started again afterwards.

- A round trip to PostgreSQL: pgbench on one connection sends `SELECT 1` back to back
  (BENCH_ROUND_TRIPS times, default 40,000) as the order service's role, once over loopback
  TCP and once over the Unix socket the services use; the CPU of PostgreSQL and of pgbench
  divided by the round trips is what the kernel's path and the protocol cost each statement.
"""
import os
import resource
import subprocess
import threading
import time
import uuid

import cost

MESSAGE_BYTES = 700  # about an envelope of the saga
PG_CLIENTS = 8
ORDER_TOPICS = ["orders.events", "inventory.events", "payments.events", "order.lifecycle.events",
                "shipping.events"]  # one message of each per order carried to shipment


def _broker_ms(stack):
    return cost.cpu_ms(stack).get("kafka", 0.0)


def _postgres_ms(stack):
    return cost.cpu_ms(stack).get("postgres", 0.0)


def _consume(brokers, group, topics, stop, counts):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": brokers, "group.id": group,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 500,
                  "enable.auto.commit": True, "auto.commit.interval.ms": 100})
    c.subscribe(topics)
    try:
        while not stop.is_set():
            for m in c.consume(500, 0.2):
                if not m.error():
                    counts[group] = counts.get(group, 0) + 1
    finally:
        c.close()


def kafka_floor(stack, rate, seconds):
    """Broker CPU-ms per order for the topology's traffic at `rate` orders/s."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    tag = uuid.uuid4().hex[:8]
    scratch = {t: f"floor-{tag}-{t}" for t in ORDER_TOPICS}
    admin = AdminClient({"bootstrap.servers": stack.brokers})
    replicas = min(3, stack.kafka_nodes)
    for f in admin.create_topics([NewTopic(s, 3, replicas) for s in scratch.values()]).values():
        f.result()
    stop, counts, threads = threading.Event(), {}, []
    for group, topics in stack.groups.items():
        mine = [scratch[t] for t in topics if t in scratch]
        if mine:
            threads.append(threading.Thread(
                target=_consume, args=(stack.brokers, f"floor-{tag}-{group}", mine, stop, counts)))
    expected_deliveries = sum(len([t for t in topics if t in scratch])
                              for topics in stack.groups.values())
    try:
        for t in threads:
            t.start()
        time.sleep(5)  # the groups have joined and fetch
        producer = Producer({"bootstrap.servers": stack.brokers, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 2})
        value = b"x" * MESSAGE_BYTES
        before, t0, orders = _broker_ms(stack), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            due = int((time.monotonic() - t0) * rate)
            while orders < due:
                key = uuid.uuid4().bytes
                for topic in scratch.values():
                    producer.produce(topic, value, key)
                orders += 1
            producer.poll(0)
            time.sleep(0.002)
        producer.flush(30)
        deadline = time.monotonic() + 30
        while (sum(counts.values()) < orders * expected_deliveries
               and time.monotonic() < deadline):
            time.sleep(0.05)
        used = _broker_ms(stack) - before
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        for t in threads:
            t.join()
        for f in admin.delete_topics(list(scratch.values())).values():
            try:
                f.result()
            except Exception:  # a topic left behind is only clutter in the scratch namespace
                pass
    delivered = sum(counts.values())
    return {"rate": rate, "orders": orders, "seconds": round(elapsed, 1),
            "messagesPerOrder": len(scratch), "deliveriesPerOrder": round(delivered / orders, 2),
            "brokerCpuMsPerOrder": round(used / orders, 3)}


def pg_floor(stack, tps, seconds):
    """PostgreSQL CPU-ms per committed one-row INSERT transaction at `tps` transactions/s."""
    socket = os.path.join(stack.run, "pg-socket")
    table = f"floor_{uuid.uuid4().hex[:8]}"
    script = _pgbench_script(stack, table,
                             f"INSERT INTO {table} (body) VALUES (repeat('x', 200));\n")
    with cost.pg_admin(stack) as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
                    " body text, at timestamptz NOT NULL DEFAULT now())")
    try:
        backends = _postmaster_children(stack)
        before = _postgres_ms(stack)
        out = subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c",
             f"pgbench -h {socket} -p {stack.pg_port} -n -M prepared -c{PG_CLIENTS} -j2 "
             f"-R {tps} -T {seconds} -f {script} postgres"],
            capture_output=True, text=True, check=True).stdout
        _await_reaped(stack, backends)
        used = _postgres_ms(stack) - before  # the backends pgbench opened: in the postmaster
        done = int(next(line for line in out.splitlines()
                        if line.startswith("number of transactions actually processed")
                        ).split(":")[1].split("/")[0])
    finally:
        with cost.pg_admin(stack) as c, c.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        os.remove(script)
    return {"tps": tps, "transactions": done,
            "postgresCpuMsPerTransaction": round(used / max(done, 1), 3)}


def _pgbench_script(stack, name, sql):
    """Writes sql as the pgbench script <run>/bench/<name>.sql, readable by the postgres
    account (pg_floor runs pgbench as it); returns its path, which the caller removes."""
    path = os.path.join(stack.run, "bench", f"{name}.sql")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(sql)
    os.chmod(path, 0o644)
    return path


def _postmaster_children(stack):
    """The pids of PostgreSQL's postmaster's children now (zombies included)."""
    postmaster = stack.programs.get("postgres")
    return {pid for pid, (ppid, _, _) in cost._process_table().items() if ppid == postmaster}


def _await_reaped(stack, before, timeout=10):
    """Waits until the postmaster has reaped every child it started since `before` was taken:
    only then is their CPU in its cutime."""
    deadline = time.monotonic() + timeout
    while _postmaster_children(stack) - before:
        if time.monotonic() > deadline:  # their CPU would be missing from the figure
            raise RuntimeError(f"PostgreSQL's backends not reaped within {timeout} s")
        time.sleep(0.05)


def pg_round_trip(stack, host, count):
    """CPU-ms per `SELECT 1` round trip on one connection to `host` (localhost or the socket
    folder), PostgreSQL's and the client's (pgbench, as the orders role with its password)."""
    with open(os.path.join(stack.run, "secrets", "pg-orders")) as f:
        password = f.read().strip()
    script = _pgbench_script(stack, f"round_trip_{uuid.uuid4().hex[:8]}", "SELECT 1;\n")
    try:
        backends = _postmaster_children(stack)
        before, client_before = _postgres_ms(stack), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["pgbench", "-h", host, "-p", str(stack.pg_port), "-U", "orders", "-n",
                        "-M", "prepared", "-c1", "-t", str(count), "-f", script, "orders"],
                       env=dict(os.environ, PGPASSWORD=password), capture_output=True,
                       check=True)
        _await_reaped(stack, backends)
        used = _postgres_ms(stack) - before  # the backend exited: counted in the postmaster
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.remove(script)
    client = (after.ru_utime + after.ru_stime - client_before.ru_utime
              - client_before.ru_stime) * 1000
    return {"postgresCpuMs": round(used / count, 4), "clientCpuMs": round(client / count, 4)}


def round_trips(stack, count):
    """The round trip over loopback TCP and over the socket, TCP first."""
    return {"roundTrips": count,
            "tcp": pg_round_trip(stack, "localhost", count),
            "socket": pg_round_trip(stack, os.path.join(stack.run, "pg-socket"), count)}


def round_trip_markdown(trips):
    out = [f"PostgreSQL round trips (`SELECT 1`, one connection, {trips['roundTrips']} of "
           "them), CPU-ms each:\n",
           "| path | PostgreSQL | client (pgbench) | both |", "| --- | --- | --- | --- |"]
    for path, label in (("tcp", "loopback TCP"), ("socket", "Unix socket (the services' path)")):
        t = trips[path]
        out.append(f"| {label} | {t['postgresCpuMs']:.4f} | {t['clientCpuMs']:.4f} | "
                   f"{t['postgresCpuMs'] + t['clientCpuMs']:.4f} |")
    return "\n".join(out) + "\n"


def markdown(rows):
    out = ["## The transport floor: the broker and PostgreSQL with the services stopped\n",
           "Scratch tables and topics on the running stack (bench/floor.py): one-row INSERT "
           f"transactions from pgbench ({PG_CLIENTS} clients, synchronous commit) at the saga's "
           "transactions per order, and the topology's "
           f"{rows[0]['kafka']['messagesPerOrder']} messages and "
           f"{rows[0]['kafka']['deliveriesPerOrder']:g} deliveries per order from plain clients "
           "(one producer sending each order as it comes; a reference, not a floor).\n",
           "| orders/s | transactions per order | PostgreSQL CPU-ms per transaction | "
           "PostgreSQL floor per order | broker CPU-ms per order, plain clients |",
           "| --- | --- | --- | --- | --- |"]
    for r in rows:
        k, p = r["kafka"]["brokerCpuMsPerOrder"], r["pg"]["postgresCpuMsPerTransaction"]
        tx = r["transactionsPerOrder"]
        out.append(f"| {r['rate']} | {tx:g} ({r['transactionsSource']}) | {p:.3f} | "
                   f"{p * tx:.2f} | {k:.2f} |")
    return "\n".join(out) + "\n"


def run(stack, rates, seconds, transactions_per_order, supervise, trips=40000):
    """Stops the services, measures each rate and the round trips, starts them again; returns
    the rows and the round trips. transactions_per_order(rate) gives the saga's transactions
    per order at that rate and where the figure comes from."""
    services = list(stack.http_ports)
    supervise("stop", services)
    try:
        rows = []
        for rate in rates:
            tx, source = transactions_per_order(rate)
            rows.append({"rate": rate, "transactionsPerOrder": tx, "transactionsSource": source,
                         "kafka": kafka_floor(stack, rate, seconds),
                         "pg": pg_floor(stack, int(rate * tx), seconds)})
        return rows, round_trips(stack, trips)
    finally:
        supervise("start", services)
