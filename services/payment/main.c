/* Payment service: charges an OrderPlaced through the simulated gateway (PaymentSucceeded |
 * PaymentFailed), refunds a charge on OrderCancelled (PaymentRefunded), and never charges an
 * order whose cancel came first. GET /payments/{orderId}. A fetched batch of order events is
 * handled as a set (handle_batch: one statement locks its payments, charge_fold decides in
 * delivery order, one writes them back, one the outbox rows). */
#include "charge_fold.h"
#include "gateway.h"

#include "ev/config.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "payment"

typedef struct {
    ev_service base;
    int64_t limit_cents;
} payment_service;

static ev_outcome db_retry(ev_delivery *d, const char *err)
{
    ev_fail(d->reason, sizeof d->reason, "%s", err);
    return EV_RETRY;
}

static int payment_status(PGconn *tx, const char *order_id, char *status, size_t n, char *err,
                          size_t errlen)
{
    const char *params[] = {order_id};
    PGresult *r = ev_pg_query(tx, "SELECT status FROM payments WHERE order_id = $1 FOR UPDATE", 1,
                              params, err, errlen);
    if (!r)
        return -1;
    ev_strlcpy(status, PQntuples(r) ? PQgetvalue(r, 0, 0) : "", n);
    PQclear(r);
    return 0;
}

static int record(PGconn *tx, const char *order_id, const char *payment_id, const char *status,
                  json_int_t amount, const char *reason, char *err, size_t errlen)
{
    char amount_text[24];
    snprintf(amount_text, sizeof amount_text, "%lld", (long long)amount);
    const char *params[] = {order_id, payment_id, status, amount_text, reason};
    return ev_pg_exec(tx,
                      "INSERT INTO payments (order_id, payment_id, status, amount_cents, reason)"
                      " VALUES ($1, $2, $3, $4, $5)",
                      5, params, err, errlen);
}

static ev_outcome on_order_placed(ev_delivery *d, payment_service *ps, const char *order_id)
{
    char err[512], status[16], reason[256], payment_id[EV_UUID_LEN];
    if (payment_status(d->tx, order_id, status, sizeof status, err, sizeof err) != 0)
        return db_retry(d, err);
    if (status[0]) /* decided before, or cancelled before it was placed */
        return EV_HANDLED;

    const json_t *p = d->event->payload;
    gateway_result decision = gateway_decide(p, ps->limit_cents, reason, sizeof reason);
    if (decision == GATEWAY_TRANSIENT) {
        ev_strlcpy(d->reason, reason, sizeof d->reason);
        return EV_RETRY;
    }
    json_int_t amount = json_integer_value(json_object_get(p, "totalCents"));
    ev_uuid_new(payment_id);
    int rc;
    if (decision == GATEWAY_APPROVED)
        rc = record(d->tx, order_id, payment_id, "SUCCEEDED", amount, NULL, err, sizeof err) ||
             ev_emit(d->tx, SERVICE, d->event, "PaymentSucceeded", 1,
                     json_pack("{s:s, s:s}", "orderId", order_id, "paymentId", payment_id), err,
                     sizeof err);
    else
        rc = record(d->tx, order_id, payment_id, "FAILED", 0, reason, err, sizeof err) ||
             ev_emit(d->tx, SERVICE, d->event, "PaymentFailed", 1,
                     json_pack("{s:s, s:s}", "orderId", order_id, "reason", reason), err,
                     sizeof err);
    if (rc != 0)
        return db_retry(d, err);
    ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id, "order %s: %s", order_id,
           decision == GATEWAY_APPROVED ? "charged" : reason);
    return EV_HANDLED;
}

static ev_outcome on_order_cancelled(ev_delivery *d, const char *order_id)
{
    char err[512], status[16], payment_id[EV_UUID_LEN];
    if (payment_status(d->tx, order_id, status, sizeof status, err, sizeof err) != 0)
        return db_retry(d, err);
    if (!status[0]) { /* cancel before placement: make sure we never charge later */
        ev_uuid_new(payment_id);
        return record(d->tx, order_id, payment_id, "VOID", 0, "cancelled before placed", err,
                      sizeof err)
                   ? db_retry(d, err)
                   : EV_HANDLED;
    }
    if (strcmp(status, "SUCCEEDED") != 0)
        return EV_HANDLED;

    const char *params[] = {order_id};
    PGresult *r = ev_pg_query(d->tx,
                              "UPDATE payments SET status = 'REFUNDED', updated_at = now()"
                              " WHERE order_id = $1 RETURNING payment_id, amount_cents",
                              1, params, err, sizeof err);
    if (!r)
        return db_retry(d, err);
    int rc =
        ev_emit(d->tx, SERVICE, d->event, "PaymentRefunded", 1,
                json_pack("{s:s, s:s, s:I}", "orderId", order_id, "paymentId", PQgetvalue(r, 0, 0),
                          "amountCents", (json_int_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10)),
                err, sizeof err);
    PQclear(r);
    if (rc != 0)
        return db_retry(d, err);
    ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id, "order %s: refunded",
           order_id);
    return EV_HANDLED;
}

static ev_outcome handle(ev_delivery *d, void *user)
{
    const char *type = d->event->event_type;
    const char *order_id = json_string_value(json_object_get(d->event->payload, "orderId"));
    if (strcmp(type, "OrderPlaced") == 0)
        return on_order_placed(d, user, order_id);
    if (strcmp(type, "OrderCancelled") == 0)
        return on_order_cancelled(d, order_id);
    return EV_HANDLED;
}

/* --- a fetched batch as a set ------------------------------------------------------------- */

/* A fetched batch's order events, folded over their payments (charge_fold.h). Arrays of n
 * events, or of count orders. */
typedef struct {
    charge_fold_event *events;
    const ev_delivery **delivery; /* events[i]'s */
    charge_fold_order *orders;    /* count of them, sorted by order id */
    size_t *order_of;
    charge_fold_step *steps;
    char (*payment_id)[EV_UUID_LEN]; /* orders[k]'s, stored or new */
    size_t n, count;
} charge_batch;

static void charge_batch_free(charge_batch *b)
{
    free(b->events);
    free(b->delivery);
    free(b->orders);
    free(b->order_of);
    free(b->steps);
    free(b->payment_id);
}

/* The order events among the deliveries (others are skipped, as handle skips them), collected
 * by order into b (zeroed by the caller, who frees it with charge_batch_free whatever this
 * returns). -1 with err when one names no order or out of memory. */
static int charge_batch_make(charge_batch *b, const ev_delivery *ds, size_t n, char *err,
                             size_t errlen)
{
    size_t room = n ? n : 1;
    b->events = calloc(room, sizeof *b->events);
    b->delivery = calloc(room, sizeof(const ev_delivery *));
    b->orders = calloc(room, sizeof *b->orders);
    b->order_of = calloc(room, sizeof *b->order_of);
    b->steps = calloc(room, sizeof *b->steps);
    b->payment_id = calloc(room, sizeof *b->payment_id);
    if (!b->events || !b->delivery || !b->orders || !b->order_of || !b->steps || !b->payment_id)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        bool placed = strcmp(e->event_type, "OrderPlaced") == 0;
        if (!placed && strcmp(e->event_type, "OrderCancelled") != 0)
            continue;
        const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
        if (!order_id)
            return ev_fail(err, errlen, "%s %s names no order", e->event_type, e->event_id);
        b->delivery[b->n] = &ds[i];
        b->events[b->n++] =
            (charge_fold_event){.order_id = order_id,
                                .kind = placed ? CHARGE_FOLD_PLACED : CHARGE_FOLD_CANCELLED,
                                .order_placed = placed ? e->payload : NULL};
    }
    size_t count = 0; /* through a local: the analyzer would forget b's pointers otherwise */
    if (charge_fold_collect(b->events, b->n, b->orders, b->order_of, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    return 0;
}

/* Locks the payments of every order of the batch in one statement, in order id order (an
 * order not placed yet has none), and sets their stored state, id and amount. */
static int lock_payments(PGconn *tx, charge_batch *b, char *err, size_t errlen)
{
    const char **ids = calloc(b->count ? b->count : 1, sizeof *ids);
    if (!ids)
        return ev_fail(err, errlen, "out of memory");
    for (size_t k = 0; k < b->count; k++)
        ids[k] = b->orders[k].order_id;
    const char *const *columns[] = {ids};
    PGresult *r = ev_pg_query_arrays(tx,
                                     "SELECT order_id::text, payment_id::text, status, amount_cents"
                                     " FROM payments WHERE order_id = ANY($1::uuid[])"
                                     " ORDER BY order_id FOR UPDATE",
                                     columns, &b->count, 1, NULL, err, errlen);
    int rc = r ? 0 : -1;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        long k = charge_fold_find(b->orders, b->count, PQgetvalue(r, row, 0));
        int state = payment_state_parse(PQgetvalue(r, row, 2));
        if (k < 0 || state < 0 || b->orders[k].stored != PAYMENT_NONE ||
            !ev_strlcpy(b->payment_id[k], PQgetvalue(r, row, 1), EV_UUID_LEN)) {
            rc = ev_fail(err, errlen, "payment of %s unexpected in status %s",
                         PQgetvalue(r, row, 0), PQgetvalue(r, row, 2));
            break;
        }
        charge_fold_order *o = &b->orders[k];
        o->stored = o->state = (payment_state)state;
        o->amount_cents = strtoll(PQgetvalue(r, row, 3), NULL, 10);
    }
    PQclear(r);
    free(ids);
    return rc;
}

/* Writes the fold back in one statement: the payments the batch created (as their last event
 * left them) and the stored ones it changed (status and updated_at, as handle's refund). */
static int store_batch(PGconn *tx, charge_batch *b, char *err, size_t errlen)
{
    size_t rows = b->count ? b->count : 1;
    const char **cells = calloc(7 * rows, sizeof *cells);
    char(*amounts)[24] = calloc(rows, sizeof *amounts);
    if (!cells || !amounts) {
        free(cells);
        free(amounts);
        return ev_fail(err, errlen, "out of memory");
    }
    const char **n_id = cells, **n_pid = cells + rows, **n_status = cells + 2 * rows,
               **n_amount = cells + 3 * rows, **n_reason = cells + 4 * rows,
               **c_id = cells + 5 * rows, **c_status = cells + 6 * rows;
    size_t created = 0, changed = 0;
    for (size_t k = 0; k < b->count; k++) {
        charge_fold_order *o = &b->orders[k];
        if (o->stored == PAYMENT_NONE && o->state != PAYMENT_NONE) {
            ev_uuid_new(b->payment_id[k]);
            snprintf(amounts[created], sizeof amounts[created], "%lld", (long long)o->amount_cents);
            n_id[created] = o->order_id;
            n_pid[created] = b->payment_id[k];
            n_status[created] = payment_state_name(o->state);
            n_amount[created] = amounts[created];
            n_reason[created++] = o->reason;
        } else if (o->state != o->stored) {
            c_id[changed] = o->order_id;
            c_status[changed++] = payment_state_name(o->state);
        }
    }
    const char *const *columns[] = {n_id, n_pid, n_status, n_amount, n_reason, c_id, c_status};
    const size_t counts[] = {created, created, created, created, created, changed, changed};
    int rc = 0;
    PGresult *r =
        created + changed > 0
            ? ev_pg_query_arrays(
                  tx,
                  "WITH created AS (INSERT INTO payments"
                  "                 (order_id, payment_id, status, amount_cents, reason)"
                  "                 SELECT * FROM unnest($1::uuid[], $2::uuid[],"
                  "                               $3::text[], $4::bigint[], $5::text[])"
                  "                 RETURNING 1),"
                  " changed AS (UPDATE payments p SET status = c.status,"
                  "             updated_at = now()"
                  "             FROM unnest($6::uuid[], $7::text[]) AS c(order_id, status)"
                  "             WHERE p.order_id = c.order_id RETURNING 1)"
                  " SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM changed)",
                  columns, counts, 7, NULL, err, errlen)
            : NULL;
    if (created + changed > 0) {
        if (!r)
            rc = -1;
        else if (strtoul(PQgetvalue(r, 0, 0), NULL, 10) != created ||
                 strtoul(PQgetvalue(r, 0, 1), NULL, 10) != changed)
            rc = ev_fail(err, errlen, "stored %s of %zu new and %s of %zu changed payments",
                         PQgetvalue(r, 0, 0), created, PQgetvalue(r, 0, 1), changed);
    }
    PQclear(r);
    free(amounts);
    free(cells);
    return rc;
}

/* Event i's outbox event as handle builds it; NULL when its step emits nothing. */
static json_t *step_payload(const charge_batch *b, size_t i, const char **type)
{
    size_t k = b->order_of[i];
    const char *order_id = b->events[i].order_id;
    const charge_fold_step *s = &b->steps[i];
    switch (s->kind) {
    case CHARGE_STEP_CHARGED:
        *type = "PaymentSucceeded";
        return json_pack("{s:s, s:s}", "orderId", order_id, "paymentId", b->payment_id[k]);
    case CHARGE_STEP_DECLINED:
        *type = "PaymentFailed";
        return json_pack("{s:s, s:s}", "orderId", order_id, "reason", s->reason);
    case CHARGE_STEP_REFUNDED:
        *type = "PaymentRefunded";
        return json_pack("{s:s, s:s, s:I}", "orderId", order_id, "paymentId", b->payment_id[k],
                         "amountCents", (json_int_t)b->orders[k].amount_cents);
    default:
        return NULL;
    }
}

/* Each event of the batch the fold made speak, in its order, built as handle builds it under
 * its cause's own trace context; then all of them written to the outbox in one statement. */
static int emit_batch(PGconn *tx, const charge_batch *b, char *err, size_t errlen)
{
    ev_outbox_rows rows = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const char *type = NULL;
        json_t *payload = step_payload(b, i, &type);
        if (!type)
            continue;
        if (!payload) {
            rc = ev_fail(err, errlen, "out of memory");
            break;
        }
        const ev_delivery *d = b->delivery[i];
        if (d->span)
            ev_span_enter(d->span);
        rc = ev_outbox_rows_emit(&rows, SERVICE, d->event, type, 1, payload, err, errlen);
        if (d->span)
            ev_span_leave(d->span);
    }
    if (rc == 0)
        rc = ev_outbox_rows_write(tx, &rows, err, errlen);
    ev_outbox_rows_free(&rows);
    return rc;
}

/* The log lines handle writes for the same events. */
static void log_batch(const charge_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const charge_fold_step *s = &b->steps[i];
        const ev_envelope *e = b->delivery[i]->event;
        if (s->kind == CHARGE_STEP_CHARGED || s->kind == CHARGE_STEP_DECLINED)
            ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: %s",
                   b->events[i].order_id, s->kind == CHARGE_STEP_CHARGED ? "charged" : s->reason);
        else if (s->kind == CHARGE_STEP_REFUNDED)
            ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: refunded",
                   b->events[i].order_id);
    }
}

/* A fetched batch as a set: every payment of the batch locked in one statement, the events
 * folded over them in C in delivery order (charge_fold_apply, with gateway_decide), the
 * payments written back in one statement, then the events' outbox rows in one. The rows are
 * handle's for the same events. Anything unusual (a charge the gateway answers with a
 * transient error among them) gives up (EV_RETRY): the worker then hands the events to
 * handle, which retries and dead-letters that one alone. */
static ev_outcome handle_batch(ev_batch *batch, void *user)
{
    payment_service *ps = user;
    char err[512];
    charge_batch b = {0};
    int rc = charge_batch_make(&b, batch->deliveries, batch->n, err, sizeof err);
    if (rc == 0 && b.n > 0) {
        rc = lock_payments(batch->tx, &b, err, sizeof err);
        if (rc == 0 &&
            !charge_fold_apply(b.orders, b.events, b.n, b.order_of, ps->limit_cents, b.steps)) {
            size_t i = 0;
            while (b.steps[i].kind != CHARGE_STEP_TRANSIENT)
                i++;
            rc = ev_fail(err, sizeof err, "order %s: %s", b.events[i].order_id, b.steps[i].reason);
        }
        if (rc == 0)
            rc = store_batch(batch->tx, &b, err, sizeof err);
        if (rc == 0)
            rc = emit_batch(batch->tx, &b, err, sizeof err);
        if (rc == 0)
            log_batch(&b);
    }
    charge_batch_free(&b);
    if (rc != 0) {
        ev_fail(batch->reason, sizeof batch->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

static void get_payment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    payment_service *ps = user;
    ev_service_reply_by_id(&ps->base, req, resp, "orderId",
                           "SELECT json_build_object('orderId', order_id, 'paymentId',"
                           " payment_id, 'status', status, 'amountCents', amount_cents,"
                           " 'currency', currency, 'reason', reason, 'createdAt', created_at,"
                           " 'updatedAt', updated_at)::text FROM payments"
                           " WHERE order_id = $1 AND status <> 'VOID'",
                           "payment for order");
}

int main(void)
{
    static payment_service ps;
    char err[512];
    long limit;
    if (ev_env_long(ev_getenv, "EVENTIFY_PAYMENT_LIMIT_CENTS", 100000, 0, 1000000000000L, &limit,
                    err, sizeof err) != 0) {
        ev_error("bad configuration: %s", err);
        return 1;
    }
    ps.limit_cents = limit;
    if (ev_service_open(&ps.base, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    ev_worker worker = ev_service_worker(&ps.base, handle, &ps);
    worker.handle_batch = handle_batch;
    int rc = 1;
    if (ev_http_route(ps.base.http, "GET", "/payments/:orderId", get_payment, &ps) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&ps.base, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&ps.base);
    return rc;
}
