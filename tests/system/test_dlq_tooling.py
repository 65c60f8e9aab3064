"""Issue 3: the DLQ tooling. `eventifyctl dlq list|show|replay` lists dead letters with their
reasons and sends them back, once the cause is fixed, to the consumer group that failed them
(replay goes through the read model with the admin token)."""
import hashlib
import json
import os
import subprocess
import uuid

import requests

from conftest import (BROKERS, PORT_OFFSET, ROOT, RUN, admin_headers, end_offsets, envelope,
                      produce, read_since, sql, url, wait_until)

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


# No consumer is in this group: every service skips a replay meant for it (x-replay-for), so
# the replays below change nothing but the topic they go to.
NOBODY = "system-test-no-such-group"
# The letters below go to shipping.dlq, which the security suite never replays whole, and come
# from its origin topic.
DLQ_TOPIC, ORIGIN = "shipping.dlq", "order.lifecycle.events"


def letter_headers(original, **extra):
    """The headers ev_letter_build (libs/src/dlq_headers.c) gives the letter of a message of
    ORIGIN whose value was original, dead-lettered by NOBODY."""
    return {"x-origin-topic": ORIGIN, "x-origin-partition": "0", "x-origin-offset": "0",
            "x-error": "simulated", "x-attempts": "1", "x-failed-at": "2024-01-01T00:00:00Z",
            "x-consumer": NOBODY, "x-original-size": str(len(original)),
            "x-original-sha256": hashlib.sha256(original).hexdigest(), **extra}


def produce_letter(dlq, key, value, headers):
    """Writes a letter straight to dlq; returns its (partition, offset)."""
    before = end_offsets([dlq])
    produce(dlq, key, value, headers=headers)
    after = end_offsets([dlq])
    [(_, partition)] = [k for k in after if after[k] > before[k]]
    return partition, before[(dlq, partition)]


def shown(partition, offset):
    r = requests.get(url("read-model", f"/api/dlq/{DLQ_TOPIC}/{partition}/{offset}"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def replay_over_http(dlq, partition, offset):
    return requests.post(url("read-model", "/api/dlq/replay"), timeout=60, headers=admin_headers(),
                         json={"topic": dlq, "partition": partition, "offset": offset})


def test_a_cut_letter_is_not_replayed_and_says_it_was_cut():
    """A letter keeps only the first 64 KiB of a value too large for the DLQ and the first
    1 KiB of a key, and its headers say so (x-original-size, x-original-sha256,
    x-original-key-size). Its value or key is not the message that failed, so replay refuses
    it: a clear error, nothing published to the origin topic, nothing recorded. Such letters
    were once replayed as if whole, their prefix republished and the replay recorded."""
    original = json.dumps(envelope("OrderCancelled", {"orderId": str(uuid.uuid4()),
                                                      "reason": "x" * 70000})).encode()
    small = json.dumps(envelope("OrderCancelled", {"orderId": str(uuid.uuid4())})).encode()
    long_key = f"cut-{uuid.uuid4()}-" + "k" * 1500
    letters = {
        "value cut": produce_letter(DLQ_TOPIC, str(uuid.uuid4()), original[:65536],
                                    letter_headers(original)),
        "key cut": produce_letter(DLQ_TOPIC, long_key[:1024], small,
                                  letter_headers(small, **{"x-original-key-size":
                                                           str(len(long_key))})),
        "value not the original": produce_letter(
            DLQ_TOPIC, str(uuid.uuid4()), small,
            letter_headers(small, **{"x-original-sha256": hashlib.sha256(b"other").hexdigest()})),
    }
    origin_before = end_offsets([ORIGIN])
    for what, (partition, offset) in letters.items():
        letter = shown(partition, offset)
        assert letter["cut"] is True, (what, letter)
        done = ctl("dlq", "replay", DLQ_TOPIC, str(partition), str(offset))
        assert done.returncode == 1 and "not replayed" not in done.stdout, (what, done.stdout)
        assert "HTTP 409" in done.stderr and "cut" in done.stderr, (what, done.stderr)
        r = replay_over_http(DLQ_TOPIC, partition, offset)
        assert r.status_code == 409, (what, r.text)
        assert r.json()["error"]["code"] == "not_replayable", (what, r.text)
        assert sql("read-model", "SELECT count(*) FROM dlq_replays WHERE dlq_topic = %s"
                   " AND dlq_partition = %s AND dlq_offset = %s",
                   DLQ_TOPIC, partition, offset) == [(0,)], what
    cut_value = shown(*letters["value cut"])
    assert cut_value["originalBytes"] == len(original) and cut_value["valueBytes"] == 65536
    cut_key = shown(*letters["key cut"])
    assert cut_key["originalKeyBytes"] == len(long_key) and cut_key["key"] == long_key[:1024]
    marks = {f"{DLQ_TOPIC}:{p}:{o}" for p, o in letters.values()}
    assert [m for m in read_since(origin_before) if m.headers.get("x-replayed-from") in marks] == []
    # a whole letter is not cut
    whole = shown(*produce_letter(DLQ_TOPIC, str(uuid.uuid4()), small, letter_headers(small)))
    assert whole["cut"] is False and whole["originalBytes"] == len(small)
    assert whole["originalKeyBytes"] is None


def test_a_key_that_is_not_utf8_is_replayed_byte_for_byte():
    """A key is bytes: one that is not UTF-8 (and may hold a NUL) goes back to the origin
    topic exactly as it was, so to the same partition. Such a key, null in the letter's JSON,
    was once replayed as no key at all."""
    key = b"\xff\xfe\x00" + uuid.uuid4().bytes
    value = json.dumps(envelope("OrderCancelled", {"orderId": str(uuid.uuid4())})).encode()
    partition, offset = produce_letter(DLQ_TOPIC, key, value, letter_headers(value))
    origin_before = end_offsets([ORIGIN])
    done = ctl("dlq", "replay", DLQ_TOPIC, str(partition), str(offset))
    assert done.returncode == 0 and "replayed 1" in done.stdout, done.stderr
    mark = f"{DLQ_TOPIC}:{partition}:{offset}"
    def mine(messages):
        return [m for m in messages if m.headers.get("x-replayed-from") == mark]
    [copy] = mine(read_since(origin_before, until=mine))
    assert copy.raw_key == key and copy.raw == value
    assert copy.headers["x-replay-for"] == NOBODY


def test_replay_all_replays_what_it_can_and_counts_what_it_cannot():
    """"Replay all" of a DLQ sends back every letter that can be replayed and skips the ones
    that cannot be as they are (a cut letter): the answer counts them and says why the first
    was skipped. It once answered 409 not_replayable after replaying the others, as if
    nothing had been done."""
    value = json.dumps(envelope("OrderCancelled", {"orderId": str(uuid.uuid4())})).encode()
    big = json.dumps(envelope("OrderCancelled", {"orderId": str(uuid.uuid4()),
                                                 "reason": "x" * 70000})).encode()
    whole = produce_letter(DLQ_TOPIC, str(uuid.uuid4()), value, letter_headers(value))
    cut = produce_letter(DLQ_TOPIC, str(uuid.uuid4()), big[:65536], letter_headers(big))
    marks = {f"{DLQ_TOPIC}:{p}:{o}": what for what, (p, o) in (("whole", whole), ("cut", cut))}
    listed = ctl("dlq", "list", DLQ_TOPIC)
    assert listed.returncode == 0, listed.stderr
    rows = {what: [line for line in listed.stdout.splitlines()
                   if line.split()[1:3] == [str(p), str(o)]]
            for what, (p, o) in (("whole", whole), ("cut", cut))}
    assert "[cut, not replayable]" in rows["cut"][0] and "cut" not in rows["whole"][0], rows
    origin_before = end_offsets([ORIGIN])

    r = requests.post(url("read-model", "/api/dlq/replay"), timeout=120, headers=admin_headers(),
                      json={"topic": DLQ_TOPIC, "all": True})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["replayed"] >= 1 and answer["notReplayable"] >= 1, answer
    assert answer["reason"], answer

    def mine(messages):
        return [marks[m.headers["x-replayed-from"]] for m in messages
                if m.headers.get("x-replayed-from") in marks]
    # a replay's copies are acknowledged before it answers: they are all before the end now
    assert mine(read_since(origin_before)) == ["whole"]
    recorded = sql("read-model", "SELECT dlq_offset FROM dlq_replays WHERE dlq_topic = %s"
                   " AND (dlq_partition, dlq_offset) IN ((%s, %s), (%s, %s))",
                   DLQ_TOPIC, *whole, *cut)
    assert recorded == [(whole[1],)], recorded

    done = ctl("dlq", "replay", DLQ_TOPIC, "--all")
    assert done.returncode == 0 and "replayed" in done.stdout, done.stderr
    assert "cannot be replayed as they are" in done.stderr, done.stderr


def test_unknown_letter_and_bad_usage_fail_clearly():
    r = ctl("dlq", "replay", "inventory.dlq", "0", "999999999")
    assert r.returncode == 1 and "no letter" in r.stderr
    r = ctl("dlq", "frobnicate")
    assert r.returncode == 2 and "usage" in r.stderr
