/* Orchestrator: one persisted saga per order. Inventory and payment results arrive in any
 * order; saga_step decides; the decision (OrderConfirmed | OrderCancelled) is written to the
 * outbox in the same transaction as the new state. A periodic pass cancels sagas whose
 * deadline passed, so the deadline survives restarts. GET /sagas/{orderId}. */
#include "decisions.h"
#include "saga.h"

#include "ev/config.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"

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
