/* Orchestrator: one persisted saga per order. Inventory and payment results arrive in any
 * order; saga_step decides; the decision (OrderConfirmed | OrderCancelled) is written to the
 * outbox in the same transaction as the new state. A fetched batch is handled as a set
 * (handle_batch: one statement locks its sagas, saga_fold steps them, one writes them back),
 * with the rows handle writes event by event. A periodic pass cancels sagas whose deadline
 * passed, so the deadline survives restarts. GET /sagas/{orderId}. Design: docs/orchestrator.md */
#include "decisions.h"
#include "saga.h"
#include "saga_fold.h"

#include "ev/config.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"
#include "ev/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "orchestrator"
#define DEADLINE_BATCH "100"

typedef struct {
    ev_service base;
    long timeout_ms;
    decisions decided; /* the worker's open transaction's decisions, for metrics */
} orchestrator;

typedef struct {
    const char *order_id;
    const char *correlation_id;
    const char *cause_type; /* event type, or "Deadline" */
    const char *cause_id;   /* event id, or NULL for the deadline */
    const ev_envelope *cause;
    decisions *decided; /* where a decision is noted until its transaction commits */
} transition_ctx;

/* Notes a decision with the saga's age, for metrics once the transaction commits. */
static void note_decision(const transition_ctx *t, saga_emit outcome, double age_seconds)
{
    if (!decisions_note(t->decided, outcome, t->cause == NULL, age_seconds))
        ev_warn("saga metrics: more than %d decisions in one transaction, %s not counted",
                DECISIONS_MAX, t->order_id);
}

/* Stores the step's result and its history row (one statement), and its decision event. */
static int apply_step(PGconn *tx, const transition_ctx *t, saga_state from,
                      const saga_step_result *step, char *err, size_t errlen)
{
    const char *emitted = step->emit == SAGA_EMIT_CONFIRMED   ? "OrderConfirmed"
                          : step->emit == SAGA_EMIT_CANCELLED ? "OrderCancelled"
                                                              : NULL;
    const char *reason = step->emit == SAGA_EMIT_CANCELLED ? step->reason : NULL;
    const char *params[] = {t->order_id,
                            t->cause_type,
                            t->cause_id,
                            saga_state_name(from),
                            saga_state_name(step->state),
                            emitted,
                            reason};
    /* The saga's age comes back with the update, for saga_duration_seconds. */
    PGresult *updated = ev_pg_query(
        tx,
        "WITH saga AS (UPDATE sagas SET state = $5, reason = coalesce($7, reason),"
        "                updated_at = now() WHERE order_id = $1"
        "              RETURNING extract(epoch FROM clock_timestamp() - created_at) AS age),"
        " history AS (INSERT INTO saga_history (order_id, event_type, event_id, from_state,"
        "             to_state, emitted) VALUES ($1, $2, $3, $4, $5, $6))"
        " SELECT age FROM saga",
        7, params, err, errlen);
    if (!updated)
        return -1;
    double age = PQntuples(updated) == 1 ? strtod(PQgetvalue(updated, 0, 0), NULL) : 0;
    PQclear(updated);
    if (!emitted)
        return 0;
    note_decision(t, step->emit, age);
    json_t *payload = reason ? json_pack("{s:s, s:s}", "orderId", t->order_id, "reason", reason)
                             : json_pack("{s:s}", "orderId", t->order_id);
    return t->cause
               ? ev_emit(tx, SERVICE, t->cause, emitted, 1, payload, err, errlen)
               : ev_emit_uncaused(tx, SERVICE, t->correlation_id, emitted, 1, payload, err, errlen);
}

/* The saga's state, locked for this transaction; 1 when found, 0 when the order has none,
 * -1 with err. */
static int lock_saga(PGconn *tx, const char *order_id, saga_state *state, char *err, size_t errlen)
{
    const char *sel[] = {order_id};
    PGresult *r = ev_pg_query(tx, "SELECT state FROM sagas WHERE order_id = $1 FOR UPDATE", 1, sel,
                              err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    int parsed = found ? saga_state_parse(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (parsed < 0)
        return ev_fail(err, errlen, "stored saga state unknown");
    *state = (saga_state)parsed;
    return found;
}

/* Loads (locking) or creates the saga of an order; *state receives its state. The saga
 * usually exists (one statement); the first event of an order inserts it, and an insert that
 * lost a race to another instance reads the winner's row. */
static int load_saga(PGconn *tx, const orchestrator *o, const ev_envelope *e, const char *order_id,
                     saga_state *state, char *err, size_t errlen)
{
    int found = lock_saga(tx, order_id, state, err, errlen);
    if (found != 0)
        return found < 0 ? -1 : 0;
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%ld", o->timeout_ms);
    const char *ins[] = {order_id, e->correlation_id, timeout};
    PGresult *r = ev_pg_query(tx,
                              "INSERT INTO sagas (order_id, state, correlation_id, deadline_at)"
                              " VALUES ($1, 'STARTED', $2,"
                              "         now() + $3::bigint * interval '1 millisecond')"
                              " ON CONFLICT (order_id) DO NOTHING RETURNING state",
                              3, ins, err, errlen);
    if (!r)
        return -1;
    bool inserted = PQntuples(r) == 1;
    PQclear(r);
    if (inserted) {
        *state = SAGA_STARTED;
        return 0;
    }
    found = lock_saga(tx, order_id, state, err, errlen);
    return found == 1 ? 0 : found < 0 ? -1 : ev_fail(err, errlen, "saga of %s vanished", order_id);
}

static ev_outcome handle(ev_delivery *d, void *user)
{
    orchestrator *o = user;
    const ev_envelope *e = d->event;
    int event = saga_event_of(e->event_type);
    if (event < 0)
        return EV_HANDLED; /* compensations and other facts: not the saga's input */
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    const char *detail = json_string_value(json_object_get(e->payload, "reason"));
    char err[512];
    saga_state from = SAGA_STARTED;
    if (load_saga(d->tx, o, e, order_id, &from, err, sizeof err) != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    saga_step_result step = saga_step(from, (saga_event)event, detail);
    transition_ctx t = {order_id, e->correlation_id, e->event_type, e->event_id, e, &o->decided};
    if (apply_step(d->tx, &t, from, &step, err, sizeof err) != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    if (step.emit != SAGA_EMIT_NOTHING)
        ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s %s%s%s", order_id,
               saga_state_name(step.state), step.reason[0] ? ": " : "", step.reason);
    return EV_HANDLED;
}

/* A fetched batch's saga events, folded over their sagas (saga_fold.h). Arrays of n. */
typedef struct {
    saga_fold_event *events;
    const ev_delivery **delivery; /* events[i]'s */
    saga_fold_saga *sagas;        /* count of them, sorted by order id */
    size_t *saga_of;
    saga_fold_step *steps;
    double *age; /* sagas[k]'s age once stored, for saga_duration_seconds */
    size_t n, count;
} saga_batch;

static void saga_batch_free(saga_batch *b)
{
    free(b->events);
    free(b->delivery);
    free(b->sagas);
    free(b->saga_of);
    free(b->steps);
    free(b->age);
}

/* The saga events among the deliveries (other facts are not the saga's input: skipped, as
 * handle does), collected by saga into b (zeroed by the caller, who frees it with saga_batch_free
 * whatever this returns). -1 with err when one names no order or out of memory. */
static int saga_batch_make(saga_batch *b, const ev_delivery *ds, size_t n, char *err, size_t errlen)
{
    size_t room = n ? n : 1;
    b->events = calloc(room, sizeof *b->events);
    b->delivery = calloc(room, sizeof(const ev_delivery *));
    b->sagas = calloc(room, sizeof *b->sagas);
    b->saga_of = calloc(room, sizeof *b->saga_of);
    b->steps = calloc(room, sizeof *b->steps);
    b->age = calloc(room, sizeof *b->age);
    if (!b->events || !b->delivery || !b->sagas || !b->saga_of || !b->steps || !b->age)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        int event = saga_event_of(e->event_type);
        if (event < 0)
            continue;
        const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
        if (!order_id)
            return ev_fail(err, errlen, "%s %s names no order", e->event_type, e->event_id);
        b->delivery[b->n] = &ds[i];
        b->events[b->n++] =
            (saga_fold_event){.order_id = order_id,
                              .correlation_id = e->correlation_id,
                              .event = (saga_event)event,
                              .detail = json_string_value(json_object_get(e->payload, "reason"))};
    }
    size_t count = 0; /* through a local: the analyzer would forget b's pointers otherwise */
    if (saga_fold_collect(b->events, b->n, b->sagas, b->saga_of, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    return 0;
}

/* Creates the sagas not stored yet (with their first event's correlation id, as load_saga
 * does) and locks every saga of the batch in one statement, in order id order; sets each
 * saga's stored state. */
static int lock_sagas(PGconn *tx, const orchestrator *o, saga_batch *b, char *err, size_t errlen)
{
    const char **ids = calloc(b->count ? b->count : 1, sizeof *ids);
    const char **correlations = calloc(b->count ? b->count : 1, sizeof *correlations);
    if (!ids || !correlations) {
        free(ids);
        free(correlations);
        return ev_fail(err, errlen, "out of memory");
    }
    for (size_t k = 0; k < b->count; k++) {
        ids[k] = b->sagas[k].order_id;
        correlations[k] = b->events[b->sagas[k].first_event].correlation_id;
    }
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%ld", o->timeout_ms);
    const char *const *columns[] = {ids, correlations};
    PGresult *r =
        ev_pg_query_arrays(tx,
                           "INSERT INTO sagas (order_id, state, correlation_id, deadline_at)"
                           " SELECT id, 'STARTED', correlation_id,"
                           "        now() + $3::bigint * interval '1 millisecond'"
                           " FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY"
                           "      AS x(id, correlation_id, i) ORDER BY i"
                           " ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id"
                           " RETURNING order_id::text, state",
                           columns, (const size_t[]){b->count, b->count}, 2, timeout, err, errlen);
    int rc = r ? 0 : -1;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        long k = saga_fold_find(b->sagas, b->count, PQgetvalue(r, row, 0));
        int state = saga_state_parse(PQgetvalue(r, row, 1));
        if (k < 0 || state < 0)
            rc = ev_fail(err, errlen, "saga %s unexpected in state %s", PQgetvalue(r, row, 0),
                         PQgetvalue(r, row, 1));
        else
            b->sagas[k].state = (saga_state)state;
    }
    if (rc == 0 && (size_t)PQntuples(r) != b->count)
        rc = ev_fail(err, errlen, "locked %d of %zu sagas", PQntuples(r), b->count);
    PQclear(r);
    free(ids);
    free(correlations);
    return rc;
}

static const char *emitted_type(saga_emit emit)
{
    return emit == SAGA_EMIT_CONFIRMED   ? "OrderConfirmed"
           : emit == SAGA_EMIT_CANCELLED ? "OrderCancelled"
                                         : NULL;
}

/* Writes the fold back in one statement: each saga's last state and reason (the update of
 * apply_step, once per saga) and every event's history row in the batch's order; reads
 * back each saga's age. */
static int store_sagas(PGconn *tx, saga_batch *b, char *err, size_t errlen)
{
    size_t rows = b->count > b->n ? b->count : b->n;
    const char **cells = calloc(9 * (rows ? rows : 1), sizeof *cells);
    if (!cells)
        return ev_fail(err, errlen, "out of memory");
    const char **id = cells, **state = cells + rows, **reason = cells + 2 * rows;
    const char **h_id = cells + 3 * rows, **h_type = cells + 4 * rows, **h_event = cells + 5 * rows,
               **h_from = cells + 6 * rows, **h_to = cells + 7 * rows,
               **h_emitted = cells + 8 * rows;
    for (size_t k = 0; k < b->count; k++) {
        id[k] = b->sagas[k].order_id;
        state[k] = saga_state_name(b->sagas[k].state);
        reason[k] = b->sagas[k].reason;
    }
    for (size_t i = 0; i < b->n; i++) {
        const saga_fold_step *s = &b->steps[i];
        h_id[i] = b->sagas[b->saga_of[i]].order_id;
        h_type[i] = b->delivery[i]->event->event_type;
        h_event[i] = b->delivery[i]->event->event_id;
        h_from[i] = saga_state_name(s->from);
        h_to[i] = saga_state_name(s->step.state);
        h_emitted[i] = emitted_type(s->step.emit);
    }
    /* Two sets of arrays of different lengths: the sagas', then the events'. */
    const char *const *saga_columns[] = {id, state, reason};
    const char *const *event_columns[] = {h_id, h_type, h_event, h_from, h_to, h_emitted};
    char *literal[9] = {0};
    int rc = 0;
    for (size_t c = 0; c < 3 && rc == 0; c++)
        if (!(literal[c] = ev_pg_array_literal(saga_columns[c], b->count)))
            rc = ev_fail(err, errlen, "out of memory");
    for (size_t c = 0; c < 6 && rc == 0; c++)
        if (!(literal[3 + c] = ev_pg_array_literal(event_columns[c], b->n)))
            rc = ev_fail(err, errlen, "out of memory");
    PGresult *r =
        rc == 0
            ? ev_pg_query(
                  tx,
                  "WITH s AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])"
                  "           AS s(id, state, reason)),"
                  " saga AS (UPDATE sagas SET state = s.state,"
                  "          reason = coalesce(s.reason, sagas.reason), updated_at = now()"
                  "          FROM s WHERE sagas.order_id = s.id"
                  "          RETURNING sagas.order_id::text AS id,"
                  "          extract(epoch FROM clock_timestamp() - sagas.created_at) AS age),"
                  " history AS (INSERT INTO saga_history (order_id, event_type, event_id,"
                  "             from_state, to_state, emitted)"
                  "             SELECT id, event_type, event_id, from_state, to_state, emitted"
                  "             FROM unnest($4::uuid[], $5::text[], $6::uuid[], $7::text[],"
                  "                         $8::text[], $9::text[]) WITH ORDINALITY"
                  "             AS h(id, event_type, event_id, from_state, to_state, emitted, i)"
                  "             ORDER BY i)"
                  " SELECT id, age FROM saga",
                  9, (const char *const *)literal, err, errlen)
            : NULL;
    if (rc == 0 && !r)
        rc = -1;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        long k = saga_fold_find(b->sagas, b->count, PQgetvalue(r, row, 0));
        if (k >= 0)
            b->age[k] = strtod(PQgetvalue(r, row, 1), NULL);
    }
    if (rc == 0 && (size_t)PQntuples(r) != b->count)
        rc = ev_fail(err, errlen, "stored %d of %zu sagas", PQntuples(r), b->count);
    PQclear(r);
    for (size_t c = 0; c < 9; c++)
        free(literal[c]);
    free(cells);
    return rc;
}

/* Each decision of the batch, in its order: noted for metrics, and its event built as handle
 * builds it, under its cause's own trace context; then all of them written to the outbox in
 * one statement. */
static int emit_decisions(PGconn *tx, orchestrator *o, const saga_batch *b, char *err,
                          size_t errlen)
{
    ev_outbox_rows rows = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const saga_step_result *step = &b->steps[i].step;
        const char *emitted = emitted_type(step->emit);
        if (!emitted)
            continue;
        const ev_delivery *d = b->delivery[i];
        const ev_envelope *e = d->event;
        const char *order_id = b->events[i].order_id;
        transition_ctx t = {order_id, e->correlation_id, e->event_type, e->event_id,
                            e,        &o->decided};
        note_decision(&t, step->emit, b->age[b->saga_of[i]]);
        json_t *payload = step->emit == SAGA_EMIT_CANCELLED
                              ? json_pack("{s:s, s:s}", "orderId", order_id, "reason", step->reason)
                              : json_pack("{s:s}", "orderId", order_id);
        if (d->span)
            ev_span_enter(d->span);
        rc = ev_outbox_rows_emit(&rows, SERVICE, e, emitted, 1, payload, err, errlen);
        if (d->span)
            ev_span_leave(d->span);
    }
    if (rc == 0)
        rc = ev_outbox_rows_write(tx, &rows, err, errlen);
    ev_outbox_rows_free(&rows);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const saga_step_result *step = &b->steps[i].step;
        const ev_envelope *e = b->delivery[i]->event;
        if (step->emit != SAGA_EMIT_NOTHING)
            ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s %s%s%s",
                   b->events[i].order_id, saga_state_name(step->state), step->reason[0] ? ": " : "",
                   step->reason);
    }
    return rc;
}

/* A fetched batch as a set: every saga locked (or created) in one statement, the events
 * folded over them in C with saga_step, the states and history written back in one
 * statement, then the decisions' outbox rows. The rows are handle's for the same events.
 * Anything unusual gives up (EV_RETRY): the worker then hands the events to handle. */
static ev_outcome handle_batch(ev_batch *batch, void *user)
{
    orchestrator *o = user;
    char err[512];
    saga_batch b = {0};
    int rc = saga_batch_make(&b, batch->deliveries, batch->n, err, sizeof err);
    if (rc == 0 && b.n > 0) {
        rc = lock_sagas(batch->tx, o, &b, err, sizeof err);
        if (rc == 0) {
            saga_fold_apply(b.sagas, b.events, b.n, b.saga_of, b.steps);
            rc = store_sagas(batch->tx, &b, err, sizeof err);
        }
        if (rc == 0)
            rc = emit_decisions(batch->tx, o, &b, err, sizeof err);
    }
    saga_batch_free(&b);
    if (rc != 0) {
        ev_fail(batch->reason, sizeof batch->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

/* Cancels every open saga past its deadline, a batch per transaction. */
static int expire_deadlines(PGconn *c, void *user)
{
    orchestrator *o = user;
    char err[512];
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err) != 0)
        return -1;
    PGresult *r =
        ev_pg_query(c,
                    "SELECT order_id, state, correlation_id FROM sagas"
                    " WHERE state NOT IN ('CONFIRMED', 'CANCELLED')"
                    "   AND deadline_at <= now()"
                    " ORDER BY deadline_at LIMIT " DEADLINE_BATCH " FOR UPDATE SKIP LOCKED",
                    0, NULL, err, sizeof err);
    int rc = r ? 0 : -1;
    for (int i = 0; r && rc == 0 && i < PQntuples(r); i++) {
        int from = saga_state_parse(PQgetvalue(r, i, 1));
        saga_step_result step = saga_step((saga_state)(from < 0 ? 0 : from), SAGA_DEADLINE, NULL);
        transition_ctx t = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), "Deadline", NULL, NULL,
                            &o->decided};
        rc = apply_step(c, &t, (saga_state)from, &step, err, sizeof err);
        if (rc == 0)
            ev_log(EV_LOG_INFO, t.correlation_id, NULL, "order %s cancelled: timeout", t.order_id);
    }
    PQclear(r);
    if (rc != 0 || ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) != 0) {
        ev_error("deadline pass: %s", err);
        PQclear(PQexec(c, "ROLLBACK"));
        decisions_settle(&o->decided, o->base.metrics, false);
        return -1;
    }
    decisions_settle(&o->decided, o->base.metrics, true);
    return 0;
}

/* The worker's transaction ended: its decisions count only if it committed. */
static void on_commit(void *user, bool committed)
{
    orchestrator *o = user;
    decisions_settle(&o->decided, o->base.metrics, committed);
}

static void get_saga(const struct _u_request *req, struct _u_response *resp, void *user)
{
    orchestrator *o = user;
    ev_service_reply_by_id(
        &o->base, req, resp, "orderId",
        "SELECT json_build_object('orderId', s.order_id, 'state', s.state, 'reason', s.reason,"
        "  'correlationId', s.correlation_id, 'deadlineAt', s.deadline_at,"
        "  'createdAt', s.created_at, 'updatedAt', s.updated_at,"
        "  'history', (SELECT coalesce(json_agg(json_build_object('eventType', h.event_type,"
        "     'eventId', h.event_id, 'from', h.from_state, 'to', h.to_state,"
        "     'emitted', h.emitted, 'at', h.at) ORDER BY h.id), '[]')"
        "     FROM saga_history h WHERE h.order_id = s.order_id))::text"
        "  FROM sagas s WHERE s.order_id = $1",
        "saga for order");
}

int main(void)
{
    static orchestrator o;
    char err[512];
    if (ev_env_long(ev_getenv, "EVENTIFY_SAGA_TIMEOUT_MS", 30000, 100, 86400000L, &o.timeout_ms,
                    err, sizeof err) != 0) {
        ev_error("bad configuration: %s", err);
        return 1;
    }
    if (ev_service_open(&o.base, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    /* orders.events only starts the clock; results decide. */
    ev_worker worker = ev_service_worker(&o.base, handle, &o);
    worker.handle_batch = handle_batch;
    worker.tick = expire_deadlines;
    worker.on_commit = on_commit;
    worker.tick_ms = 250;
    int rc = 1;
    if (ev_http_route(o.base.http, "GET", "/sagas/:orderId", get_saga, &o) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&o.base, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&o.base);
    return rc;
}
