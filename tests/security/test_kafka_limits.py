"""Issue 7, finding 2: a message at the broker's size limit must not stop a consumer.

Values below, at and over the broker's limit (the limit is read from the topic's config,
max.message.bytes, which defaults to the broker's message.max.bytes), and messages with large
headers and a large key, are produced to every partition of every consumed topic. Each
consumer must dead-letter every one of them into its own DLQ (cut to a bounded prefix when too
large for the DLQ, with x-original-size and x-original-sha256 giving the original) and move
on: its committed offset passes them, and an order placed afterwards completes."""
import hashlib
import json
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import (BROKERS, CONSUMERS, DLQ, end_offsets, envelope, metric, place_order,
                      read_since, sql, wait_final, wait_until)

# What a letter keeps of a value too large for its DLQ (EV_DLQ_VALUE_PREFIX).
PREFIX = 64 * 1024
# The value of the original report: below the broker's limit, but with the letter's headers
# over the producer's own default limit (1,000,000 bytes).
BELOW = 999_850
TOPICS = [t for t in CONSUMERS if CONSUMERS[t]]
# Consumer group of each service: its name (EVENTIFY service name).
GROUP = {s: s for s in DLQ}


_admin = None


def admin():
    """One admin client for the module: its futures need it alive."""
    global _admin
    if _admin is None:
        _admin = AdminClient({"bootstrap.servers": BROKERS})
    return _admin


def topic_limit(topic):
    """max.message.bytes of the topic: the largest record batch the broker accepts there."""
    [future] = admin().describe_configs([ConfigResource("topic", topic)]).values()
    return int(future.result()["max.message.bytes"].value)


def big_producer(compression="none"):
    return Producer({"bootstrap.servers": BROKERS, "message.max.bytes": 8_000_000,
                     "batch.size": 8_000_000, "compression.type": compression,
                     "linger.ms": 0, "enable.idempotence": False, "acks": "all"})


def produce_one(producer, topic, partition, key, value, headers=None):
    """Produces one message and returns (partition, offset), or raises with the broker's error."""
    result = {}

    def report(err, msg):
        result["err"], result["msg"] = err, msg

    producer.produce(topic, value=value, key=key, partition=partition, headers=headers or {},
                     on_delivery=report)
    producer.flush(30)
    if result.get("err") is not None:
        raise KafkaException(result["err"])
    return result["msg"].partition(), result["msg"].offset()


@pytest.fixture(scope="module")
def largest_accepted():
    """The largest value (with a 36-byte key, no headers) the broker takes on a topic with
    the consumed topics' limit, found on a scratch topic so no probe reaches a consumer."""
    limits = {topic_limit(t) for t in TOPICS}
    assert len(limits) == 1, f"consumed topics differ in max.message.bytes: {limits}"
    limit = limits.pop()
    name = f"security-probe-{uuid.uuid4().hex[:8]}"
    a = admin()
    a.create_topics([NewTopic(name, 1, 1, config={"max.message.bytes": str(limit)})])[name].result()
    try:
        p, key = big_producer(), str(uuid.uuid4())

        def accepted(size):
            try:
                produce_one(p, name, 0, key, b"x" * size)
                return True
            except KafkaException as exc:
                assert "MSG_SIZE_TOO_LARGE" in str(exc) or "too large" in str(exc).lower(), exc
                return False

        low, high = limit - 1024, limit  # the answer is a little under the batch limit
        assert accepted(low) and not accepted(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if accepted(mid) else (low, mid)
        return {"limit": limit, "value": low}
    finally:
        a.delete_topics([name])[name].result()


def test_the_broker_limit_is_what_the_broker_says(largest_accepted):
    """The probe found the edge: one byte more is refused by the broker."""
    assert largest_accepted["limit"] - 256 < largest_accepted["value"] < largest_accepted["limit"]


def committed(group, partitions):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group, "enable.auto.commit": False})
    try:
        return {(tp.topic, tp.partition): tp.offset
                for tp in c.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)}
    finally:
        c.close()


def passed(group, topic, produced):
    """True when group's committed offset is past every (partition, offset) of produced."""
    offsets = committed(group, [(topic, p) for p, _ in produced])
    return all(offsets[(topic, p)] > o for p, o in produced)


def origin(letter):
    return int(letter.headers["x-origin-partition"]), int(letter.headers["x-origin-offset"])


def partitions_of(topic):
    return sorted(admin().list_topics(topic, timeout=10).topics[topic].partitions)


def case(kind, largest):
    """(value, key, headers, compression) of one case."""
    key = str(uuid.uuid4())
    if kind == "below":
        return b"b" * BELOW, key, {}, "none"
    if kind == "at":
        return b"a" * largest["value"], key, {}, "none"
    if kind == "over":  # three times the limit: the broker takes it compressed
        return b"o" * (3 * largest["limit"]), key, {}, "lz4"
    # large headers and a large key around a small poison value
    return (b"\x00not json", "k" * 200_000 + key,
            {"traceparent": b"t" * 250_000, "eventType": b"e" * 250_000,
             "x-filler": b"f" * 250_000}, "none")


@pytest.mark.parametrize("kind", ["below", "at", "over", "headers"])
@pytest.mark.parametrize("topic", TOPICS)
def test_an_oversized_message_is_dead_lettered_and_the_consumers_move_on(topic, kind,
                                                                         largest_accepted, sku):
    value, key, headers, compression = case(kind, largest_accepted)
    services = CONSUMERS[topic]
    dlqs = sorted({DLQ[s] for s in services})
    before = end_offsets(dlqs)
    producer = big_producer(compression)
    produced = {produce_one(producer, topic, p, key, value, headers) for p in partitions_of(topic)}

    def letters(messages):
            return [m for m in messages if m.headers.get("x-origin-topic") == topic and
                origin(m) in produced]

    expected = {(DLQ[s], p) for s in services for p in produced}
    found = letters(read_since(before, timeout=90, until=lambda ms: {
        (m.topic, origin(m)) for m in letters(ms)} >= expected))
    digest = hashlib.sha256(value).hexdigest()
    for m in found:
        assert m.headers["x-original-size"] == str(len(value)), m.headers
        assert m.headers["x-original-sha256"] == digest
        assert m.headers["x-consumer"] in services and DLQ[m.headers["x-consumer"]] == m.topic
        if kind != "headers":
            assert m.raw == value[:PREFIX], f"{m.topic}: letter of {len(m.raw)} bytes"
        else:
            assert m.raw == value
        if kind == "headers":
            assert set(m.headers["x-headers-dropped"].split(",")) == {"traceparent", "eventType"}
            assert m.headers["x-original-key-size"] == str(len(key))
            assert m.key == key[:1024]
            assert "x-filler" not in m.headers
    # every consumer group's committed offset moves past the message on every partition
    for s in services:
        wait_until(lambda s=s: passed(GROUP[s], topic, produced), 30,
                   f"{s} to commit past the big messages")
    o = place_order([{"sku": sku, "quantity": 1}], customer="c-big-message")
    assert wait_final(o["orderId"])["status"] == "CONFIRMED"


def test_a_replay_goes_only_to_the_consumer_group_it_names():
    """Finding 3, consumer side: a message replayed from inventory.dlq carries
    x-replay-for: inventory; only inventory handles it (and dead-letters it again, as it is
    not JSON); every other consumer of the topic commits it without handling it."""
    topic, key = "orders.events", str(uuid.uuid4())
    services = CONSUMERS[topic]
    assert "inventory" in services
    dlqs = sorted({DLQ[s] for s in services})
    before = end_offsets(dlqs)
    skipped = {s: metric(s, "replays_skipped_total") for s in services}
    producer = big_producer()
    at = produce_one(producer, topic, -1, key, b"\x00replayed, not json",
                     {"x-replay-for": b"inventory", "x-replayed-from": b"inventory.dlq:0:0"})
    for s in services:
        wait_until(lambda s=s: passed(GROUP[s], topic, {at}), 30, f"{s} to commit the replay")
    letters = [m for m in read_since(before) if m.key == key]
    assert [m.topic for m in letters] == [DLQ["inventory"]], [m.topic for m in letters]
    assert letters[0].headers["x-consumer"] == "inventory"
    for s in services:
        if s != "inventory":
            assert metric(s, "replays_skipped_total") == skipped[s] + 1, s


@pytest.fixture
def inventory_dlq_limit():
    """Sets max.message.bytes of inventory.dlq for one test (a DLQ that allows less than the
    topics it collects from), then restores the topic's own settings."""
    resource = ConfigResource("topic", DLQ["inventory"])
    [future] = admin().describe_configs([resource]).values()
    overrides = {name: entry.value for name, entry in future.result().items()
                 if not entry.is_default and entry.value is not None}

    def set_limit(limit):
        r = ConfigResource("topic", DLQ["inventory"],
                           set_config={**overrides, "max.message.bytes": str(limit)})
        [f] = admin().alter_configs([r]).values()
        f.result()

    yield set_limit
    [f] = admin().alter_configs([ConfigResource("topic", DLQ["inventory"],
                                                set_config=overrides)]).values()
    f.result()


@pytest.mark.parametrize("dlq_limit,fate", [(70_000, "cut"), (1_000, "refused")])
def test_a_dlq_that_refuses_a_letter_never_stops_the_consumer(dlq_limit, fate,
                                                               inventory_dlq_limit, sku):
    """A letter the DLQ's broker refuses as too large is sent again cut; a letter refused even
    cut is a permanent error: logged and counted (dlq_write_failures_total), never retried
    forever, and the consumer goes on."""
    inventory_dlq_limit(dlq_limit)
    topic, key = "orders.events", str(uuid.uuid4())
    value = b"r" * 200_000  # fits our producers' limit whole, not this DLQ's
    before = end_offsets([DLQ["inventory"]])
    failures = metric("inventory", "dlq_write_failures_total")
    at = produce_one(big_producer(), topic, -1, key, value)
    wait_until(lambda: passed(GROUP["inventory"], topic, {at}), 60,
               "inventory to commit past the letter")
    letters = [m for m in read_since(before) if m.key == key]
    if fate == "cut":
        assert len(letters) == 1 and letters[0].raw == value[:PREFIX]
        assert letters[0].headers["x-original-size"] == str(len(value))
        assert letters[0].headers["x-original-sha256"] == hashlib.sha256(value).hexdigest()
    else:
        assert letters == []
        assert metric("inventory", "dlq_write_failures_total") == failures + 1
    o = place_order([{"sku": sku, "quantity": 1}], customer="c-dlq-refuses")
    assert wait_final(o["orderId"])["status"] == "CONFIRMED"


def test_a_valid_replayed_event_is_handled_only_by_the_group_it_names():
    """The same for an event that parses: payment (named) handles it, the read model, the
    orchestrator and the others only commit past it, and nothing of it is projected."""
    oid = str(uuid.uuid4())
    topic = "order.lifecycle.events"
    event = envelope("OrderCancelled", {"orderId": oid, "reason": "replayed for payment"})
    at = produce_one(big_producer(), topic, -1, oid, json.dumps(event).encode(),
                     {"x-replay-for": b"payment"})
    for s in CONSUMERS[topic]:
        wait_until(lambda s=s: passed(GROUP[s], topic, {at}), 30, f"{s} to commit the replay")
    handled = {s for s in CONSUMERS[topic]
               if sql(s, "SELECT count(*) FROM inbox WHERE event_id = %s", event["eventId"])[0][0]}
    assert handled == {"payment"}
    assert sql("read-model", "SELECT count(*) FROM rm_orders WHERE order_id = %s", oid)[0][0] == 0
