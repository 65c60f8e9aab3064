/* Payment service: charges an OrderPlaced through the simulated gateway (PaymentSucceeded |
 * PaymentFailed), refunds a charge on OrderCancelled (PaymentRefunded), and never charges an
 * order whose cancel came first. GET /payments/{orderId}. */
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
    int rc = 1;
    if (ev_http_route(ps.base.http, "GET", "/payments/:orderId", get_payment, &ps) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&ps.base, &worker, true) == 0 ? 0 : 1;
    ev_service_close(&ps.base);
    return rc;
}
