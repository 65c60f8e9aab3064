"""Issue 2: the transactional outbox under faults, on the real stack: Kafka down, the order
service SIGKILLed between commit and publish, and two relays publishing at once."""
import concurrent.futures
import os
import subprocess

import pytest
import requests

from conftest import (BROKERS, PORT_OFFSET, ROOT, end_offsets, events_of, instance_env, kill9,
                      place_order, read_since, sql, supervisorctl, url, wait_until)


def published(order_id):
    """The relay deletes a row once Kafka acknowledged it: nothing of the order is left."""
    placed = sql("order", "SELECT count(*) FROM orders WHERE id = %s", order_id)
    waiting = sql("order", "SELECT count(*) FROM outbox WHERE aggregate_id = %s", order_id)
    return placed == [(1,)] and waiting == [(0,)]


def kafka_ready():
    return subprocess.run(["kcat", "-b", BROKERS, "-L", "-m", "2"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.local_stack
def test_kafka_down_orders_accepted_then_published_once(sku):
    line = [{"sku": sku, "quantity": 1}]
    before = end_offsets(["orders.events"])
    assert supervisorctl("stop", "kafka").returncode == 0
    try:
        ids = [place_order(line, customer="c-kafka-down")["orderId"] for _ in range(3)]
        assert not any(published(i) for i in ids)
    finally:
        supervisorctl("start", "kafka")
        wait_until(kafka_ready, 90, "Kafka back")
    wait_until(lambda: all(published(i) for i in ids), 60, "the outbox to drain")
    msgs = read_since(before, until=lambda m: all(events_of(m, i) for i in ids), timeout=60)
    for i in ids:
        assert len(events_of(msgs, i, "OrderPlaced")) == 1


@pytest.mark.slow
@pytest.mark.local_stack
def test_sigkill_after_commit_publishes_exactly_once(sku):
    line = [{"sku": sku, "quantity": 1}]
    before = end_offsets(["orders.events"])
    ids = []
    for _ in range(3):
        ids.append(place_order(line, customer="c-sigkill")["orderId"])
        kill9("order")  # right after the 201: the relay may or may not have published
    wait_until(lambda: all(published(i) for i in ids), 30, "every row published")
    msgs = read_since(before, until=lambda m: all(events_of(m, i) for i in ids), timeout=30)
    for i in ids:
        assert len(events_of(msgs, i, "OrderPlaced")) == 1, i


@pytest.mark.slow
@pytest.mark.local_stack
def test_two_relays_never_publish_a_row_twice(sku):
    line = [{"sku": sku, "quantity": 1}]
    port = 18181 + PORT_OFFSET
    env = instance_env("order", port)
    relay = subprocess.Popen([os.path.join(ROOT, "build", "release", "bin", "eventify-order"),
                              "--relay-only"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: requests.get(f"http://localhost:{port}/ready", timeout=2).ok, 20,
                   "second relay ready")
        before = end_offsets(["orders.events"])
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(lambda _: place_order(line, customer="c-two-relays")["orderId"],
                                range(200)))
        wait_until(lambda: sql("order", "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                                        " AND aggregate_id = ANY(%s)", ids)[0][0] == 0,
                   60, "both relays to drain the outbox")
        second = requests.get(f"http://localhost:{port}/metrics", timeout=5).text
        assert "events_published_total" in second, "the second relay published nothing"
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    msgs = read_since(before, until=lambda m: all(events_of(m, i) for i in ids), timeout=60)
    wanted = set(ids)
    seen = [m.key for m in msgs if m.key in wanted]
    assert len(seen) == len(ids) and set(seen) == wanted
