/* Kafka through librdkafka: an idempotent producer (acks=all) that sends a batch and waits
 * for every delivery report, and a consumer whose offsets are committed only explicitly,
 * after the database transaction that used the message has committed. */
#ifndef EV_KAFKA_H
#define EV_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *value; /* NUL-terminated */
} ev_header;

typedef struct {
    const char *topic;
    const char *key;
    size_t key_len; /* bytes of key; 0 means strlen(key) */
    const char *value;
    size_t value_len;
    const ev_header *headers;
    size_t header_count;
} ev_message;

typedef struct ev_producer ev_producer;

/* The largest message (key, value, headers and framing) our producers send: librdkafka's
 * message.max.bytes, set explicitly. The broker's default limit (message.max.bytes
 * 1048588) is a little higher, so what leaves us fits a topic with default settings. */
#define EV_KAFKA_MESSAGE_MAX 1000000

/* Creates an idempotent producer. NULL with err on failure. After a fatal error (which
 * librdkafka's idempotent producer can raise after broker failures) the next send's batch is
 * reported undelivered and the producer replaces its handle, so later sends work again. */
ev_producer *ev_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen);

/* Flushes what is in flight (bounded wait) and frees the producer. */
void ev_producer_free(ev_producer *p);

/* Sends n messages and waits until each has a delivery report. delivered[i] is set true for
 * each message the broker acknowledged. Returns the number delivered. The wait ends when
 * every report is in: at the latest message.timeout.ms after the call. */
size_t ev_producer_send(ev_producer *p, const ev_message *msgs, size_t n, bool *delivered);

/* Like ev_producer_send, but errs[i] receives each message's outcome: NO_ERROR when the
 * broker acknowledged it, else the error of the produce call or of its delivery report. */
size_t ev_producer_send_each(ev_producer *p, const ev_message *msgs, size_t n,
                             rd_kafka_resp_err_t *errs);

/* True when sending the same message again can never succeed (too large, invalid, not
 * authorized, ...); false for errors that may clear (broker down, timeouts, leader moves).
 * Pure. */
bool ev_kafka_error_permanent(rd_kafka_resp_err_t err);

/* True for the permanent errors that a smaller message would avoid. Pure. */
bool ev_kafka_error_too_large(rd_kafka_resp_err_t err);

/* True when a broker answered a metadata request within timeout_ms. */
bool ev_producer_reachable(ev_producer *p, int timeout_ms);

/* The underlying handle, for admin calls (topic metadata, offsets). It may be replaced after
 * a fatal error; a handle once returned stays valid until ev_producer_free. */
rd_kafka_t *ev_producer_handle(ev_producer *p);

typedef struct ev_consumer ev_consumer;

/* Joins consumer group group_id and subscribes to topics. Auto-commit is off. */
ev_consumer *ev_consumer_new(const char *brokers, const char *group_id, const char *const *topics,
                             size_t topic_count, char *err, size_t errlen);

/* Next message or NULL on timeout. Errors reported by librdkafka are logged and skipped.
 * The caller destroys the message with rd_kafka_message_destroy(). */
rd_kafka_message_t *ev_consumer_poll(ev_consumer *c, int timeout_ms);

/* Marks msg done: stores the offset after it and commits stored offsets asynchronously at
 * most once a second (a lost commit only means a redelivery, which the inbox absorbs). Call
 * only after the database transaction for msg has committed. Returns 0 or -1. */
int ev_consumer_commit(ev_consumer *c, const rd_kafka_message_t *msg);

/* Commits stored offsets once their second has passed; call when the poll loop is idle. A commit
 * the broker refused (a coordinator moving, say) is tried again here. */
void ev_consumer_flush_commits(ev_consumer *c);

/* Whether a commit's outcome (its error and its per-partition errors) left any offset
 * uncommitted; "nothing was stored" is not a failure. Pure. */
bool ev_commit_incomplete(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *offsets);

/* The consumer's librdkafka handle, for reading its assignment and offsets (metrics); valid
 * until ev_consumer_close. */
rd_kafka_t *ev_consumer_handle(ev_consumer *c);

/* Whether the consumer holds a partition whose messages it does not deliver: the partition's
 * position has not moved, and the broker (asked, waiting at most timeout_ms) has said that
 * messages wait after it (after the committed offset fetching starts from, before the first
 * message of an assignment) at every asking for at least idle_ms. That is a stuck client,
 * not a quiet partition: librdkafka 2.0.2 can leave a partition assigned and unfetched after
 * broker failures and rebalances, while the consumer's other partitions go on.
 *
 * Call it from the polling thread at least every idle_ms/3. Each call notes where every
 * partition stands; a partition counts as still only between calls that saw it at the same
 * position, and a longer gap between calls (the thread was busy, not polling) starts every
 * count again. The broker is asked about a partition only once it has stood still for half
 * of idle_ms, and then every half of idle_ms. A partition caught up, or whose leader does not
 * answer, starts its count again: one answer is never enough, since a message that arrived
 * just before (or while the broker was away) may be on its way. So a stuck partition is found
 * between idle_ms and twice idle_ms after it stopped. After a question goes unanswered the
 * call asks no more (the next one goes on), so the brokers being away holds the caller for at
 * most one timeout_ms (two before an assignment's first message). On true, what names the first
 * such partition and its offsets (cut to n). */
bool ev_consumer_stalled(ev_consumer *c, int idle_ms, int timeout_ms, char *what, size_t n);

/* Whether a partition holds messages at or after position, given its low and high watermarks;
 * position < 0 (none yet) means from the low watermark, as auto.offset.reset=earliest reads.
 * Pure. */
bool ev_partition_behind(int64_t position, int64_t low, int64_t high);

/* Commits synchronously what was stored, leaves the group and frees the consumer. */
void ev_consumer_close(ev_consumer *c);

/* Copies the value of header name of msg into out (size n) as a C string; false when absent,
 * NULL, or when the value (with its terminating NUL) does not fit: never cut silently. */
bool ev_message_header(const rd_kafka_message_t *msg, const char *name, char *out, size_t n);

/* The raw bytes of the last header name of msg (borrowed from msg). Returns false when
 * absent; a header present with a NULL value gives true with *value NULL and *size 0. */
bool ev_message_header_raw(const rd_kafka_message_t *msg, const char *name, const void **value,
                           size_t *size);

#endif
