/* Inventory service: reserves every line of an OrderPlaced or none (InventoryReserved |
 * OutOfStock), releases a held reservation on OrderCancelled (InventoryReleased), commits
 * it on OrderConfirmed, and never reserves for an order whose cancel came first.
 * GET /inventory shows available and reserved units per SKU. */
#include "reservation.h"

#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"

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

int main(void)
{
    static ev_service s;
    char err[512];
    if (ev_service_open(&s, SERVICE, 8083, "inventory", EVENTIFY_DEFAULT_MIGRATIONS_DIR, err,
                        sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    static const char *const topics[] = {EV_TOPIC_ORDERS, EV_TOPIC_LIFECYCLE};
    ev_worker worker = {.config = &s.config,
                        .topics = topics,
                        .topic_count = 2,
                        .handler = handle,
                        .producer = s.producer,
                        .metrics = s.metrics};
    int rc = 1;
    if (ev_http_route(s.http, "GET", "/inventory", get_inventory, &s) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
