#!/bin/sh
# Starts one Kafka node (KRaft, broker and controller) configured from the environment:
#   KAFKA_NODE_ID          this node's id (1, 2, 3)
#   KAFKA_CLUSTER_ID       the cluster id, the same on every node (22 base64url characters)
#   KAFKA_QUORUM_VOTERS    e.g. 1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093
#   KAFKA_ADVERTISED       the address clients inside the network use, e.g. kafka-1:9092
#   KAFKA_EXTERNAL_ADVERTISED  optional: a second listener on 9094 advertised as this address
#                          (host:port published on the host, for clients outside the network)
#   KAFKA_REPLICATION      copies of every topic (default 3), min.insync.replicas one less (>=1)
#   KAFKA_CFG_<NAME>       any other broker setting: KAFKA_CFG_LOG_RETENTION_HOURS=-1 sets
#                          log.retention.hours=-1
# The log directory (/var/lib/kafka) is formatted at the first start only.
set -eu
: "${KAFKA_NODE_ID:?}" "${KAFKA_CLUSTER_ID:?}" "${KAFKA_QUORUM_VOTERS:?}" "${KAFKA_ADVERTISED:?}"
rf=${KAFKA_REPLICATION:-3}
min_isr=$((rf > 1 ? rf - 1 : 1))
data=/var/lib/kafka/data
conf=/tmp/server.properties
listeners="PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093"
advertised="PLAINTEXT://$KAFKA_ADVERTISED"
protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
if [ -n "${KAFKA_EXTERNAL_ADVERTISED:-}" ]; then
  listeners="$listeners,EXTERNAL://0.0.0.0:9094"
  advertised="$advertised,EXTERNAL://$KAFKA_EXTERNAL_ADVERTISED"
  protocols="$protocols,EXTERNAL:PLAINTEXT"
fi
cat >"$conf" <<CONF
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_QUORUM_VOTERS
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
log.retention.bytes=-1
CONF
env | sed -n 's/^KAFKA_CFG_\([^=]*\)=\(.*\)$/\1=\2/p' | while IFS='=' read -r name value; do
  echo "$(echo "$name" | tr 'A-Z_' 'a-z.')=$value" >>"$conf"
done
java_=/usr/bin/java
cp_='/opt/kafka/lib/*'
log=-Dlog4j2.configurationFile=/opt/kafka/log4j2.properties
if [ ! -f "$data/meta.properties" ]; then
  mkdir -p "$data"
  "$java_" -cp "$cp_" "$log" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$conf"
fi
# shellcheck disable=SC2086 # the heap options are several words
exec "$java_" $KAFKA_HEAP_OPTS -XX:+UseG1GC "$log" -cp "$cp_" kafka.Kafka "$conf"
