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
    const char *value;
    size_t value_len;
    const ev_header *headers;
    size_t header_count;
} ev_message;

typedef struct ev_producer ev_producer;

/* Creates an idempotent producer. NULL with err on failure. */
ev_producer *ev_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen);

/* Flushes what is in flight (bounded wait) and frees the producer. */
void ev_producer_free(ev_producer *p);

/* Sends n messages and waits until each has a delivery report. delivered[i] is set true for
 * each message the broker acknowledged. Returns the number delivered. The wait ends when
 * every report is in: at the latest message.timeout.ms after the call. */
size_t ev_producer_send(ev_producer *p, const ev_message *msgs, size_t n, bool *delivered);

/* True when a broker answered a metadata request within timeout_ms. */
bool ev_producer_reachable(ev_producer *p, int timeout_ms);

/* The underlying handle, for admin calls (topic metadata, offsets). */
rd_kafka_t *ev_producer_handle(ev_producer *p);

typedef struct ev_consumer ev_consumer;

/* Joins consumer group group_id and subscribes to topics. Auto-commit is off. */
ev_consumer *ev_consumer_new(const char *brokers, const char *group_id, const char *const *topics,
                             size_t topic_count, char *err, size_t errlen);

/* Next message or NULL on timeout. Errors reported by librdkafka are logged and skipped.
 * The caller destroys the message with rd_kafka_message_destroy(). */
rd_kafka_message_t *ev_consumer_poll(ev_consumer *c, int timeout_ms);

/* Marks msg done: stores the offset after it and commits stored offsets asynchronously at
 * most every 100 ms (a lost commit only means a redelivery, which the inbox absorbs). Call
 * only after the database transaction for msg has committed. Returns 0 or -1. */
int ev_consumer_commit(ev_consumer *c, const rd_kafka_message_t *msg);

/* Commits stored offsets whose 100 ms have passed; call when the poll loop is idle. */
void ev_consumer_flush_commits(ev_consumer *c);

/* Commits synchronously what was stored, leaves the group and frees the consumer. */
void ev_consumer_close(ev_consumer *c);

/* Copies the value of header name of msg into out (size n); false when absent. */
bool ev_message_header(const rd_kafka_message_t *msg, const char *name, char *out, size_t n);

#endif
