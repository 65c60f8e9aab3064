/* Inventory service: owns products and stock. Reserves every line of an OrderPlaced or none
 * (InventoryReserved | OutOfStock), releases a held reservation on OrderCancelled
 * (InventoryReleased), commits it on OrderConfirmed, and never reserves for an order whose
 * cancel came first. Its API creates and changes products (PUT /products/{sku} →
 * ProductUpserted on catalog.events) and receives or writes off stock
 * (POST /products/{sku}/stock-adjustments → StockAdjusted), both behind the admin token;
 * GET /products, GET /products/{sku} and GET /inventory read. A fetched batch of order events
 * is handled as a set (handle_batch: one statement locks its reservations, one its stock rows,
 * stock_fold decides in delivery order, one writes both back, one the outbox rows). */
#include "product.h"
#include "reservation.h"
#include "stock_fold.h"

#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "inventory"

/* Outcome of a failed statement inside a handler: retry, with the database's reason. */
static ev_outcome db_retry(ev_delivery *d, const char *err)
{
    ev_fail(d->reason, sizeof d->reason, "%s", err);
    return EV_RETRY;
}

/* The reservation status of an order, locked for this transaction; "" when none. */
static int reservation_status(PGconn *tx, const char *order_id, char *status, size_t n, char *err,
                              size_t errlen)
{
    const char *params[] = {order_id};
    PGresult *r = ev_pg_query(tx, "SELECT status FROM reservations WHERE order_id = $1 FOR UPDATE",
                              1, params, err, errlen);
    if (!r)
        return -1;
    ev_strlcpy(status, PQntuples(r) ? PQgetvalue(r, 0, 0) : "", n);
    PQclear(r);
    return 0;
}

/* Locks the stock rows of set (in SKU order) and reads their availability. */
static int lock_stock(PGconn *tx, const line_set *set, int *available, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->count; i++) {
        const char *params[] = {set->lines[i].sku};
        PGresult *r = ev_pg_query(tx, "SELECT available FROM stock WHERE sku = $1 FOR UPDATE", 1,
                                  params, err, errlen);
        if (!r)
            return -1;
        available[i] = PQntuples(r) ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
    }
    return 0;
}

/* Moves units between available and reserved: sign +1 reserves, -1 releases. */
static int move_stock(PGconn *tx, const line_set *set, int sign, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->count; i++) {
        char delta[16];
        snprintf(delta, sizeof delta, "%d", sign * set->lines[i].quantity);
        const char *params[] = {set->lines[i].sku, delta};
        if (ev_pg_exec(tx,
                       "UPDATE stock SET available = available - $2::int,"
                       " reserved = reserved + $2::int WHERE sku = $1",
                       2, params, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int record(PGconn *tx, const char *order_id, const char *reservation_id, const char *status,
                  json_t *items, const char *reason, char *err, size_t errlen)
{
    char *items_text = json_dumps(items, JSON_COMPACT);
    const char *params[] = {order_id, reservation_id, status, items_text ? items_text : "[]",
                            reason};
    int rc = ev_pg_exec(tx,
                        "INSERT INTO reservations (order_id, reservation_id, status, items, reason)"
                        " VALUES ($1, $2, $3, $4::jsonb, $5)",
                        5, params, err, errlen);
    free(items_text);
    return rc;
}

static ev_outcome on_order_placed(ev_delivery *d, const char *order_id)
{
    char err[512], status[16], reason[256] = "", reservation_id[EV_UUID_LEN];
    line_set set;
    int available[RESERVATION_MAX_LINES];
    if (line_set_from_items(json_object_get(d->event->payload, "items"), &set) != 0) {
        ev_fail(d->reason, sizeof d->reason, "malformed items");
        return EV_REJECT;
    }
    if (reservation_status(d->tx, order_id, status, sizeof status, err, sizeof err) != 0)
        return db_retry(d, err);
    if (status[0]) /* decided before, or cancelled before it was placed */
        return EV_HANDLED;
    if (lock_stock(d->tx, &set, available, err, sizeof err) != 0)
        return db_retry(d, err);

    ev_uuid_new(reservation_id);
    json_t *items = line_set_json(&set);
    bool ok = reservation_decide(&set, available, reason, sizeof reason);
    int rc;
    if (ok) {
        rc = move_stock(d->tx, &set, +1, err, sizeof err) ||
             record(d->tx, order_id, reservation_id, "HELD", items, NULL, err, sizeof err) ||
             ev_emit(d->tx, SERVICE, d->event, "InventoryReserved", 2,
                     json_pack("{s:s, s:s, s:O}", "orderId", order_id, "reservationId",
                               reservation_id, "items", items),
                     err, sizeof err);
    } else {
        rc = record(d->tx, order_id, reservation_id, "REJECTED", items, reason, err, sizeof err) ||
             ev_emit(d->tx, SERVICE, d->event, "OutOfStock", 1,
                     json_pack("{s:s, s:s}", "orderId", order_id, "reason", reason), err,
                     sizeof err);
    }
    json_decref(items);
    if (rc != 0)
        return db_retry(d, err);
    ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id, "order %s: %s%s%s", order_id,
           ok ? "reserved" : "out of stock", ok ? "" : ": ", reason);
    return EV_HANDLED;
}

static ev_outcome on_order_cancelled(ev_delivery *d, const char *order_id)
{
    char err[512], status[16];
    if (reservation_status(d->tx, order_id, status, sizeof status, err, sizeof err) != 0)
        return db_retry(d, err);
    if (!status[0]) { /* cancel before placement: make sure we never reserve later */
        char reservation_id[EV_UUID_LEN];
        ev_uuid_new(reservation_id);
        json_t *none = json_array();
        int rc = record(d->tx, order_id, reservation_id, "VOID", none, "cancelled before placed",
                        err, sizeof err);
        json_decref(none);
        return rc ? db_retry(d, err) : EV_HANDLED;
    }
    if (strcmp(status, "HELD") != 0)
        return EV_HANDLED; /* nothing held: already released, rejected or void */

    const char *params[] = {order_id};
    PGresult *r = ev_pg_query(d->tx,
                              "UPDATE reservations SET status = 'RELEASED', updated_at = now()"
                              " WHERE order_id = $1 RETURNING reservation_id, items::text",
                              1, params, err, sizeof err);
    if (!r)
        return db_retry(d, err);
    json_t *items = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
    line_set set;
    int rc = (!items || line_set_from_items(items, &set) != 0)
                 ? ev_fail(err, sizeof err, "stored items unreadable")
                 : move_stock(d->tx, &set, -1, err, sizeof err);
    if (rc == 0)
        rc = ev_emit(d->tx, SERVICE, d->event, "InventoryReleased", 1,
                     json_pack("{s:s, s:s, s:O}", "orderId", order_id, "reservationId",
                               PQgetvalue(r, 0, 0), "items", items),
                     err, sizeof err);
    PQclear(r);
    json_decref(items);
    if (rc != 0)
        return db_retry(d, err);
    ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id, "order %s: released",
           order_id);
    return EV_HANDLED;
}

static ev_outcome on_order_confirmed(ev_delivery *d, const char *order_id)
{
    char err[512];
    const char *params[] = {order_id};
    if (ev_pg_exec(d->tx,
                   "UPDATE reservations SET status = 'COMMITTED', updated_at = now()"
                   " WHERE order_id = $1 AND status = 'HELD'",
                   1, params, err, sizeof err) != 0)
        return db_retry(d, err);
    return EV_HANDLED;
}

static ev_outcome handle(ev_delivery *d, void *user)
{
    (void)user;
    const char *type = d->event->event_type;
    const char *order_id = json_string_value(json_object_get(d->event->payload, "orderId"));
    if (strcmp(type, "OrderPlaced") == 0)
        return on_order_placed(d, order_id);
    if (strcmp(type, "OrderCancelled") == 0)
        return on_order_cancelled(d, order_id);
    if (strcmp(type, "OrderConfirmed") == 0)
        return on_order_confirmed(d, order_id);
    return EV_HANDLED;
}

/* --- a fetched batch as a set ------------------------------------------------------------- */

/* A fetched batch's order events, folded over their reservations and stock (stock_fold.h).
 * Arrays of n events, or of count orders. */
typedef struct {
    stock_fold_event *events;
    const ev_delivery **delivery; /* events[i]'s */
    line_set *lines;              /* events[i]'s items when it is a placement */
    stock_fold_order *orders;     /* count of them, sorted by order id */
    size_t *order_of;
    stock_fold_step *steps;
    line_set *stored;   /* orders[k]'s stored items, read when it is HELD and cancelled */
    char **stored_text; /* the same as stored, owned (emitted as stored, as handle does) */
    char (*reservation_id)[EV_UUID_LEN]; /* orders[k]'s, stored or new */
    stock_fold_sku *skus;                /* sku_count of them, in strcmp order */
    size_t n, count, sku_count;
} stock_batch;

static void stock_batch_free(stock_batch *b)
{
    for (size_t k = 0; b->stored_text && k < b->count; k++)
        free(b->stored_text[k]);
    free(b->events);
    free(b->delivery);
    free(b->lines);
    free(b->orders);
    free(b->order_of);
    free(b->steps);
    free(b->stored);
    free(b->stored_text);
    free(b->reservation_id);
    free(b->skus);
}

static int fold_kind_of(const char *type)
{
    return strcmp(type, "OrderPlaced") == 0      ? STOCK_FOLD_PLACED
           : strcmp(type, "OrderCancelled") == 0 ? STOCK_FOLD_CANCELLED
           : strcmp(type, "OrderConfirmed") == 0 ? STOCK_FOLD_CONFIRMED
                                                 : -1;
}

/* The order events among the deliveries (others are skipped, as handle skips them), collected
 * by order into b (zeroed by the caller, who frees it with stock_batch_free whatever this
 * returns). -1 with err when one names no order, a placement's items are malformed (handle
 * rejects it) or out of memory. */
static int stock_batch_make(stock_batch *b, const ev_delivery *ds, size_t n, char *err,
                            size_t errlen)
{
    size_t room = n ? n : 1;
    b->events = calloc(room, sizeof *b->events);
    b->delivery = calloc(room, sizeof(const ev_delivery *));
    b->lines = malloc(room * sizeof *b->lines);
    b->orders = calloc(room, sizeof *b->orders);
    b->order_of = calloc(room, sizeof *b->order_of);
    b->steps = calloc(room, sizeof *b->steps);
    b->stored = malloc(room * sizeof *b->stored);
    b->stored_text = calloc(room, sizeof *b->stored_text);
    b->reservation_id = calloc(room, sizeof *b->reservation_id);
    if (!b->events || !b->delivery || !b->lines || !b->orders || !b->order_of || !b->steps ||
        !b->stored || !b->stored_text || !b->reservation_id)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        int kind = fold_kind_of(e->event_type);
        if (kind < 0)
            continue;
        const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
        if (!order_id)
            return ev_fail(err, errlen, "%s %s names no order", e->event_type, e->event_id);
        const line_set *lines = NULL;
        if (kind == STOCK_FOLD_PLACED) {
            if (line_set_from_items(json_object_get(e->payload, "items"), &b->lines[b->n]) != 0)
                return ev_fail(err, errlen, "%s %s: malformed items", e->event_type, e->event_id);
            lines = &b->lines[b->n];
        }
        b->delivery[b->n] = &ds[i];
        b->events[b->n++] =
            (stock_fold_event){.order_id = order_id, .kind = (stock_fold_kind)kind, .lines = lines};
    }
    size_t count = 0; /* through a local: the analyzer would forget b's pointers otherwise */
    if (stock_fold_collect(b->events, b->n, b->orders, b->order_of, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    return 0;
}

/* A stored HELD reservation of an order cancelled in the batch: its items, read as
 * on_order_cancelled reads them. */
static int keep_stored_items(stock_batch *b, size_t k, const char *text, char *err, size_t errlen)
{
    json_t *items = json_loads(text, 0, NULL);
    int rc = items ? line_set_from_items(items, &b->stored[k]) : -1;
    json_decref(items);
    if (rc != 0)
        return ev_fail(err, errlen, "order %s: stored items unreadable", b->orders[k].order_id);
    if (!(b->stored_text[k] = strdup(text)))
        return ev_fail(err, errlen, "out of memory");
    b->orders[k].items = &b->stored[k];
    return 0;
}

/* Locks the reservations of every order of the batch in one statement, in order id order
 * (an order not placed yet has none), and sets their stored status, id and needed items. */
static int lock_reservations(PGconn *tx, stock_batch *b, char *err, size_t errlen)
{
    const char **ids = calloc(b->count ? b->count : 1, sizeof *ids);
    if (!ids)
        return ev_fail(err, errlen, "out of memory");
    for (size_t k = 0; k < b->count; k++)
        ids[k] = b->orders[k].order_id;
    const char *const *columns[] = {ids};
    PGresult *r =
        ev_pg_query_arrays(tx,
                           "SELECT order_id::text, reservation_id::text, status, items::text"
                           " FROM reservations WHERE order_id = ANY($1::uuid[])"
                           " ORDER BY order_id FOR UPDATE",
                           columns, &b->count, 1, NULL, err, errlen);
    int rc = r ? 0 : -1;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        long k = stock_fold_find_order(b->orders, b->count, PQgetvalue(r, row, 0));
        int status = reservation_state_parse(PQgetvalue(r, row, 2));
        if (k < 0 || status < 0 || b->orders[k].stored != RESERVATION_NONE ||
            !ev_strlcpy(b->reservation_id[k], PQgetvalue(r, row, 1), EV_UUID_LEN)) {
            rc = ev_fail(err, errlen, "reservation of %s unexpected in status %s",
                         PQgetvalue(r, row, 0), PQgetvalue(r, row, 2));
            break;
        }
        stock_fold_order *o = &b->orders[k];
        o->stored = o->status = (reservation_state)status;
        if (o->stored == RESERVATION_HELD && o->cancelled)
            rc = keep_stored_items(b, (size_t)k, PQgetvalue(r, row, 3), err, errlen);
    }
    PQclear(r);
    free(ids);
    return rc;
}

/* Locks the stock rows the batch reserves or may release in one statement, in the SKU order
 * every path locks them in (strcmp's, so "C" collation), and reads their availability. */
static int lock_skus(PGconn *tx, stock_batch *b, char *err, size_t errlen)
{
    size_t count = 0;
    b->skus = stock_fold_skus(b->events, b->n, b->orders, b->count, &count);
    if (!b->skus)
        return ev_fail(err, errlen, "out of memory");
    b->sku_count = count;
    if (count == 0)
        return 0;
    const char **skus = calloc(count, sizeof *skus);
    if (!skus)
        return ev_fail(err, errlen, "out of memory");
    for (size_t j = 0; j < count; j++)
        skus[j] = b->skus[j].sku;
    const char *const *columns[] = {skus};
    PGresult *r = ev_pg_query_arrays(tx,
                                     "SELECT sku, available FROM stock WHERE sku = ANY($1::text[])"
                                     " ORDER BY sku COLLATE \"C\" FOR UPDATE",
                                     columns, &count, 1, NULL, err, errlen);
    int rc = r ? 0 : -1;
    for (int row = 0; r && row < PQntuples(r); row++) {
        long j = stock_fold_find_sku(b->skus, count, PQgetvalue(r, row, 0));
        if (j >= 0)
            b->skus[j].available = (int)strtol(PQgetvalue(r, row, 1), NULL, 10);
    }
    PQclear(r);
    free(skus);
    return rc;
}

/* The rows a reservation the batch creates records: its items as handle records them. */
static char *row_items(const stock_fold_order *o)
{
    json_t *items = o->items ? line_set_json(o->items) : json_array();
    char *text = items ? json_dumps(items, JSON_COMPACT) : NULL;
    json_decref(items);
    return text;
}

/* Writes the fold back in one statement: the reservations the batch created (as their last
 * event left them), the stored ones it changed (status and updated_at, as handle's updates),
 * and each SKU's net move between available and reserved. */
static int store_batch(PGconn *tx, stock_batch *b, char *err, size_t errlen)
{
    size_t rows = b->count > b->sku_count ? b->count : b->sku_count;
    const char **cells = calloc(9 * (rows ? rows : 1), sizeof *cells);
    char **texts = calloc(2 * (rows ? rows : 1), sizeof *texts); /* items and units, owned */
    if (!cells || !texts) {
        free(cells);
        free(texts);
        return ev_fail(err, errlen, "out of memory");
    }
    const char **n_id = cells, **n_rid = cells + rows, **n_status = cells + 2 * rows,
               **n_items = cells + 3 * rows, **n_reason = cells + 4 * rows,
               **c_id = cells + 5 * rows, **c_status = cells + 6 * rows, **m_sku = cells + 7 * rows,
               **m_units = cells + 8 * rows;
    size_t created = 0, changed = 0, moved = 0;
    int rc = 0;
    for (size_t k = 0; k < b->count && rc == 0; k++) {
        stock_fold_order *o = &b->orders[k];
        if (o->stored == RESERVATION_NONE && o->status != RESERVATION_NONE) {
            ev_uuid_new(b->reservation_id[k]);
            n_id[created] = o->order_id;
            n_rid[created] = b->reservation_id[k];
            n_status[created] = reservation_state_name(o->status);
            n_reason[created] = o->reason;
            if (!(n_items[created] = texts[k] = row_items(o)))
                rc = ev_fail(err, errlen, "out of memory");
            created++;
        } else if (o->status != o->stored) {
            c_id[changed] = o->order_id;
            c_status[changed++] = reservation_state_name(o->status);
        }
    }
    for (size_t j = 0; j < b->sku_count && rc == 0; j++) {
        if (b->skus[j].reserved == 0)
            continue;
        char units[16];
        snprintf(units, sizeof units, "%d", b->skus[j].reserved);
        m_sku[moved] = b->skus[j].sku;
        if (!(m_units[moved++] = texts[rows + j] = strdup(units)))
            rc = ev_fail(err, errlen, "out of memory");
    }
    const char *const *columns[] = {n_id, n_rid,    n_status, n_items, n_reason,
                                    c_id, c_status, m_sku,    m_units};
    const size_t counts[] = {created, created, created, created, created,
                             changed, changed, moved,   moved};
    PGresult *r =
        rc == 0 && created + changed + moved > 0
            ? ev_pg_query_arrays(
                  tx,
                  "WITH created AS (INSERT INTO reservations"
                  "                 (order_id, reservation_id, status, items, reason)"
                  "                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[],"
                  "                                      $4::jsonb[], $5::text[]) RETURNING 1),"
                  " changed AS (UPDATE reservations r SET status = c.status, updated_at = now()"
                  "             FROM unnest($6::uuid[], $7::text[]) AS c(order_id, status)"
                  "             WHERE r.order_id = c.order_id RETURNING 1),"
                  " moved AS (UPDATE stock s SET available = s.available - m.units,"
                  "           reserved = s.reserved + m.units"
                  "           FROM unnest($8::text[], $9::int[]) AS m(sku, units)"
                  "           WHERE s.sku = m.sku RETURNING 1)"
                  " SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM changed),"
                  "        (SELECT count(*) FROM moved)",
                  columns, counts, 9, NULL, err, errlen)
            : NULL;
    if (rc == 0 && created + changed + moved > 0) {
        if (!r)
            rc = -1;
        else if (strtoul(PQgetvalue(r, 0, 0), NULL, 10) != created ||
                 strtoul(PQgetvalue(r, 0, 1), NULL, 10) != changed ||
                 strtoul(PQgetvalue(r, 0, 2), NULL, 10) != moved)
            rc = ev_fail(err, errlen, "stored %s of %zu new, %s of %zu changed, %s of %zu moved",
                         PQgetvalue(r, 0, 0), created, PQgetvalue(r, 0, 1), changed,
                         PQgetvalue(r, 0, 2), moved);
    }
    PQclear(r);
    for (size_t t = 0; t < 2 * rows; t++)
        free(texts[t]);
    free(texts);
    free(cells);
    return rc;
}

/* Event i's outbox row as handle builds it, or NULL payload when its step emits nothing. */
static json_t *step_payload(const stock_batch *b, size_t i, const char **type, int *version)
{
    size_t k = b->order_of[i];
    const stock_fold_order *o = &b->orders[k];
    const char *order_id = b->events[i].order_id;
    const stock_fold_step *s = &b->steps[i];
    *version = 1;
    switch (s->kind) {
    case STOCK_STEP_RESERVED:
        *type = "InventoryReserved";
        *version = 2;
        return json_pack("{s:s, s:s, s:o}", "orderId", order_id, "reservationId",
                         b->reservation_id[k], "items", line_set_json(b->events[i].lines));
    case STOCK_STEP_OUT_OF_STOCK:
        *type = "OutOfStock";
        return json_pack("{s:s, s:s}", "orderId", order_id, "reason", s->reason);
    case STOCK_STEP_RELEASED:
        *type = "InventoryReleased";
        return json_pack(
            "{s:s, s:s, s:o}", "orderId", order_id, "reservationId", b->reservation_id[k], "items",
            b->stored_text[k] ? json_loads(b->stored_text[k], 0, NULL) : line_set_json(o->items));
    default:
        return NULL;
    }
}

/* Each event of the batch the fold made speak, in its order, built as handle builds it under
 * its cause's own trace context; then all of them written to the outbox in one statement. */
static int emit_batch(PGconn *tx, const stock_batch *b, char *err, size_t errlen)
{
    ev_outbox_rows rows = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const char *type = NULL;
        int version = 1;
        json_t *payload = step_payload(b, i, &type, &version);
        if (!type)
            continue;
        if (!payload) {
            rc = ev_fail(err, errlen, "out of memory");
            break;
        }
        const ev_delivery *d = b->delivery[i];
        if (d->span)
            ev_span_enter(d->span);
        rc = ev_outbox_rows_emit(&rows, SERVICE, d->event, type, version, payload, err, errlen);
        if (d->span)
            ev_span_leave(d->span);
    }
    if (rc == 0)
        rc = ev_outbox_rows_write(tx, &rows, err, errlen);
    ev_outbox_rows_free(&rows);
    return rc;
}

/* The log lines handle writes for the same events. */
static void log_batch(const stock_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const stock_fold_step *s = &b->steps[i];
        const ev_envelope *e = b->delivery[i]->event;
        const char *order_id = b->events[i].order_id;
        if (s->kind == STOCK_STEP_RESERVED || s->kind == STOCK_STEP_OUT_OF_STOCK)
            ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: %s%s%s", order_id,
                   s->kind == STOCK_STEP_RESERVED ? "reserved" : "out of stock",
                   s->kind == STOCK_STEP_RESERVED ? "" : ": ",
                   s->kind == STOCK_STEP_RESERVED ? "" : s->reason);
        else if (s->kind == STOCK_STEP_RELEASED)
            ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: released", order_id);
    }
}

/* A fetched batch as a set: every reservation of the batch locked in one statement, every
 * stock row it reserves or releases in another, the events folded over them in C in delivery
 * order (stock_fold_apply, with reservation_decide), the reservations and stock written back in
 * one statement, then the events' outbox rows in one. The rows are handle's for the same
 * events. Anything unusual gives up (EV_RETRY): the worker then hands the events to handle. */
static ev_outcome handle_batch(ev_batch *batch, void *user)
{
    (void)user;
    char err[512];
    stock_batch b = {0};
    int rc = stock_batch_make(&b, batch->deliveries, batch->n, err, sizeof err);
    if (rc == 0 && b.n > 0) {
        rc = lock_reservations(batch->tx, &b, err, sizeof err);
        if (rc == 0)
            rc = lock_skus(batch->tx, &b, err, sizeof err);
        if (rc == 0) {
            stock_fold_apply(b.orders, b.skus, b.sku_count, b.events, b.n, b.order_of, b.steps);
            rc = store_batch(batch->tx, &b, err, sizeof err);
        }
        if (rc == 0)
            rc = emit_batch(batch->tx, &b, err, sizeof err);
        if (rc == 0)
            log_batch(&b);
    }
    stock_batch_free(&b);
    if (rc != 0) {
        ev_fail(batch->reason, sizeof batch->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

static void read_stock(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                       void *user)
{
    (void)req;
    (void)user;
    ev_service_reply_sql_json(c, resp,
                              "SELECT coalesce(json_agg(json_build_object('sku', sku, 'available',"
                              " available, 'reserved', reserved, 'initial', initial)"
                              " ORDER BY sku), '[]')::text FROM stock",
                              0, NULL, NULL);
}

static void get_inventory(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_with_conn(user, req, resp, read_stock, NULL);
}

/* --- products and stock ------------------------------------------------------------------ */

#define PRODUCT_JSON                                                                               \
    "json_build_object('sku', p.sku, 'name', p.name, 'priceCents', p.price_cents,"                 \
    " 'currency', p.currency, 'revision', p.revision, 'available', coalesce(s.available, 0),"      \
    " 'reserved', coalesce(s.reserved, 0), 'onHand', coalesce(s.initial, 0),"                      \
    " 'updatedAt', p.updated_at)"

/* Catalog and stock events are about one SKU, not one order: keyed (and ordered) by SKU. */
static int emit_for_sku(PGconn *tx, const char *correlation_id, const char *type, const char *sku,
                        json_t *payload, char *err, size_t errlen)
{
    ev_envelope e;
    if (ev_envelope_init(&e, type, 1, SERVICE, correlation_id, payload) != 0)
        return ev_fail(err, errlen, "cannot build %s", type);
    int rc = ev_outbox_add(tx, ev_topic_of(type), sku, &e, NULL, err, errlen);
    ev_envelope_clear(&e);
    return rc;
}

/* Creates or changes a product inside tx, with its (empty) stock row, and emits
 * ProductUpserted with the next revision. Returns 1 when it changed (*created: it is new),
 * 0 when the product already was exactly this, -1 on error. */
static int upsert_product(PGconn *tx, const char *correlation_id, const char *sku,
                          const product_input *in, bool *created, char *err, size_t errlen)
{
    char price[24];
    snprintf(price, sizeof price, "%lld", (long long)in->price_cents);
    const char *params[] = {sku, in->name, price, in->currency};
    PGresult *r = ev_pg_query(
        tx,
        "INSERT INTO products AS p (sku, name, price_cents, currency, revision)"
        " VALUES ($1, $2, $3, $4, 1) ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name,"
        " price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency,"
        " revision = p.revision + 1, updated_at = now()"
        " WHERE (p.name, p.price_cents, p.currency)"
        "       IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.price_cents, EXCLUDED.currency)"
        " RETURNING revision, xmax = 0",
        4, params, err, errlen);
    *created = false;
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    json_int_t revision = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *created = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (ev_pg_exec(tx,
                   "INSERT INTO stock (sku, available, reserved, initial) VALUES ($1, 0, 0, 0)"
                   " ON CONFLICT (sku) DO NOTHING",
                   1, params, err, errlen) != 0 ||
        emit_for_sku(tx, correlation_id, "ProductUpserted", sku,
                     json_pack("{s:s, s:s, s:I, s:s, s:I}", "sku", sku, "name", in->name,
                               "priceCents", (json_int_t)in->price_cents, "currency", in->currency,
                               "revision", revision),
                     err, errlen) != 0)
        return -1;
    return 1;
}

/* Locks the stock row of sku and reads it. Returns 1, 0 when there is none, -1 on error. */
static int lock_level(PGconn *tx, const char *sku, stock_level *level, char *err, size_t errlen)
{
    const char *params[] = {sku};
    PGresult *r =
        ev_pg_query(tx, "SELECT initial, available, reserved FROM stock WHERE sku = $1 FOR UPDATE",
                    1, params, err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        *level = (stock_level){(int)strtol(PQgetvalue(r, 0, 0), NULL, 10),
                               (int)strtol(PQgetvalue(r, 0, 1), NULL, 10),
                               (int)strtol(PQgetvalue(r, 0, 2), NULL, 10)};
    PQclear(r);
    return found;
}

/* Records an adjustment decided by adjustment_decide inside tx, moves the stock unless
 * `counted` (an opening balance already in the row), and emits StockAdjusted. */
static int apply_adjustment(PGconn *tx, const char *correlation_id, const char *sku,
                            const adjustment_input *in, const char *key, const char *fingerprint,
                            bool counted, char adjustment_id[EV_UUID_LEN], char *err, size_t errlen)
{
    char delta[16];
    snprintf(delta, sizeof delta, "%d", in->delta);
    ev_uuid_new(adjustment_id);
    const char *move[] = {sku, delta};
    const char *row[] = {
        adjustment_id, sku, delta, in->reason, key, fingerprint, counted ? "false" : "true"};
    if ((!counted && ev_pg_exec(tx,
                                "UPDATE stock SET available = available + $2::int,"
                                " initial = initial + $2::int WHERE sku = $1",
                                2, move, err, errlen) != 0) ||
        ev_pg_exec(tx,
                   "INSERT INTO stock_adjustments (adjustment_id, sku, delta, reason,"
                   " idempotency_key, request, applied) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   7, row, err, errlen) != 0)
        return -1;
    return emit_for_sku(tx, correlation_id, "StockAdjusted", sku,
                        json_pack("{s:s, s:s, s:i, s:s}", "sku", sku, "adjustmentId", adjustment_id,
                                  "delta", in->delta, "reason", in->reason),
                        err, errlen);
}

/* Ends a failed transaction: rolls back and answers 503 (the reason goes to the log). */
static void fail_tx(PGconn *c, struct _u_response *resp, const char *what, const char *err)
{
    char ignored[128];
    ev_pg_exec(c, "ROLLBACK", 0, NULL, ignored, sizeof ignored);
    ev_error("%s: %s", what, err);
    ev_http_reply_error(resp, 503, "unavailable", "the change could not be stored; retry");
}

static void reply_error(struct _u_response *resp, const product_error *e)
{
    ev_http_reply_error(resp, (unsigned)e->status, e->code, "%s", e->message);
}

/* Answers status with the first column of sql's first row (JSON text), 404 when none. */
static void reply_row(PGconn *c, struct _u_response *resp, unsigned status, const char *sql,
                      const char *param, const char *missing)
{
    char err[512];
    const char *params[] = {param};
    PGresult *r = ev_pg_query(c, sql, 1, params, err, sizeof err);
    if (!r) {
        ev_error("query failed: %s", err);
        ev_http_reply_error(resp, 503, "unavailable", "database unavailable");
    } else if (PQntuples(r) == 0) {
        ev_http_reply_error(resp, 404, "not_found", "no %s %s", missing, param);
    } else {
        u_map_put(resp->map_header, "Content-Type", "application/json");
        ulfius_set_string_body_response(resp, status, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
}

static void reply_product(PGconn *c, struct _u_response *resp, unsigned status, const char *sku)
{
    reply_row(c, resp, status,
              "SELECT " PRODUCT_JSON "::text FROM products p LEFT JOIN stock s USING (sku)"
              " WHERE p.sku = $1",
              sku, "product");
}

static void reply_adjustment(PGconn *c, struct _u_response *resp, unsigned status, const char *id)
{
    reply_row(c, resp, status,
              "SELECT json_build_object('adjustmentId', a.adjustment_id, 'sku', a.sku,"
              " 'delta', a.delta, 'reason', a.reason, 'createdAt', a.created_at,"
              " 'available', s.available, 'reserved', s.reserved, 'onHand', s.initial)::text"
              " FROM stock_adjustments a JOIN stock s USING (sku) WHERE a.adjustment_id = $1",
              id, "adjustment");
}

/* The correlation id of an admin request: X-Correlation-Id when it is a UUID, else new. */
static bool request_correlation(const struct _u_request *req, struct _u_response *resp,
                                char out[EV_UUID_LEN])
{
    const char *cid = ev_http_header(req, "X-Correlation-Id");
    if (cid && !ev_uuid_valid(cid)) {
        ev_http_reply_error(resp, 400, "invalid_correlation_id", "X-Correlation-Id must be a UUID");
        return false;
    }
    if (cid)
        ev_strlcpy(out, cid, EV_UUID_LEN);
    else
        ev_uuid_new(out);
    return true;
}

typedef struct {
    const char *sku;
    product_input in;
    char correlation_id[EV_UUID_LEN];
} put_input;

static void put_product_tx(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                           void *user)
{
    (void)req;
    put_input *p = user;
    char err[512];
    bool created = false;
    int changed = -1;
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err) != 0 ||
        (changed =
             upsert_product(c, p->correlation_id, p->sku, &p->in, &created, err, sizeof err)) < 0 ||
        ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) != 0) {
        fail_tx(c, resp, "upserting a product", err);
        return;
    }
    if (changed)
        ev_log(EV_LOG_INFO, p->correlation_id, NULL, "product %s %s", p->sku,
               created ? "created" : "changed");
    reply_product(c, resp, created ? 201 : 200, p->sku);
}

static void put_product(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service *s = user;
    put_input p = {.sku = u_map_get(req->map_url, "sku")};
    product_error perr;
    if (!ev_admin_authorize(&s->admin, req, resp))
        return;
    if (product_check_sku(p.sku, &perr) != 0) {
        reply_error(resp, &perr);
        return;
    }
    if (!request_correlation(req, resp, p.correlation_id))
        return;
    json_t *body = ev_http_json_body(s->http, req, resp);
    if (!body)
        return;
    if (product_parse(body, &p.in, &perr) != 0)
        reply_error(resp, &perr);
    else
        ev_service_with_conn(s, req, resp, put_product_tx, &p);
    json_decref(body);
}

typedef struct {
    const char *sku;
    const char *key; /* Idempotency-Key or NULL */
    adjustment_input in;
    char *fingerprint;
    char correlation_id[EV_UUID_LEN];
} adjust_input;

/* With an Idempotency-Key: the adjustment it made before, under a lock on the key so a
 * concurrent retry waits for the first. Returns 1 and answers when it was used, 0 when
 * new, -1 on error. */
static int replay_adjustment(PGconn *c, struct _u_response *resp, const adjust_input *a, char *err,
                             size_t errlen)
{
    const char *params[] = {a->key};
    if (ev_pg_exec(c, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, params, err, errlen) != 0)
        return -1;
    PGresult *r = ev_pg_query(c,
                              "SELECT adjustment_id, request FROM stock_adjustments"
                              " WHERE idempotency_key = $1",
                              1, params, err, errlen);
    if (!r)
        return -1;
    int used = PQntuples(r) == 1;
    if (used) {
        ev_pg_exec(c, "ROLLBACK", 0, NULL, err, errlen);
        if (strcmp(PQgetvalue(r, 0, 1), a->fingerprint) != 0) {
            ev_http_reply_error(resp, 422, "idempotency_key_reused",
                                "this Idempotency-Key was used for a different adjustment");
        } else {
            u_map_put(resp->map_header, "Idempotent-Replayed", "true");
            reply_adjustment(c, resp, 200, PQgetvalue(r, 0, 0));
        }
    }
    PQclear(r);
    return used;
}

static void adjust_tx(PGconn *c, const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    adjust_input *a = user;
    char err[512], adjustment_id[EV_UUID_LEN];
    stock_level level = {0};
    product_error perr;
    const char *params[] = {a->sku};
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err) != 0) {
        fail_tx(c, resp, "adjusting stock", err);
        return;
    }
    int used = a->key ? replay_adjustment(c, resp, a, err, sizeof err) : 0;
    if (used != 0) {
        if (used < 0)
            fail_tx(c, resp, "adjusting stock", err);
        return;
    }
    PGresult *r =
        ev_pg_query(c, "SELECT 1 FROM products WHERE sku = $1", 1, params, err, sizeof err);
    int product = r ? PQntuples(r) : -1;
    PQclear(r);
    int found = product > 0 ? lock_level(c, a->sku, &level, err, sizeof err) : 0;
    if (product < 0 || found < 0) {
        fail_tx(c, resp, "adjusting stock", err);
        return;
    }
    if (product == 0 || found == 0) {
        ev_pg_exec(c, "ROLLBACK", 0, NULL, err, sizeof err);
        ev_http_reply_error(resp, 404, "unknown_product",
                            "no product %s: create it first with PUT /products/%s", a->sku, a->sku);
        return;
    }
    if (adjustment_decide(&level, a->in.delta, a->sku, &perr) != 0) {
        ev_pg_exec(c, "ROLLBACK", 0, NULL, err, sizeof err);
        reply_error(resp, &perr);
        return;
    }
    if (apply_adjustment(c, a->correlation_id, a->sku, &a->in, a->key, a->fingerprint, false,
                         adjustment_id, err, sizeof err) != 0 ||
        ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) != 0) {
        fail_tx(c, resp, "adjusting stock", err);
        return;
    }
    ev_log(EV_LOG_INFO, a->correlation_id, NULL, "stock of %s adjusted by %d: %s", a->sku,
           a->in.delta, a->in.reason);
    reply_adjustment(c, resp, 201, adjustment_id);
}

static bool valid_idempotency_key(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return false;
    return true;
}

static void post_adjustment(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service *s = user;
    adjust_input a = {.sku = u_map_get(req->map_url, "sku"),
                      .key = ev_http_header(req, "Idempotency-Key")};
    product_error perr;
    if (!ev_admin_authorize(&s->admin, req, resp))
        return;
    if (product_check_sku(a.sku, &perr) != 0) {
        reply_error(resp, &perr);
        return;
    }
    if (a.key && !valid_idempotency_key(a.key)) {
        ev_http_reply_error(resp, 400, "invalid_idempotency_key",
                            "Idempotency-Key must be 1 to 128 visible ASCII characters");
        return;
    }
    if (!request_correlation(req, resp, a.correlation_id))
        return;
    json_t *body = ev_http_json_body(s->http, req, resp);
    if (!body)
        return;
    if (adjustment_parse(body, &a.in, &perr) != 0)
        reply_error(resp, &perr);
    else if (!(a.fingerprint = adjustment_fingerprint(a.sku, &a.in)))
        ev_http_reply_error(resp, 500, "internal", "out of memory");
    else
        ev_service_with_conn(s, req, resp, adjust_tx, &a);
    free(a.fingerprint);
    json_decref(body);
}

static void read_products(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                          void *user)
{
    (void)req;
    (void)user;
    ev_service_reply_sql_json(c, resp,
                              "SELECT coalesce(json_agg(" PRODUCT_JSON
                              " ORDER BY p.sku), '[]')::text"
                              " FROM products p LEFT JOIN stock s USING (sku)",
                              0, NULL, NULL);
}

static void get_products(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_with_conn(user, req, resp, read_products, NULL);
}

static void read_product(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                         void *user)
{
    (void)user;
    reply_product(c, resp, 200, u_map_get(req->map_url, "sku"));
}

static void get_product(const struct _u_request *req, struct _u_response *resp, void *user)
{
    product_error perr;
    if (product_check_sku(u_map_get(req->map_url, "sku"), &perr) != 0)
        reply_error(resp, &perr);
    else
        ev_service_with_conn(user, req, resp, read_product, NULL);
}

/* --- seed products ------------------------------------------------------------------------ */

/* One seed entry {sku, name, priceCents, currency, stock}: created like PUT /products and
 * received like a stock adjustment. A stock row from before products were events keeps its
 * count; its opening balance is published without being applied again. */
static int seed_one(PGconn *tx, const char *correlation_id, const json_t *entry, char *err,
                    size_t errlen)
{
    const char *sku = json_string_value(json_object_get(entry, "sku"));
    product_input in;
    product_error perr;
    int units;
    if (seed_entry_parse(entry, &in, &units, &perr) != 0)
        return ev_fail(err, errlen, "seed product %s: %s", sku ? sku : "without sku", perr.message);
    bool created;
    stock_level level = {0};
    char adjustment_id[EV_UUID_LEN];
    if (upsert_product(tx, correlation_id, sku, &in, &created, err, errlen) < 0 ||
        lock_level(tx, sku, &level, err, errlen) < 0)
        return -1;
    bool counted = level.on_hand > 0;
    adjustment_input receipt = {.delta = counted ? level.on_hand : units};
    snprintf(receipt.reason, sizeof receipt.reason, "%s",
             counted ? "opening balance (stock counted before stock moved by events)"
                     : "initial stock");
    if (receipt.delta == 0)
        return 0;
    char *fingerprint = adjustment_fingerprint(sku, &receipt);
    int rc = apply_adjustment(tx, correlation_id, sku, &receipt, NULL,
                              fingerprint ? fingerprint : "", counted, adjustment_id, err, errlen);
    free(fingerprint);
    return rc;
}

/* Creates the seed products (EVENTIFY_SEED_CATALOG, a JSON file; "none" for no seed) at the
 * first start: only while the catalog is empty, in one transaction, under a lock so two
 * starting instances seed once. */
static int seed_catalog(ev_service *s, char *err, size_t errlen)
{
    char path[1024];
    if (ev_env_str(ev_getenv, "EVENTIFY_SEED_CATALOG", EVENTIFY_DEFAULT_SEED_FILE, path,
                   sizeof path, err, errlen) != 0)
        return -1;
    if (strcmp(path, "none") == 0)
        return 0;
    json_error_t jerr;
    json_t *seed = json_load_file(path, 0, &jerr);
    if (!json_is_array(seed)) {
        json_decref(seed);
        return ev_fail(err, errlen, "EVENTIFY_SEED_CATALOG=%s: %s", path,
                       seed ? "not a JSON array" : jerr.text);
    }
    PGconn *c = ev_pg_pool_acquire(s->pool, err, errlen);
    PGresult *r = NULL;
    int rc = -1;
    char correlation_id[EV_UUID_LEN];
    ev_uuid_new(correlation_id);
    if (c && ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen) == 0 &&
        ev_pg_exec(c, "SELECT pg_advisory_xact_lock(8083)", 0, NULL, err, errlen) == 0 &&
        (r = ev_pg_query(c, "SELECT count(*) FROM products", 0, NULL, err, errlen))) {
        bool empty = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
        size_t i;
        json_t *entry;
        rc = 0;
        json_array_foreach(seed, i, entry)
        {
            if (empty && rc == 0)
                rc = seed_one(c, correlation_id, entry, err, errlen);
        }
        if (rc == 0)
            rc = ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen);
        if (rc == 0 && empty)
            ev_info("seeded %zu products from %s", json_array_size(seed), path);
    }
    PQclear(r);
    if (c)
        ev_pg_pool_release(s->pool, c); /* a connection left in a transaction is closed */
    json_decref(seed);
    return rc;
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
    if (seed_catalog(&s, err, sizeof err) != 0)
        ev_error("cannot seed the catalog: %s", err);
    else if (ev_http_route(s.http, "GET", "/inventory", get_inventory, &s) ||
             ev_http_route(s.http, "GET", "/products", get_products, &s) ||
             ev_http_route(s.http, "GET", "/products/:sku", get_product, &s) ||
             ev_http_route(s.http, "PUT", "/products/:sku", put_product, &s) ||
             ev_http_route(s.http, "POST", "/products/:sku/stock-adjustments", post_adjustment, &s))
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
