/* Kafka figures for GET /metrics: a consumer's lag per partition and the size of its group's
 * dead-letter topic, as gauges of an ev_metrics registry. The worker calls the two reports on
 * its own poll thread every EV_KAFKA_METRICS_EVERY_MS. Nothing here allocates what the caller
 * must free. */
#ifndef EV_KAFKA_METRICS_H
#define EV_KAFKA_METRICS_H

#include "ev/metrics.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define EV_KAFKA_METRICS_EVERY_MS 5000

/* Messages between a consumer's next offset (position, or the group's committed offset) and
 * the partition's end (high watermark): high - position, 0 when position is past the end.
 * 0 when the partition never held a message (high 0), else -1 when either is unknown
 * (librdkafka's negative logical offsets). Pure. */
int64_t ev_consumer_lag_of(int64_t high, int64_t position);

/* Sets kafka_consumer_lag{group,topic,partition} for every partition of topics (the topology's
 * partition count). An assigned partition's lag comes from librdkafka's cached high watermark
 * and the consumer's position, or its committed offset when it has consumed nothing yet (one
 * round trip to the group coordinator, at most timeout_ms). A partition assigned to another
 * member of the group is 0 here, so the sum over instances is the group's lag. A series whose
 * lag is unknown keeps its last value. */
void ev_report_consumer_lag(rd_kafka_t *rk, ev_metrics *m, const char *group,
                            const char *const *topics, size_t topic_count, int timeout_ms);

/* Sets kafka_dlq_messages{topic} to the messages dlq_topic holds (high - low watermark summed
 * over its partitions), asking the partition leaders (at most timeout_ms each). Unchanged when
 * a leader does not answer. */
void ev_report_dlq_size(rd_kafka_t *rk, ev_metrics *m, const char *dlq_topic, int timeout_ms);

#endif
