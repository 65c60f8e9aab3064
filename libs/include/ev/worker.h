/* The consumer loop every consuming service runs.
 *
 * Messages are taken in batches: what the consumer already fetched, and what arrives within
 * the batch window (config batch_wait_ms, EVENTIFY_BATCH_WAIT_MS) after the first, up to 128;
 * a batch of several valid messages is handled in one transaction, and any failure in it
 * replays its messages one by one as below. A message that finds nothing behind it waits the
 * whole window: that is the latency the window adds to each hop.
 *
 * For each message: decode the envelope and upcast it (undecodable, invalid or of an
 * unknown future version: straight to the DLQ); then, in one transaction, claim it in the
 * inbox (a duplicate is skipped) and call the service's handler, which writes its effects
 * and outbox rows on the same connection; commit; only then store the Kafka offset.
 * A handler's transient failure is retried with exponential backoff up to max_attempts,
 * then the message goes to the group's DLQ (from the topology table, ev/topology.h) with
 * its origin, error and attempt count in headers, and the loop goes on. A lost database connection
 * is not the message's fault: it is retried until the database is back, without counting attempts.
 *
 * A letter the DLQ cannot take whole (too large) is sent cut, with the original's size and
 * SHA-256 (ev/dlq_headers.h). A write to the DLQ that fails for good (refused by the broker
 * even when cut, not authorized, ...) is logged as an error with the letter's origin, size
 * and hash, counted in dlq_write_failures_total, and the loop goes on: a permanent error is
 * never retried. Transient ones (Kafka down) are retried until they pass.
 *
 * A message replayed from a DLQ carries x-replay-for, the consumer group that dead-lettered
 * it: any other group commits it without handling it (replays_skipped_total). A payload a
 * tolerant read let pass with a field missing or unknown is handled and warned about once
 * per producer and event type (tolerated_events_total counts them all).
 *
 * A partition whose position has not moved while messages waited after it, for 30 s, means
 * a stuck consumer (ev_consumer_stalled): it is closed and a new one joins the group in its
 * place, logged as an error and counted in consumer_restarts_total. */
#ifndef EV_WORKER_H
#define EV_WORKER_H

#include "ev/config.h"
#include "ev/dlq_headers.h"
#include "ev/envelope.h"
#include "ev/kafka.h"
#include "ev/metrics.h"
#include "ev/outbox.h"
#include "ev/trace.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum {
    EV_HANDLED = 0, /* effects written: commit */
    EV_RETRY,       /* transient: roll back, back off, try again */
    EV_REJECT,      /* can never succeed: roll back, dead-letter now */
} ev_outcome;

typedef struct {
    PGconn *tx;               /* inside BEGIN: write effects and outbox rows here */
    const ev_envelope *event; /* validated, upcast to the newest version */
    const char *topic;
    int32_t partition;
    int64_t offset;
    /* In a batch (ev_batch), the message's consumer span: only the batch's transaction span
     * is current while a batch handler runs, so it enters this one (ev_span_enter, then
     * ev_span_leave) around writes that must carry the message's own trace context, such as
     * outbox rows. NULL for the per-message handler, under which that span is current.
     * Borrowed. */
    ev_span *span;
    char reason[256]; /* the handler says why, for EV_RETRY and EV_REJECT */
} ev_delivery;

typedef ev_outcome (*ev_handler_fn)(ev_delivery *d, void *user);

/* The fresh deliveries of one fetched batch, for a service that projects them as a set.
 *
 * The worker claims the whole batch in the inbox first, so `deliveries` holds only messages
 * not handled before (duplicates left out), valid and upcast, in the consumer's order: the
 * events of one key (one partition) in partition order, other partitions interleaved as they
 * were fetched. Every delivery's tx is `tx`, inside the batch's one BEGIN. The array, its
 * envelopes and its strings belong to the worker and live only during the call; reason is the
 * handler's to fill. */
typedef struct {
    PGconn *tx;
    ev_delivery *deliveries;
    size_t n;         /* at least 1 */
    char reason[256]; /* the handler says why, for any outcome but EV_HANDLED (logged) */
} ev_batch;

/* One outcome for the whole batch: EV_HANDLED commits it; anything else rolls it back and
 * the worker hands every message, one by one, to the per-message handler, which then owns
 * retries and dead-lettering exactly as without a batch handler. So the two must write the
 * same rows for the same events; the batch handler may simply give up on anything unusual. */
typedef ev_outcome (*ev_batch_handler_fn)(ev_batch *b, void *user);

/* Periodic work on the worker's connection (e.g. saga deadlines), called about every
 * tick_ms while the loop runs. Returns 0 or -1 (logged). */
typedef int (*ev_tick_fn)(PGconn *c, void *user);

typedef struct {
    const ev_config *config;
    const char *const *topics;
    size_t topic_count;
    ev_handler_fn handler;
    /* optional: replaces `handler` for the fresh messages of a fetched batch of two or
     * more; a single message, and every message of a batch it refused, goes to `handler` */
    ev_batch_handler_fn handle_batch;
    void *user;
    /* optional: told after each transaction whether the handlers' writes were committed
     * (true) or rolled back (false), e.g. to publish or drop changes noted while handling */
    void (*on_commit)(void *user, bool committed);
    ev_tick_fn tick; /* optional */
    int tick_ms;
    const char *dlq_topic; /* required: the group's DLQ (ev_service_worker fills it in) */
    /* optional: signalled after each commit and tick, so the outbox rows a handler wrote are
     * published at once (ev_service_worker fills it in); borrowed */
    const ev_wake *relay_wake;
    ev_producer *producer; /* for the DLQ; shared, not owned */
    ev_metrics *metrics;   /* shared, not owned */
} ev_worker;

/* Runs until *stop is true. Returns 0, or -1 if a consumer could not be created (at the start,
 * or when replacing a stuck one). */
int ev_worker_run(const ev_worker *w, const atomic_bool *stop);

/* Backoff before retry number `attempt` (1-based): base doubled each time, capped at
 * max_ms. Pure, unit-tested. */
int ev_backoff_ms(int attempt, int base_ms, int max_ms);

/* How long the loop may still wait for more messages of a batch: the batch holds `taken` of
 * at most `max` messages and its window of window_ms opened at first_ms, when its first message
 * arrived. 0 once the batch is full or the window is over (or was 0: take only what is already
 * fetched). Pure, unit-tested. */
int ev_batch_wait_ms(int64_t first_ms, int64_t now_ms, int window_ms, size_t taken, size_t max);

typedef enum {
    EV_LETTER_WRITTEN, /* in the DLQ, whole or cut */
    EV_LETTER_REFUSED, /* a permanent error even for the cut letter: logged, given up */
    EV_LETTER_STOPPED, /* *stop turned true while Kafka was unavailable */
} ev_letter_fate;

/* Sends msg to dlq_topic with origin, error, attempts, size and hash headers, cut when too
 * large; retries transient errors (Kafka down) until *stop turns true. */
ev_letter_fate ev_dead_letter(ev_producer *p, const char *dlq_topic, const char *consumer,
                              const rd_kafka_message_t *msg, const char *error, int attempts,
                              const atomic_bool *stop);

/* Whether a consumer in group handles msg, from its x-replay-for header. */
ev_replay_action ev_worker_replay_action(const rd_kafka_message_t *msg, const char *group);

#endif
