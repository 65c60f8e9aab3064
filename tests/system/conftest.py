"""Helpers for the system tests: they drive the real stack started by `make up`/`make test`
(PostgreSQL, Kafka, the services under supervisor) through HTTP, Kafka and SQL. Nothing is
mocked. Every wait polls a condition against a deadline."""
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "contracts"))
import check  # noqa: E402  (contracts/check.py)

RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
# EVENTIFY_PORT_OFFSET shifts every port of the stack, as in infra/scripts/stack.sh.
PORT_OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
BROKERS = os.environ.get("EVENTIFY_KAFKA_BROKERS", f"localhost:{9092 + PORT_OFFSET}")
PG_PORT = int(os.environ.get("EVENTIFY_PG_PORT", str(5432 + PORT_OFFSET)))
WEB_URL = os.environ.get("EVENTIFY_WEB_URL", f"http://localhost:{3000 + PORT_OFFSET}")
PROMETHEUS_URL = os.environ.get("EVENTIFY_PROMETHEUS_URL",
                                f"http://localhost:{9090 + PORT_OFFSET}/prometheus")
SAGA_TIMEOUT_S = int(os.environ.get("EVENTIFY_SAGA_TIMEOUT_MS", "6000")) / 1000
ADMIN_TOKEN_FILE = os.path.join(RUN, "secrets", "admin-token")
MAX_ATTEMPTS = int(os.environ.get("EVENTIFY_MAX_ATTEMPTS", "3"))

# The topology (services, ports, databases, topics, groups, DLQs) is the table of
# libs/src/topology.c, exported as infra/topology.json (a unit test keeps them equal).
with open(os.path.join(ROOT, "infra", "topology.json")) as _f:
    TOPOLOGY = json.load(_f)
PORTS = {s["name"]: s["httpPort"] + PORT_OFFSET for s in TOPOLOGY["services"]}
DATABASES = {s["name"]: s["database"] for s in TOPOLOGY["services"]}
DLQ = {s["name"]: s["dlq"] for s in TOPOLOGY["services"] if s.get("dlq")}
EVENT_TOPICS = [t["name"] for t in TOPOLOGY["topics"] if t["kind"] == "events"]
OUR_PRODUCERS = {s["name"] for s in TOPOLOGY["services"] if s["produces"]}
# The seed products the inventory service creates at its first start, with their prices;
# their stock is shared with people and the browser tests.
PRICES = {"SKU-RED-TSHIRT": 1999, "SKU-BLUE-CAP": 1250, "SKU-GREEN-HOODIE": 4900}


def running_services():
    """Services the stack runs (EVENTIFY_SERVICES restricts them, as in stack.sh)."""
    only = os.environ.get("EVENTIFY_SERVICES")
    return [s for s in PORTS if only is None or s in only.split()]


SERVICES = running_services()
# Which services consume each topic, limited to the running ones.
CONSUMERS = {t: [s["name"] for s in TOPOLOGY["services"]
                 if t in s["consumes"] and s["name"] in SERVICES] for t in EVENT_TOPICS}


def admin_token():
    """The admin token the stack generated at its first start."""
    with open(ADMIN_TOKEN_FILE) as f:
        return f.read().strip()


def admin_headers():
    return {"Authorization": f"Bearer {admin_token()}"}


def url(service, path):
    return f"http://localhost:{PORTS[service]}{path}"


def wait_until(predicate, timeout, what, interval=0.1):
    """Polls predicate until it returns a truthy value; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, psycopg2.Error) as exc:
            last = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def pg_password(role):
    """The random password of a database role, made by the stack at its first start and kept
    owner-only in .run/secrets/pg-<role>."""
    with open(os.path.join(RUN, "secrets", f"pg-{role}")) as f:
        return f.read().strip()


def db(service):
    name = DATABASES[service]
    conn = psycopg2.connect(host="localhost", port=PG_PORT, dbname=name, user=name,
                            password=pg_password(name))
    conn.autocommit = True
    return conn


def instance_env(service, http_port):
    """Environment for starting one more instance of service by hand, beside the stack's."""
    name = DATABASES[service]
    return dict(os.environ, EVENTIFY_HTTP_PORT=str(http_port), EVENTIFY_PG_PORT=str(PG_PORT),
                EVENTIFY_PG_DATABASE=name, EVENTIFY_PG_USER=name, EVENTIFY_PG_PASSWORD=pg_password(name),
                EVENTIFY_KAFKA_BROKERS=BROKERS, EVENTIFY_ADMIN_TOKEN_FILE=ADMIN_TOKEN_FILE)


def sql(service, query, *args):
    with db(service) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def place_order(items, customer="c-1001", headers=None, expect=201):
    r = requests.post(url("order", "/orders"), json={"customerId": customer, "items": items},
                      headers=headers or {}, timeout=10)
    assert r.status_code == expect, r.text
    return r.json()


def order(order_id):
    r = requests.get(url("order", f"/orders/{order_id}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def wait_final(order_id, timeout=30):
    """Waits until the order is CONFIRMED and shipped, or CANCELLED; returns the order."""
    def final():
        o = order(order_id)
        if o and o["status"] == "CANCELLED":
            return o
        if o and o["status"] == "CONFIRMED" and shipment(order_id):
            return o
        return None
    return wait_until(final, timeout, f"order {order_id} to finish")


def shipment(order_id):
    r = requests.get(url("shipping", f"/shipments/{order_id}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def payment(order_id):
    r = requests.get(url("payment", f"/payments/{order_id}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def saga(order_id):
    r = requests.get(url("orchestrator", f"/sagas/{order_id}"), timeout=5)
    return r.json() if r.status_code == 200 else None


def stock():
    return {s["sku"]: s for s in requests.get(url("inventory", "/inventory"), timeout=5).json()}


def metric(service, name, port=None):
    """Sum of a counter over its label sets, from GET /metrics of the service (of its instance
    on `port` when given)."""
    where = f"http://127.0.0.1:{port}/metrics" if port else url(service, "/metrics")
    text = requests.get(where, timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def assert_invariants(order_ids, timeout=20):
    """The system's invariants for these orders, plus the stock ledger of every SKU. They hold
    once every participant has handled the decision (the inventory commits a reservation after
    the order is CONFIRMED), so a failing check is retried until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check_invariants(order_ids)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_invariants(order_ids):
    held = dict(sql("inventory", "SELECT order_id::text, status FROM reservations"))
    for oid in order_ids:
        o = order(oid)
        assert o and o["status"] in ("CONFIRMED", "CANCELLED"), f"{oid} not final: {o}"
        s = saga(oid)
        assert s and s["state"] == o["status"], f"{oid}: saga {s and s['state']} vs {o['status']}"
        decisions = [h for h in s["history"] if h["emitted"]]
        assert len(decisions) == 1, f"{oid}: {len(decisions)} decisions"
        ships = sql("shipping", "SELECT count(*) FROM shipments WHERE order_id = %s", oid)[0][0]
        pay = payment(oid)
        if o["status"] == "CONFIRMED":
            assert ships == 1, f"{oid} confirmed with {ships} shipments"
            assert pay and pay["status"] == "SUCCEEDED", f"{oid}: payment {pay}"
            assert held.get(oid) == "COMMITTED", f"{oid}: reservation {held.get(oid)}"
        else:
            assert ships == 0, f"{oid} cancelled with {ships} shipments"
            assert pay is None or pay["status"] in ("FAILED", "REFUNDED"), f"{oid}: kept {pay}"
            assert held.get(oid) in (None, "RELEASED", "REJECTED", "VOID"), \
                f"{oid}: stock still {held.get(oid)}"
    assert_stock_ledger()


def assert_stock_ledger():
    """Never negative; initial = available + reserved; reserved = units of live reservations."""
    live = {}
    for items, in sql("inventory", "SELECT items FROM reservations"
                                   " WHERE status IN ('HELD', 'COMMITTED')"):
        for line in items:
            live[line["sku"]] = live.get(line["sku"], 0) + line["quantity"]
    for sku, s in stock().items():
        assert s["available"] >= 0 and s["reserved"] >= 0, s
        assert s["initial"] == s["available"] + s["reserved"], s
        assert s["reserved"] == live.get(sku, 0), (s, live.get(sku, 0))


# --- Kafka -------------------------------------------------------------------------------

@contextlib.contextmanager
def scratch_topic(prefix, partitions=1):
    """A new topic named prefix-<12 random hex digits> for one test, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(name, num_partitions=partitions)])[name].result(timeout=30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def end_offsets(topics):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"system-test-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        offsets = {}
        for t in topics:
            for p in c.list_topics(t, timeout=10).topics[t].partitions:
                offsets[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return offsets
    finally:
        c.close()


class Message:
    def __init__(self, m):
        self.topic, self.partition, self.offset = m.topic(), m.partition(), m.offset()
        self.raw_key = m.key()
        try:  # bytes that are not UTF-8 have no text: raw_key keeps them
            self.key = m.key().decode() if m.key() else None
        except UnicodeDecodeError:
            self.key = None
        self.raw = m.value()
        self.headers = {k: (v.decode() if v else None) for k, v in (m.headers() or [])}
        try:
            self.event = json.loads(self.raw)
        except ValueError:
            self.event = None


def read_since(offsets, until=None, timeout=20):
    """Every message after `offsets` ({(topic, partition): offset}) up to the current end, or
    until until(messages) is true (polling with a deadline). Events our services produced are
    validated against contracts/."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"system-test-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for m in c.consume(500, timeout=0.2):
                if m.error():
                    continue
                msg = Message(m)
                if msg.topic in EVENT_TOPICS and msg.event and \
                        msg.event.get("producer") in OUR_PRODUCERS:
                    check.validate_event(msg.raw)
                messages.append(msg)
            if until is not None and until(messages):
                return messages
            if until is None and caught_up(c, offsets):
                return messages
            if time.monotonic() > deadline:
                if until is None:
                    return messages
                pytest.fail(f"timed out after {timeout}s reading {sorted({t for t, _ in offsets})}")
    finally:
        c.close()


def caught_up(consumer, offsets):
    for (t, p) in offsets:
        high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=5)[1]
        pos = consumer.position([TopicPartition(t, p)])[0].offset
        if high > 0 and (pos < 0 or pos < high):
            return False
    return True


def events_of(messages, order_id, event_type=None):
    return [m for m in messages if m.event and m.event.get("payload", {}).get("orderId") == order_id
            and (event_type is None or m.event["eventType"] == event_type)]


_producer = None


def produce(topic, key, value, headers=None):
    global _producer
    if _producer is None:
        _producer = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True})
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    _producer.produce(topic, key=key, value=data, headers=headers or {})
    assert _producer.flush(10) == 0, "message not delivered"


def envelope(event_type, payload, version=1, correlation_id=None):
    return {"eventId": str(uuid.uuid4()), "eventType": event_type,
            "occurredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "correlationId": correlation_id or str(uuid.uuid4()), "producer": "system-test",
            "version": version, "payload": payload}


# --- processes ---------------------------------------------------------------------------

def supervisorctl(*args):
    return subprocess.run(["supervisorctl", "-c", os.path.join(RUN, "supervisor", "supervisord.conf"),
                           *args], capture_output=True, text=True, timeout=120)


def ready(service):
    try:
        return requests.get(url(service, "/ready"), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def kill9(service):
    """SIGKILLs a service; supervisor restarts it; returns when it is ready again."""
    pid = int(supervisorctl("pid", f"services:{service}").stdout.strip())
    os.kill(pid, 9)
    wait_until(lambda: supervisorctl("pid", f"services:{service}").stdout.strip() not in
               ("", "0", str(pid)), 30, f"{service} restarted")
    wait_until(lambda: ready(service), 30, f"{service} ready after restart")


def restart(service):
    supervisorctl("restart", f"services:{service}")
    wait_until(lambda: ready(service), 30, f"{service} ready")


def put_product(sku, name, price_cents, currency="EUR", expect=(200, 201)):
    r = requests.put(url("inventory", f"/products/{sku}"), headers=admin_headers(), timeout=10,
                     json={"name": name, "priceCents": price_cents, "currency": currency})
    assert r.status_code in expect, r.text
    return r.json()


def adjust_stock(sku, delta, reason="restock", key=None, expect=201):
    headers = admin_headers() | ({"Idempotency-Key": key} if key else {})
    r = requests.post(url("inventory", f"/products/{sku}/stock-adjustments"), headers=headers,
                      json={"delta": delta, "reason": reason}, timeout=10)
    assert r.status_code == expect, r.text
    return r.json()


def order_service_prices(sku, price_cents):
    """Waits until the order service's projection of catalog.events has this price."""
    wait_until(lambda: sql("order", "SELECT price_cents FROM products WHERE sku = %s", sku)
               == [(price_cents,)], 30, f"the order service to learn {sku} at {price_cents}")


def add_sku(sku, price_cents, units):
    """A fresh product for one test, so it owns the stock it counts: created and stocked
    through the inventory API, like a shop would; returns once the order service prices it."""
    put_product(sku, sku, price_cents)
    if units:
        adjust_stock(sku, units, reason="initial stock for a test")
    order_service_prices(sku, price_cents)
    return sku


@pytest.fixture(scope="session")
def sku():
    """A SKU priced like the red T-shirt (19.99) with a million units, so tests that need a
    confirmed order do not use up the seeded stock that people and the browser tests see."""
    return add_sku(f"SKU-TEST-{uuid.uuid4().hex[:8].upper()}", 1999, 1_000_000)
