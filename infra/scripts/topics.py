"""Creates every Kafka topic of the topology table (infra/topology.json, the export of
libs/src/topology.c) that does not exist yet, with the table's partition count and one replica
per Kafka node (at most 3; EVENTIFY_KAFKA_NODES) and, on a cluster, min.insync.replicas=2 so
that an acks=all write survives the loss of any one node.
Idempotent; used by stack.sh up. Run with Debian's python3 (python3-confluent-kafka)."""
import json
import os
import sys

from confluent_kafka.admin import AdminClient, NewTopic

TOPOLOGY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "topology.json")
with open(TOPOLOGY) as f:
    PARTITIONS = {t["name"]: t["partitions"] for t in json.load(f)["topics"]}


def main():
    brokers = os.environ.get("EVENTIFY_KAFKA_BROKERS", "localhost:9092")
    nodes = int(os.environ.get("EVENTIFY_KAFKA_NODES", "1"))
    replication = int(os.environ.get("EVENTIFY_KAFKA_REPLICATION", str(min(nodes, 3))))
    config = {"min.insync.replicas": "2"} if replication >= 3 else {}
    admin = AdminClient({"bootstrap.servers": brokers})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [t for t in PARTITIONS if t not in existing]
    if not wanted:
        print(f"topics: all {len(PARTITIONS)} present")
        return 0
    futures = admin.create_topics([NewTopic(t, PARTITIONS[t], replication, config=config)
                                   for t in wanted])
    failed = 0
    for topic, future in futures.items():
        try:
            future.result()
            print(f"topics: created {topic}")
        except Exception as exc:  # report every topic, then fail
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                continue
            print(f"topics: cannot create {topic}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
