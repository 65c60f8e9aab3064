"""Where the chaos suite finds the stack it breaks: ports, service instances, Kafka nodes and
their supervisor programs, database connections. Everything follows infra/scripts/stack.sh:
the port offset shifts every port, Kafka node i listens on 9092+offset+10*(i-1) and instance
k of a service on its port+10*(k-1); program names are `order`, `order-2`, ..., and `kafka`
(one node) or `kafka:kafka-<i>`."""
import json
import os
import subprocess
import time

import psycopg2
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
KAFKA_NODES = int(os.environ.get("EVENTIFY_KAFKA_NODES", "1"))
REPLICAS = int(os.environ.get("EVENTIFY_REPLICAS", "1"))
PG_PORT = 5432 + OFFSET
WEB = f"http://localhost:{3000 + OFFSET}"


# Services, ports, databases, topics and who consumes what: the topology table's export.
with open(os.path.join(ROOT, "infra", "topology.json")) as f:
    _TABLE = json.load(f)

SERVICES = {s["name"]: (s["httpPort"] + OFFSET, s["database"])  # port of instance 1
            for s in _TABLE["services"]}
EVENT_TOPICS = [t["name"] for t in _TABLE["topics"] if t["kind"] == "events"]
DLQ_TOPICS = [t["name"] for t in _TABLE["topics"] if t["kind"] == "dlq"]
SAGA_TOPICS = ["orders.events", "inventory.events", "payments.events", "order.lifecycle.events"]
# Which service consumes which event topic (the inbox of its database records each event).
CONSUMES = {s["name"]: s["consumes"] for s in _TABLE["services"]}


def instance_port(service, k):
    return SERVICES[service][0] + 10 * (k - 1)


def program(service, k):
    return f"services:{service}" if k == 1 else f"services:{service}-{k}"


def instances():
    return [(s, k) for s in SERVICES for k in range(1, REPLICAS + 1)]


def url(service, path, k=1):
    return f"http://localhost:{instance_port(service, k)}{path}"


def node_port(i):
    return 9092 + OFFSET + 10 * (i - 1)


def node_controller_port(i):
    return 9093 + OFFSET + 10 * (i - 1)


def node_program(i):
    return "kafka" if KAFKA_NODES == 1 else f"kafka:kafka-{i}"


def brokers():
    return ",".join(f"localhost:{node_port(i)}" for i in range(1, KAFKA_NODES + 1))


def supervisorctl(*args, timeout=120):
    return subprocess.run(["supervisorctl", "-c", os.path.join(RUN, "supervisor", "supervisord.conf"),
                           *args], capture_output=True, text=True, timeout=timeout)


def pid_of(prog):
    out = supervisorctl("pid", prog).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else None


def admin_headers():
    with open(os.path.join(RUN, "secrets", "admin-token")) as f:
        return {"Authorization": f"Bearer {f.read().strip()}"}


def db(service):
    name = SERVICES[service][1]
    with open(os.path.join(RUN, "secrets", f"pg-{name}")) as f:
        password = f.read().strip()
    conn = psycopg2.connect(host="localhost", port=PG_PORT, dbname=name, user=name,
                            password=password, connect_timeout=5)
    conn.autocommit = True
    return conn


def sql(service, query, *args):
    with db(service) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def ready(service, k):
    try:
        return requests.get(url(service, "/ready", k), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait(predicate, seconds, interval=0.5):
    """Polls predicate until truthy or the deadline; returns its last value."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = predicate()
        except Exception:  # a fault is in progress: keep polling until the deadline
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
