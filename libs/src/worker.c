/* The consumer loop with inbox, retries and DLQ; see ev/worker.h. */
#include "ev/worker.h"
#include "ev/dlq.h"
#include "ev/events.h"
#include "ev/kafka_metrics.h"
#include "ev/log.h"
#include "ev/once.h"
#include "ev/outbox.h"
#include "ev/pg.h"
#include "ev/topology.h"
#include "ev/trace.h"
#include "ev/utf8.h"
#include "ev/util.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define BACKOFF_MAX_MS 5000
#define EV_STR_(x) #x
#define EV_STR(x) EV_STR_(x)

int ev_backoff_ms(int attempt, int base_ms, int max_ms)
{
    long wait = base_ms;
    for (int i = 1; i < attempt && wait < max_ms; i++)
        wait *= 2;
    return wait < max_ms ? (int)wait : max_ms;
}

int ev_batch_wait_ms(int64_t first_ms, int64_t now_ms, int window_ms, size_t taken, size_t max)
{
    if (taken >= max || window_ms <= 0)
        return 0;
    int64_t left = first_ms + window_ms - now_ms;
    if (left <= 0)
        return 0;
    return left < window_ms ? (int)left : window_ms; /* a clock read before first_ms: the window */
}

static void sleep_unless_stopped(int ms, const atomic_bool *stop)
{
    int64_t deadline = ev_monotonic_ms() + ms;
    while (!atomic_load(stop) && ev_monotonic_ms() < deadline)
        poll(NULL, 0, ms < 50 ? ms : 50);
}

ev_replay_action ev_worker_replay_action(const rd_kafka_message_t *msg, const char *group)
{
    const void *value = NULL;
    size_t size = 0;
    bool present = ev_message_header_raw(msg, EV_REPLAY_FOR, &value, &size);
    return ev_replay_decide(present, value, size, group);
}

/* The headers of msg a letter may carry, as raw bytes borrowed from msg. */
static size_t carried_headers(const rd_kafka_message_t *msg, ev_raw_header *out)
{
    static const char *const names[] = {"traceparent", "causationId", "eventType"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        out[n].name = names[i];
        if (ev_message_header_raw(msg, names[i], &out[n].value, &out[n].size))
            n++;
    }
    return n;
}

static void log_letter(int level, const ev_letter *l, const rd_kafka_message_t *msg,
                       const char *what, const char *why)
{
    ev_log(level, NULL, NULL, "%s %s: origin %s[%s]@%s, value of %s bytes (sha256 %s)%s%s%s", what,
           l->msg.topic, rd_kafka_topic_name(msg->rkt), l->partition, l->offset, l->original_size,
           l->sha256, l->cut ? ", cut to its first " EV_STR(EV_DLQ_VALUE_PREFIX) " bytes" : "",
           why ? ": " : "", why ? why : "");
}

ev_letter_fate ev_dead_letter(ev_producer *p, const char *dlq_topic, const char *consumer,
                              const rd_kafka_message_t *msg, const char *error, int attempts,
                              const atomic_bool *stop)
{
    char failed_at[EV_TIME_LEN];
    ev_time_now(failed_at);
    ev_raw_header carried[3];
    ev_letter_source src = {.origin_topic = rd_kafka_topic_name(msg->rkt),
                            .origin_partition = msg->partition,
                            .origin_offset = msg->offset,
                            .key = msg->key,
                            .key_len = msg->key_len,
                            .value = msg->payload,
                            .value_len = msg->len,
                            .headers = carried,
                            .header_count = carried_headers(msg, carried),
                            .error = error,
                            .attempts = attempts,
                            .consumer = consumer,
                            .failed_at = failed_at};
    ev_letter letter;
    if (ev_letter_build(&src, dlq_topic, false, EV_KAFKA_MESSAGE_MAX, &letter) != 0) {
        ev_error("cannot hash a letter for %s: libcrypto failed", dlq_topic);
        return EV_LETTER_REFUSED;
    }
    for (int attempt = 1; !atomic_load(stop); attempt++) {
        rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (ev_producer_send_each(p, &letter.msg, 1, &rc) == 1) {
            if (letter.cut)
                log_letter(EV_LOG_WARN, &letter, msg, "cut letter written to", NULL);
            return EV_LETTER_WRITTEN;
        }
        if (ev_kafka_error_too_large(rc) && !letter.cut && msg->len > EV_DLQ_VALUE_PREFIX) {
            /* the DLQ topic allows less than we do: send the cut letter instead */
            ev_letter_build(&src, dlq_topic, true, EV_KAFKA_MESSAGE_MAX, &letter);
            continue;
        }
        if (ev_kafka_error_permanent(rc)) {
            log_letter(EV_LOG_ERROR, &letter, msg, "letter refused for good by",
                       rd_kafka_err2str(rc));
            return EV_LETTER_REFUSED;
        }
        ev_warn("cannot write to %s yet (%s); retrying", dlq_topic, rd_kafka_err2str(rc));
        sleep_unless_stopped(ev_backoff_ms(attempt, 200, BACKOFF_MAX_MS), stop);
    }
    return EV_LETTER_STOPPED;
}

typedef struct {
    const ev_worker *w;
    const atomic_bool *stop;
    PGconn *conn;
    char dlq_topic[64];
    ev_once_set *warned;     /* (producer, event type) pairs already warned about */
    bool warned_full_logged; /* the set filled up and that was said once */
    const char *database;    /* for the spans: the service's database */
} loop_state;

/* The worker's session. Its statements are prepared once and run for every message or batch,
 * and the batch paths' statements take arrays: PostgreSQL weighed each generic plan (which
 * guesses an array's length) against plans made for the values at hand and kept planning
 * those anew on every call, which cost the inventory and payment services more planning than
 * execution. The plans' shapes do not depend on the values (index lookups by key, inserts from
 * unnest), so the generic plan is always used. */
#define WORKER_SESSION_SQL "SET plan_cache_mode = force_generic_plan"

/* Makes sure st->conn is usable, waiting for PostgreSQL as long as it takes. */
static bool ensure_connection(loop_state *st)
{
    char err[512];
    while (ev_pg_broken(st->conn) && !atomic_load(st->stop)) {
        PQfinish(st->conn);
        st->conn = ev_pg_connect(st->w->config->pg_conninfo, err, sizeof err);
        if (st->conn && ev_pg_exec(st->conn, WORKER_SESSION_SQL, 0, NULL, err, sizeof err) != 0) {
            PQfinish(st->conn);
            st->conn = NULL;
        }
        if (!st->conn) {
            ev_warn("worker: %s; retrying", err);
            sleep_unless_stopped(1000, st->stop);
        }
    }
    return !atomic_load(st->stop);
}

/* --- tracing ------------------------------------------------------------------------------
 * One consumer span per handled message, the child of the context in its traceparent header
 * (a message without one, or with a malformed one, starts a trace); under it one span per
 * database transaction, current while the handler runs, so the events the handler emits
 * carry it on. Retries and dead-lettering are events of the consumer span. */

static ev_span *start_consumer_span(const loop_state *st, const rd_kafka_message_t *msg)
{
    char header[EV_TRACEPARENT_SIZE + 8], name[96];
    ev_trace_ctx parent;
    bool has_parent = ev_message_header(msg, "traceparent", header, sizeof header) &&
                      ev_traceparent_parse(header, strlen(header), &parent) == 0;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    snprintf(name, sizeof name, "process %s", topic);
    ev_span *span = ev_span_start(name, EV_SPAN_CONSUMER, has_parent ? &parent : NULL);
    if (ev_span_recording(span)) {
        char partition[16];
        snprintf(partition, sizeof partition, "%" PRId32, msg->partition);
        ev_span_attr_str(span, "messaging.system", "kafka");
        ev_span_attr_str(span, "messaging.operation.type", "process");
        ev_span_attr_str(span, "messaging.destination.name", topic);
        ev_span_attr_str(span, "messaging.destination.partition.id", partition);
        ev_span_attr_int(span, "messaging.kafka.offset", msg->offset);
        ev_span_attr_str(span, "messaging.consumer.group.name", st->w->config->service);
        if (msg->key && msg->key_len < 128) {
            char key[128];
            memcpy(key, msg->key, msg->key_len);
            key[msg->key_len] = '\0';
            ev_span_attr_str(span, "messaging.kafka.message.key", key);
        }
    }
    return span;
}

/* The envelope's facts, once it is parsed. */
static void describe_event(ev_span *span, const ev_envelope *e)
{
    ev_span_attr_str(span, "messaging.message.id", e->event_id);
    ev_span_attr_str(span, "eventify.event.type", e->event_type);
    ev_span_attr_str(span, "eventify.correlation_id", e->correlation_id);
}

/* A transaction span under the current context (the consumer span). */
static ev_span *start_tx_span(const loop_state *st, const char *what)
{
    char name[96];
    snprintf(name, sizeof name, "transaction %s", what);
    ev_span *span = ev_span_start(name, EV_SPAN_CLIENT, ev_trace_current());
    ev_span_attr_str(span, "db.system.name", "postgresql");
    ev_span_attr_str(span, "db.namespace", st->database);
    ev_span_attr_str(span, "db.operation.name", "BEGIN");
    return span;
}

static void end_tx_span(ev_span *span, bool committed, const char *reason)
{
    ev_span_attr_str(span, "eventify.transaction.outcome", committed ? "COMMIT" : "ROLLBACK");
    if (!committed)
        ev_span_error(span, reason && *reason ? reason : "rolled back");
    ev_span_end(span);
}

typedef enum { TRY_DONE, TRY_DUPLICATE, TRY_RETRY, TRY_REJECT, TRY_DB_DOWN } try_result;

static void notify_commit(const ev_worker *w, bool committed)
{
    if (w->on_commit)
        w->on_commit(w->user, committed);
    if (committed)
        ev_wake_signal(w->relay_wake);
}

/* One transaction: inbox claim, handler, commit. */
static try_result try_once(loop_state *st, ev_delivery *d)
{
    char err[512];
    PGconn *c = st->conn;
    d->tx = c;
    d->reason[0] = '\0';
    ev_span *tx = start_tx_span(st, d->event->event_type);
    ev_span_enter(tx);
    /* BEGIN and the claim in one round trip; if either fails, the rollback below ends it */
    int fresh =
        ev_inbox_begin_claim(c, d->event, d->topic, d->partition, d->offset, err, sizeof err);
    ev_outcome outcome = EV_RETRY;
    if (fresh == 1)
        outcome = st->w->handler(d, st->w->user);
    else if (fresh < 0)
        ev_fail(d->reason, sizeof d->reason, "inbox: %s", err);

    if (fresh == 1 && outcome == EV_HANDLED) {
        if (ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) == 0) {
            notify_commit(st->w, true);
            end_tx_span(tx, true, NULL);
            return TRY_DONE;
        }
        ev_fail(d->reason, sizeof d->reason, "commit: %s", err);
        outcome = EV_RETRY;
    }
    end_tx_span(tx, false, fresh == 0 ? "duplicate: already processed" : d->reason);
    PQclear(PQexec(c, "ROLLBACK"));
    notify_commit(st->w, false);
    if (ev_pg_broken(c))
        return TRY_DB_DOWN;
    if (fresh == 0)
        return TRY_DUPLICATE;
    return outcome == EV_REJECT ? TRY_REJECT : TRY_RETRY;
}

static bool dead_letter(loop_state *st, ev_span *span, const rd_kafka_message_t *msg,
                        const char *cid, const char *eid, const char *error, int attempts)
{
    /* The error may end in a character that a bounded reason cut, or quote the message's own
     * bytes; the letter's x-error header is read back as text (listings, replays). */
    char *text = strdup(error);
    if (text) {
        ev_utf8_scrub(text);
        error = text;
    }
    ev_span_event(span, "dead-lettered", "eventify.dlq.topic", st->dlq_topic, "eventify.attempts",
                  attempts);
    ev_span_error(span, error);
    ev_log(EV_LOG_WARN, cid, eid,
           "dead-lettering %s[%" PRId32 "]@%" PRId64 " after %d attempt(s): %s",
           rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset, attempts, error);
    ev_letter_fate fate = ev_dead_letter(st->w->producer, st->dlq_topic, st->w->config->service,
                                         msg, error, attempts, st->stop);
    free(text);
    switch (fate) {
    case EV_LETTER_WRITTEN:
        ev_metrics_count_event(st->w->metrics, "dlq_messages_total", rd_kafka_topic_name(msg->rkt));
        return true;
    case EV_LETTER_REFUSED: /* logged with its origin, size and hash; retrying cannot help */
        ev_metrics_count_event(st->w->metrics, "dlq_write_failures_total",
                               rd_kafka_topic_name(msg->rkt));
        return true;
    case EV_LETTER_STOPPED:
        break;
    }
    return false;
}

/* ev_upcast_tolerant, warning once per producer and event type about what it let pass. */
static ev_upcast_result upcast(loop_state *st, ev_envelope *e, const char *topic, char *err,
                               size_t errlen)
{
    ev_tolerated tolerated;
    ev_upcast_result up = ev_upcast_tolerant(e, &tolerated, err, errlen);
    if (up != EV_UPCAST_OK || tolerated.count == 0)
        return up;
    ev_metrics_count_event(st->w->metrics, "tolerated_events_total", topic);
    switch (ev_once_check(st->warned, e->producer, e->event_type)) {
    case EV_ONCE_FIRST:
        ev_log(EV_LOG_WARN, e->correlation_id, e->event_id,
               "accepted %s v%d from %s with %u deviation(s) from the contract, e.g. %s"
               " (warned once per producer and event type)",
               e->event_type, e->version, e->producer, tolerated.count, tolerated.text);
        break;
    case EV_ONCE_FULL:
        if (!st->warned_full_logged)
            ev_warn("more than %d producer/event type pairs deviate from the contract;"
                    " only counting them now (tolerated_events_total)",
                    EV_ONCE_CAPACITY);
        st->warned_full_logged = true;
        break;
    case EV_ONCE_SEEN:
        break;
    }
    return up;
}

/* Handles one message to its end: processed, skipped, or dead-lettered. Returns false
 * only when stopping interrupted it (then the offset must not be committed). */
static bool handle(loop_state *st, const rd_kafka_message_t *msg, ev_span *span);

static bool process(loop_state *st, const rd_kafka_message_t *msg)
{
    const ev_worker *w = st->w;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (ev_worker_replay_action(msg, w->config->service) == EV_REPLAY_SKIP) {
        ev_metrics_count_event(w->metrics, "replays_skipped_total", topic);
        ev_log(EV_LOG_DEBUG, NULL, NULL,
               "%s[%" PRId32 "]@%" PRId64 " is a replay for another group", topic, msg->partition,
               msg->offset);
        return true;
    }
    ev_span *span = start_consumer_span(st, msg);
    ev_span_enter(span);
    bool finished = handle(st, msg, span);
    ev_span_end(span);
    return finished;
}

/* process() under the message's consumer span. */
static bool handle(loop_state *st, const rd_kafka_message_t *msg, ev_span *span)
{
    const ev_worker *w = st->w;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    char err[512];
    ev_envelope e;
    if (ev_envelope_parse(msg->payload, msg->len, &e, err, sizeof err) != 0)
        return dead_letter(st, span, msg, NULL, NULL, err, 1);
    describe_event(span, &e);
    ev_upcast_result up = upcast(st, &e, topic, err, sizeof err);
    if (up == EV_UPCAST_UNKNOWN_TYPE) {
        ev_log(EV_LOG_DEBUG, e.correlation_id, e.event_id, "skipping: %s", err);
        ev_span_event(span, "skipped", "eventify.reason", "unknown event type", NULL, 0);
        ev_envelope_clear(&e);
        return true;
    }
    if (up != EV_UPCAST_OK) {
        bool written = dead_letter(st, span, msg, e.correlation_id, e.event_id, err, 1);
        ev_envelope_clear(&e);
        return written;
    }

    ev_delivery d = {
        .event = &e, .topic = topic, .partition = msg->partition, .offset = msg->offset};
    int64_t start = ev_monotonic_ms();
    bool finished = false;
    for (int attempt = 1; !finished && ensure_connection(st);) {
        switch (try_once(st, &d)) {
        case TRY_DONE:
            ev_metrics_count_event(w->metrics, "events_consumed_total", topic);
            ev_metrics_observe(w->metrics, "event_handle_duration_seconds", NULL,
                               (double)(ev_monotonic_ms() - start) / 1000.0);
            ev_log(EV_LOG_DEBUG, e.correlation_id, e.event_id, "handled %s", e.event_type);
            finished = true;
            break;
        case TRY_DUPLICATE:
            ev_span_event(span, "duplicate skipped", NULL, NULL, NULL, 0);
            ev_metrics_count_event(w->metrics, "events_duplicate_total", topic);
            ev_log(EV_LOG_INFO, e.correlation_id, e.event_id, "duplicate %s skipped", e.event_type);
            finished = true;
            break;
        case TRY_REJECT:
            finished = dead_letter(st, span, msg, e.correlation_id, e.event_id, d.reason, attempt);
            break;
        case TRY_DB_DOWN:
            ev_warn("worker: database unavailable; waiting");
            break; /* not the message's fault: no attempt counted */
        case TRY_RETRY:
            if (attempt >= w->config->max_attempts) {
                finished =
                    dead_letter(st, span, msg, e.correlation_id, e.event_id, d.reason, attempt);
                break;
            }
            ev_span_event(span, "retry", "error.message", d.reason, "eventify.attempt", attempt);
            ev_metrics_add(w->metrics, "consumer_retries_total", NULL, 1);
            ev_log(EV_LOG_WARN, e.correlation_id, e.event_id, "attempt %d failed: %s", attempt,
                   d.reason);
            sleep_unless_stopped(
                ev_backoff_ms(attempt, w->config->retry_backoff_ms, BACKOFF_MAX_MS), st->stop);
            attempt++;
            break;
        }
    }
    ev_envelope_clear(&e);
    return finished;
}

/* --- batches --------------------------------------------------------------------------------
 * What the consumer takes in one go (up to BATCH_MAX: what is already fetched, and what arrives
 * within the batch window, take_batch) is handled in ONE transaction:
 * one BEGIN/COMMIT and one fsync for many events, one inbox statement (arrays) for all of
 * them. If anything in the batch is not plainly
 * handled (a retry, a reject, a database error) the batch is rolled back and its messages go
 * one by one through process(), which owns retries and dead-lettering. */

#define BATCH_MAX 128

typedef struct {
    rd_kafka_message_t *msg;
    ev_envelope event;
    bool decoded; /* valid and upcast: handled in the batch transaction */
    bool duplicate;
    ev_span *span; /* its consumer span while the batch transaction runs */
} batch_item;

/* A replay for another group, or anything not valid, is left to process(). */
static void decode_for_batch(loop_state *st, batch_item *item)
{
    char err[512];
    item->decoded = false;
    if (ev_worker_replay_action(item->msg, st->w->config->service) == EV_REPLAY_SKIP)
        return;
    if (ev_envelope_parse(item->msg->payload, item->msg->len, &item->event, err, sizeof err) != 0)
        return;
    if (upcast(st, &item->event, rd_kafka_topic_name(item->msg->rkt), err, sizeof err) !=
        EV_UPCAST_OK) {
        ev_envelope_clear(&item->event);
        return;
    }
    item->decoded = true;
}

/* Opens the batch's transaction and claims every decoded message of the batch in the inbox
 * with one statement, in one round trip; sets each item's duplicate flag. Returns false on a
 * database error (then the transaction may or may not have begun: the caller rolls back). */
static bool claim_batch(PGconn *c, batch_item *items, size_t n)
{
    char err[512];
    ev_inbox_entry entries[BATCH_MAX];
    bool fresh[BATCH_MAX];
    size_t index[BATCH_MAX], m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].decoded)
            continue;
        const rd_kafka_message_t *msg = items[i].msg;
        entries[m] = (ev_inbox_entry){.event_id = items[i].event.event_id,
                                      .event_type = items[i].event.event_type,
                                      .topic = rd_kafka_topic_name(msg->rkt),
                                      .partition = msg->partition,
                                      .offset = msg->offset};
        index[m++] = i;
    }
    if (ev_inbox_begin_claim_batch(c, entries, m, fresh, err, sizeof err) != 0) {
        ev_warn("worker: batch inbox claim: %s", err);
        return false;
    }
    for (size_t j = 0; j < m; j++)
        items[index[j]].duplicate = !fresh[j];
    return true;
}

/* The service's batch handler over the fresh deliveries, under the batch's transaction span. */
static bool run_batch_handler(loop_state *st, ev_span *tx, ev_delivery *fresh, size_t n)
{
    ev_batch b = {.tx = st->conn, .deliveries = fresh, .n = n};
    ev_span_enter(tx);
    ev_outcome outcome = st->w->handle_batch(&b, st->w->user);
    ev_span_leave(tx);
    if (outcome == EV_HANDLED)
        return true;
    ev_log(EV_LOG_INFO, NULL, NULL, "batch of %zu handled one by one: %s", n,
           b.reason[0] ? b.reason : "the batch handler gave up");
    return false;
}

/* Returns true when every decoded message of the batch was handled and committed: one
 * transaction, one inbox statement for the whole batch, then the handler of each new one
 * (or the batch handler once over all of them, when the service has one). */
static bool try_batch(loop_state *st, batch_item *items, size_t n)
{
    char err[512];
    PGconn *c = st->conn;
    if (ev_pg_broken(c))
        return false;
    bool ok = claim_batch(c, items, n);
    /* with a batch handler the fresh deliveries are gathered here, then handled at once */
    ev_delivery *fresh = st->w->handle_batch ? calloc(n, sizeof *fresh) : NULL;
    size_t fresh_count = 0;
    ok = ok && (fresh || !st->w->handle_batch);
    /* One transaction span for the batch: the child of the first message's consumer span,
     * linked to every other's; each handler runs under its own message's consumer span. */
    ev_span *tx = NULL;
    for (size_t i = 0; i < n && ok; i++) {
        batch_item *it = &items[i];
        if (!it->decoded)
            continue;
        it->span = start_consumer_span(st, it->msg);
        describe_event(it->span, &it->event);
        ev_span_enter(it->span);
        if (!tx)
            tx = start_tx_span(st, "batch");
        else
            ev_span_link(tx, ev_span_context(it->span));
        if (!it->duplicate) {
            ev_delivery d = {.tx = c,
                             .event = &it->event,
                             .topic = rd_kafka_topic_name(it->msg->rkt),
                             .partition = it->msg->partition,
                             .offset = it->msg->offset,
                             .span = it->span};
            if (fresh)
                fresh[fresh_count++] = d;
            else
                ok = st->w->handler(&d, st->w->user) == EV_HANDLED;
        }
        ev_span_leave(it->span);
    }
    if (ok && fresh_count > 0)
        ok = run_batch_handler(st, tx, fresh, fresh_count);
    bool committed = ok && ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) == 0;
    for (size_t i = 0; committed && i < fresh_count; i++)
        ev_metrics_count_event(st->w->metrics, "events_batch_handled_total", fresh[i].topic);
    free(fresh);
    if (!committed)
        PQclear(PQexec(c, "ROLLBACK"));
    notify_commit(st->w, committed);
    ev_span_attr_int(tx, "eventify.batch.size", (int64_t)n);
    end_tx_span(tx, committed, "batch rolled back: handled one by one");
    for (size_t i = 0; i < n; i++) {
        if (!items[i].span)
            continue;
        if (items[i].duplicate)
            ev_span_event(items[i].span, "duplicate skipped", NULL, NULL, NULL, 0);
        if (!committed)
            ev_span_event(items[i].span, "batch rolled back", NULL, NULL, NULL, 0);
        ev_span_end(items[i].span);
        items[i].span = NULL;
    }
    return committed;
}

/* Handles n messages; returns how many, from the start, are finished (their offsets may be
 * stored). Fewer than n only when stopping interrupted the work. */
static size_t process_batch(loop_state *st, rd_kafka_message_t **msgs, size_t n)
{
    const ev_worker *w = st->w;
    batch_item items[BATCH_MAX];
    size_t decoded = 0;
    for (size_t i = 0; i < n; i++) {
        items[i] = (batch_item){.msg = msgs[i]};
        decode_for_batch(st, &items[i]);
        decoded += items[i].decoded;
    }
    bool committed = false;
    if (decoded > 1 && ensure_connection(st)) {
        int64_t start = ev_monotonic_ms();
        committed = try_batch(st, items, n);
        double per_event = (double)(ev_monotonic_ms() - start) / 1000.0 / (double)decoded;
        for (size_t i = 0; committed && i < n; i++) {
            if (!items[i].decoded)
                continue;
            const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
            ev_metrics_count_event(
                w->metrics, items[i].duplicate ? "events_duplicate_total" : "events_consumed_total",
                topic);
            if (!items[i].duplicate)
                ev_metrics_observe(w->metrics, "event_handle_duration_seconds", NULL, per_event);
        }
    }
    size_t finished = 0;
    for (size_t i = 0; i < n; i++) {
        bool done = committed && items[i].decoded;
        if (items[i].decoded)
            ev_envelope_clear(&items[i].event);
        if (!done && !process(st, msgs[i]))
            break; /* stopping: this one and the rest are redelivered after restart */
        finished++;
    }
    return finished;
}

static void run_tick(loop_state *st, int64_t *next_tick)
{
    const ev_worker *w = st->w;
    if (!w->tick || ev_monotonic_ms() < *next_tick)
        return;
    *next_tick = ev_monotonic_ms() + w->tick_ms;
    if (ensure_connection(st) && w->tick(st->conn, w->user) != 0)
        ev_warn("worker: periodic task failed");
    else
        ev_wake_signal(w->relay_wake); /* a tick may have emitted (the saga deadlines) */
}

/* The consumer's lag and the DLQ's size for /metrics, every EV_KAFKA_METRICS_EVERY_MS. The
 * broker requests wait at most 250 ms each (a local broker answers in about a millisecond), so
 * with Kafka down the loop and its tick lose at most about half a second every 5 s. */
static void report_kafka_metrics(const ev_worker *w, ev_consumer *consumer, int64_t *next_report)
{
    if (!w->metrics || ev_monotonic_ms() < *next_report)
        return;
    *next_report = ev_monotonic_ms() + EV_KAFKA_METRICS_EVERY_MS;
    rd_kafka_t *rk = ev_consumer_handle(consumer);
    ev_report_consumer_lag(rk, w->metrics, w->config->service, w->topics, w->topic_count, 250);
    ev_report_dlq_size(rk, w->metrics, w->dlq_topic, 250);
}

/* A partition whose position has not moved while the broker said, at every asking for
 * CONSUMER_STALL_MS, that messages wait after it is stuck (ev_consumer_stalled), and stays
 * stuck: librdkafka 2.0.2 can leave a partition assigned and unfetched after broker failures
 * and rebalances, while the consumer's heartbeats keep the group from giving the partition to
 * another member. The worker then closes the consumer (its stored offsets are committed, it
 * leaves the group) and starts a new one, which rejoins and fetches from the committed
 * offsets; the inbox absorbs whatever is delivered again. Checked every
 * EV_KAFKA_METRICS_EVERY_MS: a stuck partition is found 30 to 60 s after it stopped. */
#define CONSUMER_STALL_MS 30000

/* Returns the consumer to go on with: the same one, or a new one if it was stuck (NULL if a
 * new one could not be created: the worker stops). */
static ev_consumer *replace_if_stalled(loop_state *st, ev_consumer *consumer, int64_t *next_check)
{
    const ev_worker *w = st->w;
    char what[256], err[512];
    if (ev_monotonic_ms() < *next_check)
        return consumer;
    *next_check = ev_monotonic_ms() + EV_KAFKA_METRICS_EVERY_MS;
    if (!ev_consumer_stalled(consumer, CONSUMER_STALL_MS, 250, what, sizeof what))
        return consumer;
    ev_error("worker: %s has not moved for %d s while messages waited; replacing the consumer",
             what, CONSUMER_STALL_MS / 1000);
    ev_metrics_add(w->metrics, "consumer_restarts_total", NULL, 1);
    ev_consumer_close(consumer);
    consumer = ev_consumer_new(w->config->kafka_brokers, w->config->service, w->topics,
                               w->topic_count, err, sizeof err);
    if (!consumer)
        ev_error("worker: %s", err);
    return consumer;
}

/* Waits up to 100 ms for a message, then takes more until the batch's window of window_ms
 * is over or the batch is full: at moderate rates the deliveries of those few milliseconds
 * share one transaction, one inbox claim and one WAL sync instead of one each. With a window
 * of 0 it takes only what is already fetched. Returns how many it put in batch. */
static size_t take_batch(ev_consumer *consumer, int window_ms, rd_kafka_message_t **batch)
{
    rd_kafka_message_t *msg = ev_consumer_poll(consumer, 100);
    if (!msg)
        return 0;
    size_t n = 0;
    int64_t first = ev_monotonic_ms();
    for (;;) {
        if (msg)
            batch[n++] = msg;
        int wait = ev_batch_wait_ms(first, ev_monotonic_ms(), window_ms, n, BATCH_MAX);
        if (n == BATCH_MAX)
            return n;
        msg = ev_consumer_poll(consumer, wait);
        if (!msg && wait == 0) /* nothing more already fetched and the window is over */
            return n;
    }
}

int ev_worker_run(const ev_worker *w, const atomic_bool *stop)
{
    char err[512];
    ev_once_set *warned = malloc(sizeof *warned);
    if (!warned) {
        ev_error("worker: out of memory");
        return -1;
    }
    ev_once_init(warned);
    const ev_topology_service *self = ev_topology_service_named(w->config->service);
    loop_state st = {
        .w = w, .stop = stop, .warned = warned, .database = self ? self->database : "unknown"};
    if (!w->dlq_topic || !ev_strlcpy(st.dlq_topic, w->dlq_topic, sizeof st.dlq_topic)) {
        ev_error("worker: the DLQ topic is missing or too long");
        free(warned);
        return -1;
    }
    ev_consumer *consumer = ev_consumer_new(w->config->kafka_brokers, w->config->service, w->topics,
                                            w->topic_count, err, sizeof err);
    if (!consumer) {
        ev_error("worker: %s", err);
        free(warned);
        return -1;
    }
    int64_t next_tick = 0, next_report = 0, next_stall_check = 0;
    rd_kafka_message_t *batch[BATCH_MAX];
    int rc = 0;
    while (!atomic_load(stop)) {
        size_t n = take_batch(consumer, w->config->batch_wait_ms, batch);
        if (n == 0)
            ev_consumer_flush_commits(consumer);
        size_t finished = n ? process_batch(&st, batch, n) : 0;
        for (size_t i = 0; i < n; i++) {
            if (i < finished)
                ev_consumer_commit(consumer, batch[i]);
            rd_kafka_message_destroy(batch[i]);
        }
        run_tick(&st, &next_tick);
        report_kafka_metrics(w, consumer, &next_report);
        if (!(consumer = replace_if_stalled(&st, consumer, &next_stall_check))) {
            rc = -1;
            break;
        }
    }
    ev_consumer_close(consumer);
    PQfinish(st.conn);
    free(warned);
    return rc;
}
