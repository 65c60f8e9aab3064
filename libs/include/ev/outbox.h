/* Transactional outbox, inbox and the relay that publishes the outbox to Kafka.
 *
 * A service never produces to Kafka from a request or a handler. It writes the event into
 * its `outbox` table in the same transaction as the state change; the relay publishes
 * committed rows in id order (FOR UPDATE SKIP LOCKED, so several relays never publish a
 * row twice), only the oldest unpublished row of each aggregate at a time (per-order
 * order), in batches, and deletes rows once Kafka acknowledged them (in the same
 * transaction that locked them). Kafka down means rows wait; nothing is lost. Which rows go
 * out is decided within the oldest batch_size rows, so a pass costs the same whatever the
 * backlog. The relay wakes when a writer of its own process committed outbox rows
 * (ev_wake_signal; wake-ups under load coalesce: passes so started are a few milliseconds
 * apart at least), with a poll as backstop for rows other processes wrote (another replica's
 * relay publishes those at once; a standby relay, with no writers, polls often).
 *
 * The inbox records each consumed eventId in the same transaction as its effect, so a
 * redelivered event changes nothing. */
#ifndef EV_OUTBOX_H
#define EV_OUTBOX_H

#include "ev/envelope.h"
#include "ev/kafka.h"
#include "ev/metrics.h"
#include "ev/pg.h"
#include "ev/trace.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The runtime's own tables (outbox, inbox), applied before a service's migrations. */
extern const ev_migration ev_runtime_migrations[];
extern const size_t ev_runtime_migration_count;

/* Appends e (keyed by aggregate_id, usually the orderId) for topic to the outbox inside the
 * caller's open transaction. causation_id is the eventId that caused it, or NULL. */
int ev_outbox_add(PGconn *tx, const char *topic, const char *aggregate_id, const ev_envelope *e,
                  const char *causation_id, char *err, size_t errlen);

/* The traceparent an outbox row keeps: the thread's current trace context (the request's
 * or the handler's span, ev/trace.h), or without one a new context whose trace id is the
 * correlation id. out has EV_TRACEPARENT_SIZE bytes. The relay publishes each row under a
 * span that is this context's child. */
void ev_outbox_traceparent(const char *correlation_id, char out[EV_TRACEPARENT_SIZE]);

/* Emits a new event caused by `cause`: same correlation id, causationId = cause's eventId,
 * topic from the event catalog, key = payload.orderId. Takes ownership of payload. */
int ev_emit(PGconn *tx, const char *producer, const ev_envelope *cause, const char *event_type,
            int version, json_t *payload, char *err, size_t errlen);

/* Like ev_emit for an event with no causing event (a timer): correlation_id is given. */
int ev_emit_uncaused(PGconn *tx, const char *producer, const char *correlation_id,
                     const char *event_type, int version, json_t *payload, char *err,
                     size_t errlen);

/* Outbox rows gathered in memory and written with one statement, for a batch handler that
 * emits several events: ev_outbox_rows_emit builds each row exactly as ev_emit does (the
 * envelope, topic, key, causation id, and the thread's current trace context at the time of
 * the call), ev_outbox_rows_write inserts them all in the order they were added. Zero-
 * initialize; the strings are owned by the struct until ev_outbox_rows_free. */
typedef struct {
    char **cells; /* EV_OUTBOX_COLUMNS per row */
    size_t count, capacity;
} ev_outbox_rows;

#define EV_OUTBOX_COLUMNS 7

/* Like ev_emit, into rows instead of the database. Takes ownership of payload. */
int ev_outbox_rows_emit(ev_outbox_rows *rows, const char *producer, const ev_envelope *cause,
                        const char *event_type, int version, json_t *payload, char *err,
                        size_t errlen);

/* Inserts every row (nothing when there is none) inside the caller's open transaction, in
 * one statement; the rows stay in `rows`. */
int ev_outbox_rows_write(PGconn *tx, const ev_outbox_rows *rows, char *err, size_t errlen);

void ev_outbox_rows_free(ev_outbox_rows *rows);

/* Records the event as processed inside the caller's open transaction.
 * Returns 1 when new, 0 when it was processed before, -1 on error. */
int ev_inbox_claim(PGconn *tx, const ev_envelope *e, const char *topic, int32_t partition,
                   int64_t offset, char *err, size_t errlen);

/* One consumed event of a batch to claim; the strings are borrowed. */
typedef struct {
    const char *event_id;
    const char *event_type;
    const char *topic;
    int32_t partition;
    int64_t offset;
} ev_inbox_entry;

/* Records n events as processed in ONE statement inside the caller's open transaction.
 * fresh[i] tells whether entry i is new; of equal eventIds within the batch only the first
 * counts as new. Returns 0, or -1 with err (then fresh is undefined). */
int ev_inbox_claim_batch(PGconn *tx, const ev_inbox_entry *entries, size_t n, bool *fresh,
                         char *err, size_t errlen);

/* ev_inbox_claim and ev_inbox_claim_batch that also open the transaction: BEGIN goes with the
 * claim in one round trip (ev_pg_begin_query). On -1 the caller rolls back as after any failed
 * statement, whether or not the transaction began. */
int ev_inbox_begin_claim(PGconn *c, const ev_envelope *e, const char *topic, int32_t partition,
                         int64_t offset, char *err, size_t errlen);
int ev_inbox_begin_claim_batch(PGconn *c, const ev_inbox_entry *entries, size_t n, bool *fresh,
                               char *err, size_t errlen);

/* How a process's writers wake its relay: an eventfd. A transaction that wrote outbox rows
 * signals it once committed. Not PostgreSQL's NOTIFY: a transaction that notifies holds a lock
 * of the whole server from its commit record until its WAL flush, so every writer's commit
 * (each POST /orders) waited for the fsync of the one before. */
typedef struct {
    int fd; /* -1: closed */
} ev_wake;

/* Opens w. Returns 0, or -1 with errno set (w->fd is then -1). */
int ev_wake_open(ev_wake *w);
/* Wakes whoever waits on w; safe from any thread, never blocks. NULL or closed: nothing. */
void ev_wake_signal(const ev_wake *w);
/* Waits at most timeout_ms for a signal on w (or, w NULL, just waits) and consumes it;
 * returns true when signalled. */
bool ev_wake_wait(const ev_wake *w, int timeout_ms);
void ev_wake_close(ev_wake *w);

typedef struct {
    const char *conninfo;
    ev_producer *producer; /* shared, not owned */
    ev_metrics *metrics;   /* shared, not owned */
    int batch_size;        /* rows per transaction */
    const ev_wake *wake;   /* signalled by the process's writers; NULL: poll only. Borrowed. */
    int idle_poll_ms;      /* the backstop poll when idle */
} ev_relay_config;

/* Publishes until *stop becomes true; reconnects to PostgreSQL and waits for Kafka as
 * needed. Returns 0 when stopped. */
int ev_relay_run(const ev_relay_config *cfg, const atomic_bool *stop);

/* One pass: publishes up to batch_size rows. Returns rows published, or -1 on a database
 * error; *failed counts rows Kafka did not take, *more is set when the window of the oldest
 * batch_size rows was full (more rows are waiting). Exposed for tests and the relay loop. */
int ev_relay_publish_once(PGconn *c, const ev_relay_config *cfg, int *failed, bool *more);

/* --- pure policy, unit-tested ------------------------------------------------------------ */

/* Writes the ids whose delivered flag is set (the rows to delete) as a PostgreSQL array
 * literal "{1,2}" into out (size n). Returns how many ids it wrote, or -1 if out is too small. */
int ev_relay_ids_literal(const int64_t *ids, const bool *delivered, size_t count, char *out,
                         size_t n);

/* How long the relay waits for a wake-up before the next pass: 0 when the last pass saw a
 * full window (more is waiting), a growing backoff after failed deliveries (Kafka down),
 * otherwise the idle poll interval idle_ms. */
int ev_relay_wait_ms(bool more, int failed, int consecutive_failures, int idle_ms);

/* How long to hold a pass back so passes are at least min_gap_ms apart, given the time since
 * the last one started: 0 once the gap has passed (or the clock went backwards). */
int ev_relay_gather_ms(int64_t since_last_pass_ms, int min_gap_ms);

#endif
