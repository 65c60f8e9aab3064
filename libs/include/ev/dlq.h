/* Dead-letter queues: reading the letters of a DLQ topic with their origin and reason, and
 * replaying them to the topic they came from once the cause is fixed. Shared by the
 * `eventifyctl dlq` command and the read model's /api/dlq endpoints. */
#ifndef EV_DLQ_H
#define EV_DLQ_H

#include "ev/kafka.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Every DLQ of SPEC.md, NULL-terminated. */
extern const char *const ev_dlq_topics[];

/* One dead letter as JSON: topic, partition, offset, key, originTopic, originPartition,
 * originOffset, error, attempts, consumer, failedAt, eventType, eventId, value. */
typedef int (*ev_dlq_visit_fn)(json_t *letter, void *user);

/* Reads every letter of dlq_topic present when the call starts, oldest first per
 * partition, and hands each to visit (which owns the reference). Returns the number read,
 * or -1 with err. */
int ev_dlq_scan(const char *brokers, const char *dlq_topic, ev_dlq_visit_fn visit, void *user,
                char *err, size_t errlen);

/* Republishes letters of dlq_topic to their origin topic with their original key, value and
 * trace headers (plus x-replayed-from): the one at (partition, offset), or all of them when
 * offset < 0. Consumers that had already handled an event skip it by its eventId. Returns
 * the number replayed, or -1 with err (also when the letter does not exist). */
int ev_dlq_replay(const char *brokers, ev_producer *producer, const char *dlq_topic,
                  int32_t partition, int64_t offset, char *err, size_t errlen);

#endif
