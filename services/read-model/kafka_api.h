/* The Kafka UI's HTTP routes of the read model, under /api/kafka: cluster, topics (with
 * partitions and configs), the messages of a partition (browse and search), consumer groups
 * (with members and lag), and one admin action, POST /api/kafka/topics/{topic}/messages,
 * which produces a test message to an event topic of the topology with the admin token and records
 * it in the kafka_test_messages table (listed by GET /api/kafka/test-messages). Bad input
 * answers 400, an unknown topic, partition or group 404, Kafka not answering in time 503. */
#ifndef KAFKA_API_H
#define KAFKA_API_H

#include "api.h"

/* Registers the /api/kafka routes on a->service->http; a->kafka must be open.
 * Returns 0 or -1. */
int kafka_api_register(api *a);

#endif
