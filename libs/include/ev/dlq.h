/* Dead-letter queues: reading the letters of a DLQ topic with their origin and reason, and
 * replaying them, once the cause is fixed, to the one consumer group that failed them.
 * Shared by the `eventifyctl dlq` command and the read model's /api/dlq endpoints.
 *
 * A letter as JSON: topic, partition, offset, key, originTopic, originPartition,
 * originOffset, error, attempts, consumer, failedAt, eventType, eventId, valueBytes,
 * traceparent, originalBytes and originalKeyBytes (the sizes its headers give the original
 * value and, when it was cut, key; null when absent), cut (true when its key or value is not
 * the original's, as its headers tell: see ev_letter_whole), and value (the text, or null
 * when it is not UTF-8) only where a function says so. key is null when not UTF-8.
 *
 * Replay contract (shared with the consumer loop, ev/worker.h): a replayed letter carries
 * the header `x-replay-for: <consumer group>` naming the group that dead-lettered it (the
 * letter's x-consumer header); consumers of every other group skip it. So a poison message
 * replayed from one DLQ is retried by one consumer and comes back at most once, instead of
 * being dead-lettered again by every consumer of its topic. */
#ifndef EV_DLQ_H
#define EV_DLQ_H

#include "ev/kafka.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The DLQs are those of the topology table (ev/topology.h), listed in ev_topology_dlq_at
 * order. */

#define EV_DLQ_PAGE_MAX 100  /* most letters one page may hold */
#define EV_DLQ_CURSOR_LEN 96 /* "<dlq topic>:<partition>:<offset>" */

/* A reader owns one Kafka consumer that joins no group and commits nothing (it assigns the
 * partitions it reads), so it never disturbs a service's consumer group. It is safe to share
 * between threads: calls are serialized. */
typedef struct ev_dlq_reader ev_dlq_reader;

ev_dlq_reader *ev_dlq_reader_new(const char *brokers, char *err, size_t errlen);
void ev_dlq_reader_free(ev_dlq_reader *r);

/* One page of letters, without their values, in listing order (ev_topology_dlq_at order, then
 * partition, then newest first), starting at cursor (NULL or "" for the beginning) and holding at
 * most limit (1..EV_DLQ_PAGE_MAX) letters; only_topic (NULL for every DLQ) restricts it to one
 * DLQ. next receives the cursor of the following page, or "" when this one reaches the end.
 * Returns a new array, or NULL with err (a malformed cursor or topic is an error too, with
 * *bad_input set). */
json_t *ev_dlq_page(ev_dlq_reader *r, const char *only_topic, const char *cursor, int limit,
                    char next[EV_DLQ_CURSOR_LEN], bool *bad_input, char *err, size_t errlen);

/* The letter at (topic, partition, offset) with its value. NULL with err; *missing is set
 * when there is no such letter. The caller owns the reference. */
json_t *ev_dlq_get(ev_dlq_reader *r, const char *topic, int32_t partition, int64_t offset,
                   bool *missing, char *err, size_t errlen);

/* Reads every letter of dlq_topic present when the call starts, with its value, oldest first
 * per partition, and hands each to visit (which owns the reference; a non-zero return stops
 * the scan). Returns the number visited, or -1 with err. */
typedef int (*ev_dlq_visit_fn)(json_t *letter, void *user);
int ev_dlq_scan(ev_dlq_reader *r, const char *dlq_topic, ev_dlq_visit_fn visit, void *user,
                char *err, size_t errlen);

/* Told about each letter (as JSON, without its value) once the broker has its replayed copy. */
typedef void (*ev_dlq_replayed_fn)(const json_t *letter, void *user);

/* Why a replay failed. */
typedef enum {
    EV_DLQ_REPLAY_UNAVAILABLE = 1, /* Kafka did not answer, or did not take a copy: retry */
    EV_DLQ_REPLAY_MISSING,         /* no letter at the partition and offset asked for */
    EV_DLQ_REPLAY_REFUSED,         /* the letter asked for cannot be replayed as it is */
} ev_dlq_replay_failure;

/* Republishes letters of dlq_topic to their origin topic with the key and value bytes of the
 * letter's message, plus x-replayed-from ("<dlq>:<partition>:<offset>") and x-replay-for (the
 * consumer group that failed it): the one at (partition, offset), or all of them when
 * offset < 0. A letter without origin topic or consumer, whose value is not UTF-8, or whose
 * key or value is not the original's (a cut letter: ev_letter_whole) is refused: nothing of
 * it is sent, and on_replayed is not told. on_replayed may be NULL.
 *
 * One letter: returns 1, or -1 with err and *failure (EV_DLQ_REPLAY_REFUSED for a refused
 * one). All of them: the letters that can be replayed are, the refused ones are skipped and
 * counted in *refused, err then saying why the first was; returns the number replayed, or -1
 * with err and *failure when a copy was not delivered or Kafka did not answer. */
int ev_dlq_replay(ev_dlq_reader *r, ev_producer *producer, const char *dlq_topic, int32_t partition,
                  int64_t offset, ev_dlq_replayed_fn on_replayed, void *user, int *refused,
                  ev_dlq_replay_failure *failure, char *err, size_t errlen);

/* A page cursor "<dlq topic>:<partition>:<offset>" into the index of the topic in
 * ev_topology_dlq_at order, the partition (below the topic's partitions in the table) and
 * the offset (>= 0). False when malformed or not a DLQ. Pure, unit-tested. */
bool ev_dlq_cursor_parse(const char *cursor, int *topic_index, int32_t *partition, int64_t *offset);

/* True when topic is a DLQ of the topology table. */
bool ev_dlq_known(const char *topic);

#endif
