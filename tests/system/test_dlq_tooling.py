"""Issue 3: the DLQ tooling. `eventifyctl dlq list|show|replay` lists dead letters with their
reasons and sends them back, once the cause is fixed, to the consumer group that failed them
(replay goes through the read model with the admin token)."""
import json
import os
import subprocess
import uuid

import requests

from conftest import (BROKERS, PORT_OFFSET, ROOT, RUN, end_offsets, envelope, produce,
                      read_since, sql, url, wait_until)

CTL = os.path.join(ROOT, "build", "release", "bin", "eventifyctl")


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, EVENTIFY_KAFKA_BROKERS=BROKERS, EVENTIFY_RUN_DIR=RUN,
                                   EVENTIFY_PORT_OFFSET=str(PORT_OFFSET)))


def test_list_show_and_replay_a_dead_letter(sku):
    oid = str(uuid.uuid4())
    before = end_offsets(["inventory.dlq"])
    # a valid OrderPlaced whose version this build does not know yet: dead-lettered
    event = envelope("OrderPlaced", {"orderId": oid, "items": [{"sku": sku, "quantity": 1}]},
                     version=7)
    produce("orders.events", oid, event)
    [letter] = [m for m in read_since(before, until=lambda ms: [m for m in ms if m.key == oid])
                if m.key == oid]

    listed = ctl("dlq", "list", "inventory.dlq")
    assert listed.returncode == 0, listed.stderr
    row = [line for line in listed.stdout.splitlines()
           if line.split()[1:3] == [str(letter.partition), str(letter.offset)]]
    assert row and "unsupported version 7" in row[0] and "orders.events" in row[0]

    shown = ctl("dlq", "show", "inventory.dlq", str(letter.partition), str(letter.offset))
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["eventId"] == event["eventId"] and detail["originTopic"] == "orders.events"
    assert detail["attempts"] == 1 and detail["consumer"] == "inventory"

    # "fix the cause" is out of reach for a version 7, so replay and see it travel back
    origin_before = end_offsets(["orders.events"])
    replayed = ctl("dlq", "replay", "inventory.dlq", str(letter.partition), str(letter.offset))
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout, replayed.stderr
    back = read_since(origin_before, until=lambda ms: [m for m in ms if m.key == oid])
    [again] = [m for m in back if m.key == oid]
    assert again.raw == letter.raw
    assert again.headers["x-replayed-from"] == f"inventory.dlq:{letter.partition}:{letter.offset}"
    assert again.headers["x-replay-for"] == "inventory"


def committed(group, topic, partition):
    """The group's committed offset, as the read model reports it (-1 when none)."""
    rows = requests.get(url("read-model", "/api/topics"), timeout=30).json()["consumerGroups"]
    return next((g["committedOffset"] for g in rows if (g["group"], g["topic"], g["partition"])
                 == (group, topic, partition)), -1)


def test_replay_of_a_fixed_cause_is_processed_by_the_failing_group_only(sku):
    """A letter whose cause is gone (here: one written as if the inventory service's database
    had been down) goes back to its origin topic for the group that failed it: inventory
    handles it; payment, which also reads the topic, does not see it."""
    oid = str(uuid.uuid4())
    event = envelope("OrderCancelled", {"orderId": oid, "reason": "replay"})
    before = end_offsets(["inventory.dlq"])
    # simulate a letter: write it straight to inventory.dlq with the origin headers
    produce("inventory.dlq", oid, event, headers={"x-origin-topic": "order.lifecycle.events",
                                                  "x-origin-partition": "0", "x-origin-offset": "0",
                                                  "x-error": "simulated outage", "x-attempts": "3",
                                                  "x-consumer": "inventory"})
    [letter] = [m for m in read_since(before, until=lambda ms: [m for m in ms if m.key == oid])
                if m.key == oid]
    origin_before = end_offsets(["order.lifecycle.events"])
    done = ctl("dlq", "replay", "inventory.dlq", str(letter.partition), str(letter.offset))
    assert done.returncode == 0, done.stderr
    # inventory consumes order.lifecycle.events: the cancel leaves a tombstone
    wait_until(lambda: sql("inventory", "SELECT status FROM reservations WHERE order_id = %s", oid)
               == [("VOID",)], 20, "inventory to handle the replayed event")
    # payment has read past the replayed copy (its group committed it) without acting on it
    [copy] = [m for m in read_since(origin_before, until=lambda ms: [m for m in ms if m.key == oid])
              if m.key == oid]
    wait_until(lambda: committed("payment", copy.topic, copy.partition) > copy.offset, 20,
               "payment to move past the replayed copy")
    assert sql("payment", "SELECT status FROM payments WHERE order_id = %s", oid) == []


def test_a_letter_of_odd_bytes_is_listed_and_shown_whole():
    """Whatever a dead letter's key and headers hold, it is listed and shown: bytes that are
    not UTF-8 (which no JSON string can hold) show as null, and a long reason whole. Such a
    letter was once left out of listings, and a reason over 1 KB shown as null."""
    reason = "simulated: " + "x" * 3000
    before = end_offsets(["shipping.dlq"])
    produce("shipping.dlq", b"\xff\xfe not UTF-8", b'{"not": "an envelope"}',
            headers={"x-error": reason, "x-consumer": b"\xc3\x28",
                     "x-origin-topic": "order.lifecycle.events"})
    after = end_offsets(["shipping.dlq"])
    [(topic, partition)] = [k for k in after if after[k] > before[k]]
    offset = before[(topic, partition)]

    listed = ctl("dlq", "list", "shipping.dlq")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines()
             if line.split()[1:3] == [str(partition), str(offset)]]
    assert reason in row and "order.lifecycle.events" in row
    r = requests.get(url("read-model", f"/api/dlq/shipping.dlq/{partition}/{offset}"), timeout=30)
    assert r.status_code == 200, r.text
    letter = r.json()
    assert letter["key"] is None and letter["consumer"] is None
    assert letter["error"] == reason and letter["originTopic"] == "order.lifecycle.events"
    assert letter["value"] == '{"not": "an envelope"}'


def test_unknown_letter_and_bad_usage_fail_clearly():
    r = ctl("dlq", "replay", "inventory.dlq", "0", "999999999")
    assert r.returncode == 1 and "no letter" in r.stderr
    r = ctl("dlq", "frobnicate")
    assert r.returncode == 2 and "usage" in r.stderr
