"""Issue 12: the Kafka UI's routes of the read model (/api/kafka/...), against the real broker:
brokers and controller, topics with partitions and configs, bounded browsing and search of
messages from an offset or a time, consumer groups with members and lag, and test messages
(admin token, size limit, recorded). Every bad input is a 400 and every unknown name a 404."""
import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import (BROKERS, EVENT_TOPICS, RUN, TOPOLOGY, admin_headers, end_offsets, produce,
                      url, wait_until)


def get(path, expect=200, **params):
    r = requests.get(url("read-model", path), params=params, timeout=30)
    assert r.status_code == expect, (path, params, r.status_code, r.text)
    return r.json()


def post_message(topic, body, headers=None, expect=200):
    r = requests.post(url("read-model", f"/api/kafka/topics/{topic}/messages"), json=body,
                      headers=headers if headers is not None else admin_headers(), timeout=30)
    assert r.status_code == expect, (topic, body, r.status_code, r.text)
    return r.json()


def test_cluster_names_the_brokers_and_the_controller():
    cluster = get("/api/kafka/cluster")
    # the same brokers as the cluster tells a client of its own (their ports may differ: in the
    # Compose stack the read model sees the brokers' internal listener). Under KRaft a client's
    # metadata names some live broker as "controller", not always the same one, so the
    # controller is only checked to be one of them.
    seen = AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=10)
    assert sorted(b["id"] for b in cluster["brokers"]) == sorted(seen.brokers), cluster
    [controller] = [b for b in cluster["brokers"] if b["controller"]]
    assert controller["id"] == cluster["controllerId"]
    assert cluster["topicCount"] >= len(TOPOLOGY["topics"])


def test_topics_list_every_topology_topic_with_its_shape():
    topics = {t["topic"]: t for t in get("/api/kafka/topics")}
    for t in TOPOLOGY["topics"]:
        row = topics[t["name"]]
        assert row["kind"] == t["kind"] and row["partitions"] == t["partitions"], row
        assert row["replicationFactor"] >= 1 and row["underReplicated"] == 0
    assert topics["__consumer_offsets"]["internal"] and topics["__consumer_offsets"]["kind"] == "other"
    assert list(topics) == sorted(topics)


def test_topic_detail_has_partitions_offsets_and_configs():
    key = f"kafka-ui-{uuid.uuid4()}"
    before = end_offsets(["orders.events"])
    produce("orders.events", key, {"probe": key})
    detail = get("/api/kafka/topics/orders.events")
    assert [p["partition"] for p in detail["partitions"]] == [0, 1, 2]
    for p in detail["partitions"]:
        assert p["leader"] in p["replicas"] and set(p["isr"]) <= set(p["replicas"])
        assert 0 <= p["lowOffset"] <= p["highOffset"]
    assert sum(p["highOffset"] for p in detail["partitions"]) > sum(before.values())
    configs = {c["name"]: c for c in detail["configs"]}
    assert configs["cleanup.policy"]["value"] == "delete"
    assert int(configs["retention.ms"]["value"]) != 0


def test_unknown_topics_and_groups_are_404():
    get("/api/kafka/topics/no-such-topic", expect=404)
    get("/api/kafka/topics/no-such-topic/messages", expect=404)
    get("/api/kafka/topics/orders.events/messages", expect=404, partition=99)
    get("/api/kafka/topics/bad name!", expect=404)
    get(f"/api/kafka/consumer-groups/no-such-group-{uuid.uuid4()}", expect=404)
    post_message("no-such-topic", {"value": "x"}, expect=404)
    post_message("__consumer_offsets", {"value": "x"}, expect=404)
    post_message("order.dlq", {"value": "x"}, expect=404)  # DLQs take only dead letters


def test_bad_browse_input_is_a_clear_400():
    path = "/api/kafka/topics/orders.events/messages"
    for params, code in [({"limit": 51}, "invalid_limit"), ({"limit": 0}, "invalid_limit"),
                         ({"offset": -1}, "invalid_position"), ({"offset": "x"}, "invalid_position"),
                         ({"offset": 1, "timestamp": 1}, "invalid_position"),
                         ({"partition": "one"}, "invalid_partition"),
                         ({"search": "x" * 201}, "invalid_search"),
                         ({"from": 1}, "unknown_parameter")]:
        assert get(path, expect=400, **params)["error"]["code"] == code, params


def browse(topic, **params):
    return get(f"/api/kafka/topics/{topic}/messages", **params)


def test_browse_from_offset_time_and_latest_with_headers():
    key = f"kafka-ui-{uuid.uuid4()}"
    before = end_offsets(["orders.events"])
    started = int(time.time() * 1000) - 1000
    produce("orders.events", key, {"probe": key, "n": 1}, headers={"x-probe": key})
    after = wait_until(lambda: (lambda o: o if sum(o.values()) > sum(before.values()) else None)(
        end_offsets(["orders.events"])), 10, "the probe in orders.events")
    [(tp, _)] = [(tp, end) for tp, end in after.items() if end > before.get(tp, 0)]
    partition, offset = tp[1], before.get(tp, 0)

    page = browse("orders.events", partition=partition, offset=offset, limit=1)
    [m] = page["messages"]
    assert m["offset"] == offset and m["key"] == key and page["nextOffset"] == offset + 1
    assert json.loads(m["value"]) == {"probe": key, "n": 1}
    assert {"name": "x-probe", "value": key} in m["headers"]
    assert m["valueBytes"] == len(m["value"]) and not m["valueTruncated"]

    latest = browse("orders.events", partition=partition, limit=1)
    assert latest["messages"][-1]["offset"] == latest["highOffset"] - 1
    assert latest["complete"]

    by_time = browse("orders.events", partition=partition, timestamp=started, limit=50)
    assert any(x["key"] == key for x in by_time["messages"])
    future = browse("orders.events", partition=partition, timestamp=int(time.time() * 1000) + 3600_000)
    assert future["messages"] == [] and future["startOffset"] == future["highOffset"]

    # an offset past the end is clamped: nothing to read, and said so
    past = browse("orders.events", partition=partition, offset=10**12)
    assert past["messages"] == [] and past["startOffset"] == past["highOffset"]


def test_search_reads_a_bounded_window():
    key = f"kafka-ui-{uuid.uuid4()}"
    needle = f"needle-{uuid.uuid4()}"
    before = end_offsets(["orders.events"])
    produce("orders.events", key, {"probe": needle})
    wait_until(lambda: sum(end_offsets(["orders.events"]).values()) > sum(before.values()), 10,
               "the probe in orders.events")
    found = []
    for p in range(3):
        page = browse("orders.events", partition=p, search=needle, limit=50)
        # A search stops at a bound (1000 messages, 4 MiB or its time on a busy machine) and
        # says where to go on from, as the UI's "go on" button does; the probe is the newest.
        for _ in range(20):
            assert page["scanned"] <= 1000 and page["scanned"] >= len(page["messages"])
            found += page["messages"]
            if page["complete"] or page["nextOffset"] >= page["highOffset"]:
                break
            page = browse("orders.events", partition=p, search=needle, limit=50,
                          offset=page["nextOffset"])
    [m] = found
    assert m["key"] == key and needle in m["value"]
    # a search by a header value finds it too; one that matches nothing returns nothing
    assert browse("orders.events", partition=0, search=f"nothing-{uuid.uuid4()}")["messages"] == []


def test_a_header_name_that_is_not_utf8_is_shown_not_dropped():
    """A header name is bytes on the wire: one that is not UTF-8 is shown with a null name,
    as a value that is not UTF-8 is shown null. Such a header once vanished from the browse."""
    key = f"kafka-ui-{uuid.uuid4()}"
    before = end_offsets(["orders.events"])
    # kcat, as this client library makes every header name text
    headers = [b"\xff\xfe-name=odd name", b"x-probe=" + key.encode(), b"x-odd-value=\xc3\x28"]
    subprocess.run([b"kcat", b"-P", b"-b", BROKERS.encode(), b"-t", b"orders.events", b"-k",
                    key.encode(), *[a for h in headers for a in (b"-H", h)]],
                   input=json.dumps({"probe": key}).encode(), check=True, timeout=30)
    after = wait_until(lambda: (lambda o: o if sum(o.values()) > sum(before.values()) else None)(
        end_offsets(["orders.events"])), 10, "the probe in orders.events")
    [(tp, _)] = [(tp, end) for tp, end in after.items() if end > before.get(tp, 0)]
    [m] = browse("orders.events", partition=tp[1], offset=before.get(tp, 0), limit=1)["messages"]
    assert m["key"] == key
    assert m["headers"] == [{"name": None, "value": "odd name"}, {"name": "x-probe", "value": key},
                            {"name": "x-odd-value", "value": None}], m["headers"]


def test_consumer_groups_with_members_assignments_and_lag():
    listing = get("/api/kafka/consumer-groups")
    assert listing["truncated"] is False and listing["total"] == len(listing["groups"])
    groups = {g["group"]: g for g in listing["groups"]}
    ours = {s["group"] for s in TOPOLOGY["services"] if s.get("group")}
    assert ours <= set(groups), (ours, groups)
    assert list(groups) == sorted(groups)
    for name in ours:
        assert groups[name]["lag"] is not None and groups[name]["lag"] >= 0

    group = get("/api/kafka/consumer-groups/read-model")
    assert group["state"] == "Stable" and group["members"], group
    assigned = {(a["topic"], a["partition"]) for m in group["members"] for a in m["assignment"]}
    consumes = next(s for s in TOPOLOGY["services"] if s["name"] == "read-model")["consumes"]
    partitions = {t["name"]: t["partitions"] for t in TOPOLOGY["topics"]}
    assert assigned == {(t, p) for t in consumes for p in range(partitions[t])}
    for row in group["offsets"]:
        assert row["lag"] == max(0, row["endOffset"] - max(row["committedOffset"] or 0, 0))
    assert group["lag"] == sum(r["lag"] for r in group["offsets"])


def delete_groups(names):
    """Deletes consumer groups with Kafka's own tool (this client library has no DeleteGroups)."""
    lib = os.environ.get("EVENTIFY_KAFKA_LIB", os.path.join(RUN, "kafka", "lib"))
    for i in range(0, len(names), 100):
        args = [a for n in names[i:i + 100] for a in ("--group", n)]
        subprocess.run(["java", "-Xmx64m", "-cp", os.path.join(lib, "*"),
                        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                        "--bootstrap-server", BROKERS, "--delete", *args],
                       capture_output=True, timeout=120, check=True)


def commit_as(group):
    """Makes group exist: one committed offset, and no member."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition("orders.events", 0, 0)], asynchronous=False)
    finally:
        c.close()


@pytest.mark.local_stack
def test_more_groups_than_listed_are_the_first_by_name_and_said_to_be_more():
    """At most 200 groups are listed: the first 200 by name of all of them, with how many there
    are and that some are left out. The listing once kept the first 200 in the broker's order,
    then sorted them, and said nothing."""
    run = uuid.uuid4().hex[:8]
    # after every group of the services by name, so that they stay listed
    mine = [f"zz-system-test-{run}-{i:03d}" for i in range(205)]
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(commit_as, mine))
        admin = AdminClient({"bootstrap.servers": BROKERS})
        every = sorted(g.id for g in admin.list_groups(timeout=30))
        assert set(mine) <= set(every)
        listing = get("/api/kafka/consumer-groups")
        assert listing["truncated"] is True and listing["total"] >= len(every)
        names = [g["group"] for g in listing["groups"]]
        assert names == every[:200]
    finally:
        delete_groups(mine)


def test_a_test_message_needs_the_token_is_bounded_and_recorded():
    key = f"kafka-ui-{uuid.uuid4()}"
    body = {"key": key, "value": json.dumps({"hello": key}), "headers": {"note": "system test"},
            "partition": 1}
    post_message("orders.events", body, headers={}, expect=401)
    post_message("orders.events", body, headers={"Authorization": "Bearer wrong"}, expect=401)
    for bad in [{}, {"value": 1}, {"value": "x", "key": 5}, {"value": "x", "partition": -1},
                {"value": "x", "extra": 1}, {"value": "x", "headers": {"a": 1}},
                {"value": "x", "headers": {"x-eventify-test-message": "forged"}},
                {"value": "x", "headers": {f"h{i}": "v" for i in range(17)}}]:
        assert post_message("orders.events", bad, expect=400)["error"]["code"] == "validation_error", bad
    post_message("orders.events", {"value": "x", "partition": 3}, expect=404)
    # key, value and headers together: at most 32 KiB; a body over the HTTP limit never gets here
    assert post_message("orders.events", {"value": "x" * (32 * 1024 - 10), "key": "k" * 11},
                        expect=413)["error"]["code"] == "too_large"
    assert post_message("orders.events", {"value": "x" * (64 * 1024 + 1)},
                        expect=413)["error"]["code"] == "payload_too_large"

    sent = post_message("orders.events", body,
                        headers=dict(admin_headers(), **{"X-Eventify-Client": "ui"}))
    assert sent["topic"] == "orders.events" and sent["partition"] == 1
    [m] = browse("orders.events", partition=1, offset=sent["offset"], limit=1)["messages"]
    assert m["key"] == key and json.loads(m["value"]) == {"hello": key}
    assert {"name": "note", "value": "system test"} in m["headers"]
    assert {"name": "x-eventify-test-message", "value": "ui"} in m["headers"]
    [record] = [r for r in get("/api/kafka/test-messages", limit=500) if r["key"] == key]
    assert (record["topic"], record["partition"], record["offset"]) == ("orders.events", 1, sent["offset"])
    assert record["tool"] == "ui" and record["valueBytes"] == len(body["value"])
    get("/api/kafka/test-messages", expect=400, limit=0)


def test_a_test_message_key_is_recorded_whole():
    """The key of a test message may have up to 32 KiB: it is recorded whole. The record once
    kept its first 256 characters and did not say so. (At most 1 KiB here: the message is
    dead-lettered, and a longer key would be cut in the letters, which "replay all" of those
    DLQs in the security suite would then refuse.)"""
    key = f"kafka-ui-{uuid.uuid4()}-" + "é" * 480
    sent = post_message("orders.events", {"key": key, "value": "{}"})
    page = browse("orders.events", partition=sent["partition"], offset=sent["offset"], limit=1)
    [m] = page["messages"]
    assert m["key"] == key
    [record] = [r for r in get("/api/kafka/test-messages", limit=500)
                if (r["partition"], r["offset"]) == (sent["partition"], sent["offset"])
                and r["topic"] == "orders.events"]
    assert record["key"] == key


def test_every_event_topic_can_be_browsed():
    for topic in EVENT_TOPICS:
        page = browse(topic, limit=5)
        assert len(page["messages"]) <= 5 and page["lowOffset"] <= page["startOffset"] <= page["highOffset"]
