/* Shipping service: one shipment per OrderConfirmed (ShipmentCreated). The shipment row and
 * the event are written together; a second OrderConfirmed for the same order finds the row
 * and emits nothing. A fetched batch is handled as a set (handle_batch: one statement inserts
 * its shipments, one writes their events' outbox rows), with the rows handle writes event by
 * event. GET /shipments/{orderId}. */
#include "shipment_batch.h"

#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"
#include "ev/trace.h"

#include <stdlib.h>
#include <string.h>

#define SERVICE "shipping"

static ev_outcome handle(ev_delivery *d, void *user)
{
    (void)user;
    const ev_envelope *e = d->event;
    if (strcmp(e->event_type, "OrderConfirmed") != 0)
        return EV_HANDLED;
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    char shipment_id[EV_UUID_LEN], err[512];
    ev_uuid_new(shipment_id);
    const char *params[] = {order_id, shipment_id};
    PGresult *r = ev_pg_query(d->tx,
                              "INSERT INTO shipments (order_id, shipment_id) VALUES ($1, $2)"
                              " ON CONFLICT (order_id) DO NOTHING",
                              2, params, err, sizeof err);
    int created = r ? (int)ev_pg_affected(r) : -1;
    PQclear(r);
    if (created == 1 && ev_emit(d->tx, SERVICE, e, "ShipmentCreated", 1,
                                json_pack("{s:s, s:s, s:s}", "orderId", order_id, "shipmentId",
                                          shipment_id, "status", "CREATED"),
                                err, sizeof err) != 0)
        created = -1;
    if (created < 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    if (created == 1)
        ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: shipment %s created",
               order_id, shipment_id);
    return EV_HANDLED;
}

/* A fetched batch's shipments to try (shipment_batch.h). Arrays of n. */
typedef struct {
    const char **types, **order_ids;  /* the events' */
    shipment_try *tries;              /* count of them, sorted by order id */
    char (*shipment_id)[EV_UUID_LEN]; /* tries[k]'s new shipment id */
    bool *creates;
    size_t count;
} shipment_batch;

static void shipment_batch_free(shipment_batch *b)
{
    free(b->types);
    free(b->order_ids);
    free(b->tries);
    free(b->shipment_id);
    free(b->creates);
}

/* The deliveries' shipments to try into b (zeroed by the caller, who frees it with
 * shipment_batch_free whatever this returns), each with a new shipment id. -1 with err, for
 * the per-event path to handle, when an OrderConfirmed names no order or out of memory. */
static int shipment_batch_make(shipment_batch *b, const ev_delivery *ds, size_t n, char *err,
                               size_t errlen)
{
    size_t room = n ? n : 1;
    b->types = calloc(room, sizeof *b->types);
    b->order_ids = calloc(room, sizeof *b->order_ids);
    b->tries = calloc(room, sizeof *b->tries);
    b->shipment_id = calloc(room, sizeof *b->shipment_id);
    b->creates = calloc(room, sizeof *b->creates);
    if (!b->types || !b->order_ids || !b->tries || !b->shipment_id || !b->creates)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        b->types[i] = e->event_type;
        b->order_ids[i] = json_string_value(json_object_get(e->payload, "orderId"));
        if (!b->order_ids[i] && strcmp(e->event_type, "OrderConfirmed") == 0)
            return ev_fail(err, errlen, "OrderConfirmed %s names no order", e->event_id);
    }
    size_t count = 0; /* through a local: the analyzer would forget b's pointers otherwise */
    if (shipment_batch_plan(b->types, b->order_ids, n, b->tries, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    for (size_t k = 0; k < count; k++)
        ev_uuid_new(b->shipment_id[k]);
    return 0;
}

/* Inserts every shipment to try in one statement, in order id order; the ones already there
 * stay (ON CONFLICT as handle) and are marked not created. */
static int insert_shipments(PGconn *tx, shipment_batch *b, char *err, size_t errlen)
{
    const char **ids = calloc(b->count, sizeof *ids);
    const char **shipments = calloc(b->count, sizeof *shipments);
    if (!ids || !shipments) {
        free(ids);
        free(shipments);
        return ev_fail(err, errlen, "out of memory");
    }
    for (size_t k = 0; k < b->count; k++) {
        ids[k] = b->tries[k].order_id;
        shipments[k] = b->shipment_id[k];
    }
    char *literal[2] = {ev_pg_array_literal(ids, b->count),
                        ev_pg_array_literal(shipments, b->count)};
    int rc = literal[0] && literal[1] ? 0 : ev_fail(err, errlen, "out of memory");
    PGresult *r = rc == 0 ? ev_pg_query(tx,
                                        "INSERT INTO shipments (order_id, shipment_id)"
                                        " SELECT order_id, shipment_id"
                                        " FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY"
                                        " AS s(order_id, shipment_id, i) ORDER BY i"
                                        " ON CONFLICT (order_id) DO NOTHING"
                                        " RETURNING order_id::text",
                                        2, (const char *const *)literal, err, errlen)
                          : NULL;
    if (rc == 0 && !r)
        rc = -1;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        long k = shipment_batch_find(b->tries, b->count, PQgetvalue(r, row, 0));
        if (k < 0)
            rc = ev_fail(err, errlen, "shipment of order %s unexpected", PQgetvalue(r, row, 0));
        else
            b->tries[k].created = true;
    }
    PQclear(r);
    free(literal[0]);
    free(literal[1]);
    free(ids);
    free(shipments);
    return rc;
}

/* The ShipmentCreated of each created shipment, in the batch's order, built as handle builds
 * it under its cause's own trace context; then all of them written to the outbox in one
 * statement, and logged as handle logs them (one line each, under the same span). */
static int emit_shipments(PGconn *tx, shipment_batch *b, const ev_delivery *ds, size_t n, char *err,
                          size_t errlen)
{
    /* the try of each creating event, in the batch's order */
    size_t *try_of = calloc(n, sizeof *try_of);
    if (!try_of)
        return ev_fail(err, errlen, "out of memory");
    for (size_t k = 0; k < b->count; k++)
        try_of[b->tries[k].event] = k;
    shipment_batch_creators(b->tries, b->count, n, b->creates);
    ev_outbox_rows rows = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!b->creates[i])
            continue;
        const ev_delivery *d = &ds[i];
        json_t *payload = json_pack("{s:s, s:s, s:s}", "orderId", b->order_ids[i], "shipmentId",
                                    b->shipment_id[try_of[i]], "status", "CREATED");
        if (d->span)
            ev_span_enter(d->span);
        rc = ev_outbox_rows_emit(&rows, SERVICE, d->event, "ShipmentCreated", 1, payload, err,
                                 errlen);
        if (d->span)
            ev_span_leave(d->span);
    }
    if (rc == 0)
        rc = ev_outbox_rows_write(tx, &rows, err, errlen);
    ev_outbox_rows_free(&rows);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!b->creates[i])
            continue;
        if (ds[i].span)
            ev_span_enter(ds[i].span);
        ev_log(EV_LOG_INFO, ds[i].event->correlation_id, ds[i].event->event_id,
               "order %s: shipment %s created", b->order_ids[i], b->shipment_id[try_of[i]]);
        if (ds[i].span)
            ev_span_leave(ds[i].span);
    }
    free(try_of);
    return rc;
}

/* A fetched batch as a set: one shipment tried per confirmed order (its first OrderConfirmed
 * of the batch) in one statement, the ShipmentCreated of those created in one more. The rows
 * are handle's for the same events. Anything unusual gives up (EV_RETRY): the worker then
 * hands the events to handle. */
static ev_outcome handle_batch(ev_batch *batch, void *user)
{
    (void)user;
    char err[512];
    shipment_batch b = {0};
    int rc = shipment_batch_make(&b, batch->deliveries, batch->n, err, sizeof err);
    if (rc == 0 && b.count > 0) {
        rc = insert_shipments(batch->tx, &b, err, sizeof err);
        if (rc == 0)
            rc = emit_shipments(batch->tx, &b, batch->deliveries, batch->n, err, sizeof err);
    }
    shipment_batch_free(&b);
    if (rc != 0) {
        ev_fail(batch->reason, sizeof batch->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

static void get_shipment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_reply_by_id(user, req, resp, "orderId",
                           "SELECT json_build_object('orderId', order_id, 'shipmentId',"
                           " shipment_id, 'status', status, 'createdAt', created_at)::text"
                           " FROM shipments WHERE order_id = $1",
                           "shipment for order");
}

int main(void)
{
    static ev_service s;
    char err[512];
    if (ev_service_open(&s, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    ev_worker worker = ev_service_worker(&s, handle, NULL);
    worker.handle_batch = handle_batch;
    int rc = 1;
    if (ev_http_route(s.http, "GET", "/shipments/:orderId", get_shipment, &s) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
