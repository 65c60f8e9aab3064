/* Notification service: a mock e-mail for each confirmation, cancellation (with its reason)
 * and shipment, rendered from a template (templates.c) and stored once per event.
 * GET /notifications?orderId= lists them. */
#include "templates.h"

#include "ev/events.h"
#include "ev/log.h"
#include "ev/service.h"

#include <string.h>

#define SERVICE "notification"

static ev_outcome remember_customer(ev_delivery *d, const char *order_id)
{
    char err[512];
    const char *params[] = {order_id,
                            json_string_value(json_object_get(d->event->payload, "customerId"))};
    if (ev_pg_exec(d->tx,
                   "INSERT INTO order_customers (order_id, customer_id) VALUES ($1, $2)"
                   " ON CONFLICT (order_id) DO NOTHING",
                   2, params, err, sizeof err) != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

static ev_outcome handle(ev_delivery *d, void *user)
{
    (void)user;
    const ev_envelope *e = d->event;
    const json_t *p = e->payload;
    const char *order_id = json_string_value(json_object_get(p, "orderId"));
    if (strcmp(e->event_type, "OrderPlaced") == 0)
        return remember_customer(d, order_id);

    char err[512], customer[128] = "";
    const char *key[] = {order_id};
    PGresult *r = ev_pg_query(d->tx, "SELECT customer_id FROM order_customers WHERE order_id = $1",
                              1, key, err, sizeof err);
    if (!r) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    if (PQntuples(r))
        ev_strlcpy(customer, PQgetvalue(r, 0, 0), sizeof customer);
    PQclear(r);

    email mail;
    if (!render_email(e->event_type, order_id, customer,
                      json_string_value(json_object_get(p, "reason")),
                      json_string_value(json_object_get(p, "shipmentId")), &mail))
        return EV_HANDLED;
    const char *params[] = {order_id,       e->event_id,  e->event_type,
                            mail.recipient, mail.subject, mail.body};
    if (ev_pg_exec(d->tx,
                   "INSERT INTO notifications (order_id, event_id, event_type, recipient, subject,"
                   " body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
                   6, params, err, sizeof err) != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "sent e-mail to %s: %s", mail.recipient,
           mail.subject);
    return EV_HANDLED;
}

static void list_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    const char *order_id = u_map_get(req->map_url, "orderId");
    const char *params[] = {order_id};
    char err[512];
    PGresult *r = ev_pg_query(
        c,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'orderId', order_id,"
        " 'eventId', event_id, 'eventType', event_type, 'recipient', recipient,"
        " 'subject', subject, 'body', body, 'createdAt', created_at) ORDER BY id DESC), '[]')::text"
        " FROM (SELECT * FROM notifications WHERE ($1::uuid IS NULL OR order_id = $1::uuid)"
        "       ORDER BY id DESC LIMIT 200) n",
        1, params, err, sizeof err);
    if (!r) {
        ev_http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_string_body_response(resp, 200, PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void list_notifications(const struct _u_request *req, struct _u_response *resp, void *user)
{
    /* ?orderid= (a typo) must not silently answer every notification */
    static const char *const params[] = {"orderId", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    const char *order_id = u_map_get(req->map_url, "orderId");
    if (order_id && !ev_uuid_valid(order_id)) {
        ev_http_reply_error(resp, 400, "invalid_order_id", "orderId must be a UUID");
        return;
    }
    ev_service_with_conn(user, req, resp, list_sql, NULL);
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
    int rc = 1;
    if (ev_http_route(s.http, "GET", "/notifications", list_notifications, &s) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, false) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
