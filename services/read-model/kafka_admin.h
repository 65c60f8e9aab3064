/* Kafka's own state for the UI's Kafka pages, read through librdkafka on clients of this
 * module's own (never the service's consumer or producer): brokers and controller, topics
 * with partitions (leader, replicas, in-sync replicas, offsets) and configs, messages of any
 * partition from an offset or a time with an optional substring search, consumer groups with
 * members, assignments and lag, and producing one test message.
 *
 * Every call is bounded: each Kafka request has a timeout (KAFKA_ADMIN_TIMEOUT_MS), a
 * browse reads at most KAFKA_BROWSE_SCAN_MAX messages and KAFKA_BROWSE_SCAN_BYTES bytes,
 * and returns at most KAFKA_BROWSE_LIMIT_MAX of them, each value shown up to
 * KAFKA_BROWSE_VALUE_MAX bytes (a longer one says so: valueTruncated). Every function
 * returning json_t gives the caller a new reference, or NULL with the error filled in.
 *
 * Thread-safe: the admin client is used concurrently; browsing and producing are
 * serialized (one assignment, one delivery wait at a time). */
#ifndef KAFKA_ADMIN_H
#define KAFKA_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KAFKA_ADMIN_TIMEOUT_MS 3000       /* each Kafka request, and a whole browse */
#define KAFKA_BROWSE_LIMIT_MAX 50         /* messages one browse returns */
#define KAFKA_BROWSE_SCAN_MAX 1000        /* messages one search reads */
#define KAFKA_BROWSE_SCAN_BYTES (4 << 20) /* bytes (keys and values) one browse reads */
#define KAFKA_BROWSE_VALUE_MAX (16 << 10) /* bytes of a value shown */
#define KAFKA_SEARCH_MAX 200              /* characters of a search */
#define KAFKA_TEST_MESSAGE_MAX (32 << 10) /* bytes of key, value and headers of a test message */
#define KAFKA_GROUPS_MAX 200              /* consumer groups listed */

typedef struct kafka_admin kafka_admin;

typedef enum {
    KAFKA_ADMIN_UNAVAILABLE = 1, /* Kafka did not answer in time: 503 */
    KAFKA_ADMIN_NOT_FOUND,       /* no such topic, partition or group: 404 */
    KAFKA_ADMIN_REJECTED,        /* Kafka refused what was asked (e.g. a produce): 422 */
} kafka_admin_failure;

typedef struct {
    kafka_admin_failure failure;
    char message[256];
} kafka_admin_error;

/* Creates the admin client and the browsing consumer (no group joined, nothing committed).
 * NULL with err. */
kafka_admin *kafka_admin_new(const char *brokers, char *err, size_t errlen);
void kafka_admin_free(kafka_admin *k);

/* {clusterId, controllerId, brokers: [{id, host, port, controller}]} */
json_t *kafka_admin_cluster(kafka_admin *k, kafka_admin_error *e);

/* [{topic, kind (events|dlq|other), internal, partitions, replicationFactor,
 *   underReplicated, messages}] sorted by name. */
json_t *kafka_admin_topics(kafka_admin *k, kafka_admin_error *e);

/* {topic, kind, internal, partitions: [{partition, leader, replicas, isr, lowOffset,
 *  highOffset}], configs: [{name, value, source, isDefault, readOnly, sensitive}]} */
json_t *kafka_admin_topic(kafka_admin *k, const char *topic, kafka_admin_error *e);

typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;       /* first offset wanted, or -1 */
    int64_t timestamp_ms; /* or the first message at or after this time, or -1 */
    int limit;            /* 1..KAFKA_BROWSE_LIMIT_MAX messages returned */
    const char *search;   /* NULL, or only messages whose key, value or a header has it */
} kafka_browse_query;

/* Messages of one partition: from offset, from timestamp_ms, or (neither given) the latest
 * ones. {topic, partition, lowOffset, highOffset, startOffset, nextOffset, scanned,
 * complete, messages: [{offset, timestamp, key, headers: [{name, value}], value,
 * valueBytes, valueTruncated}]}; key, value, header names and header values are null when
 * not UTF-8 (such a header is still listed).
 * complete is false when a bound (scan count, bytes, time) ended the read before the
 * partition's end: nextOffset is where to go on. */
json_t *kafka_admin_browse(kafka_admin *k, const kafka_browse_query *q, kafka_admin_error *e);

/* {groups: [{group, state, partitions, lag}], total, truncated}: the first KAFKA_GROUPS_MAX
 * groups by name of all total of them (truncated when some are left out); lag is the sum over
 * a group's committed partitions (null when it has none). */
json_t *kafka_admin_groups(kafka_admin *k, kafka_admin_error *e);

/* {group, state, assignor, coordinator, members: [{memberId, clientId, host, assignment:
 *  [{topic, partition}]}], offsets: [{topic, partition, committedOffset, endOffset, lag}]} */
json_t *kafka_admin_group(kafka_admin *k, const char *group, kafka_admin_error *e);

typedef struct {
    const char *topic;
    int32_t partition; /* or -1: the partitioner picks by key */
    const char *key;   /* NULL: no key */
    size_t key_len;
    const char *value;
    size_t value_len;
    const char *const *header_names; /* header_count of each */
    const char *const *header_values;
    size_t header_count;
} kafka_test_message;

/* Produces m (the caller has checked the topic) and waits for its delivery report; *partition and
 * *offset say where it went. Returns 0, or -1 with e. */
int kafka_admin_produce(kafka_admin *k, const kafka_test_message *m, int32_t *partition,
                        int64_t *offset, kafka_admin_error *e);

/* --- pure, unit-tested -------------------------------------------------------------------- */

/* True when needle (NUL-terminated, not empty) occurs in the n bytes of hay. */
bool kafka_bytes_contain(const void *hay, size_t n, const char *needle);

/* Where a browse starts in a partition holding [low, high): at offset (clamped into
 * [low, high]) when >= 0, else the latest `latest` messages. */
int64_t kafka_browse_start(int64_t low, int64_t high, int64_t offset, int64_t latest);

/* True for a name Kafka accepts for a topic: 1..249 of [A-Za-z0-9._-], not "." or "..". */
bool kafka_topic_name_valid(const char *name);

#endif
