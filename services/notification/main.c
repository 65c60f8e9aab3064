/* Notification service: a mock e-mail for each confirmation, cancellation (with its reason)
 * and shipment, rendered from a template (templates.c) and stored once per event. A fetched
 * batch is handled as a set (handle_batch: one statement learns the batch's customers and
 * reads the stored ones, mail_batch renders, one statement stores every e-mail), with the
 * rows handle writes event by event. An e-mail is stored whole or not at all: one that cannot
 * be rendered (out of memory) is retried, never cut. GET /notifications?orderId= lists them. */
#include "mail_batch.h"
#include "templates.h"

#include "ev/events.h"
#include "ev/log.h"
#include "ev/service.h"
#include "ev/trace.h"

#include <stdlib.h>
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

    char err[512];
    const char *key[] = {order_id};
    PGresult *r = ev_pg_query(d->tx, "SELECT customer_id FROM order_customers WHERE order_id = $1",
                              1, key, err, sizeof err);
    if (!r) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    email mail = {0}; /* owns its strings once rendered: freed below */
    email_result rendered =
        render_email(e->event_type, order_id, PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL,
                     json_string_value(json_object_get(p, "reason")),
                     json_string_value(json_object_get(p, "shipmentId")), &mail);
    PQclear(r); /* the e-mail holds its own copy of the customer */
    if (rendered == EMAIL_NONE)
        return EV_HANDLED;
    if (rendered == EMAIL_FAILED) { /* never a cut e-mail: retried, dead-lettered at last */
        ev_fail(d->reason, sizeof d->reason, "cannot render the %s e-mail: out of memory",
                e->event_type);
        return EV_RETRY;
    }
    const char *params[] = {order_id,       e->event_id,  e->event_type,
                            mail.recipient, mail.subject, mail.body};
    ev_outcome outcome = EV_HANDLED;
    if (ev_pg_exec(d->tx,
                   "INSERT INTO notifications (order_id, event_id, event_type, recipient, subject,"
                   " body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
                   6, params, err, sizeof err) != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        outcome = EV_RETRY;
    } else {
        ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "sent e-mail to %s: %s", mail.recipient,
               mail.subject);
    }
    email_free(&mail);
    return outcome;
}

/* A fetched batch's events, folded over their orders (mail_batch.h). Arrays of n. */
typedef struct {
    mail_event *events;
    const ev_delivery **delivery; /* events[i]'s */
    mail_order *orders;           /* count of them, sorted by order id */
    size_t *order_of;
    email *mail; /* mail[i]: events[i]'s e-mail, when sends[i]; owned, freed by mail_batch_free */
    bool *sends;
    PGresult *stored; /* the stored customers orders[k].stored_customer points into */
    size_t n, count;
} mail_batch;

static void mail_batch_free(mail_batch *b)
{
    for (size_t i = 0; b->mail && i < b->n; i++)
        email_free(&b->mail[i]); /* a zeroed one (not rendered) is left alone */
    free(b->events);
    free(b->delivery);
    free(b->orders);
    free(b->order_of);
    free(b->mail);
    free(b->sends);
    PQclear(b->stored);
}

/* The deliveries collected by order into b (zeroed by the caller, who frees it with
 * mail_batch_free whatever this returns). -1 with err, for the per-event path to handle,
 * when an event names no order, an OrderPlaced no customer, or out of memory. */
static int mail_batch_make(mail_batch *b, const ev_delivery *ds, size_t n, char *err, size_t errlen)
{
    size_t room = n ? n : 1;
    b->events = calloc(room, sizeof *b->events);
    b->delivery = calloc(room, sizeof(const ev_delivery *));
    b->orders = calloc(room, sizeof *b->orders);
    b->order_of = calloc(room, sizeof *b->order_of);
    b->mail = calloc(room, sizeof *b->mail);
    b->sends = calloc(room, sizeof *b->sends);
    if (!b->events || !b->delivery || !b->orders || !b->order_of || !b->mail || !b->sends)
        return ev_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const ev_envelope *e = ds[i].event;
        const json_t *p = e->payload;
        mail_event m = {.event_type = e->event_type,
                        .order_id = json_string_value(json_object_get(p, "orderId")),
                        .reason = json_string_value(json_object_get(p, "reason")),
                        .shipment_id = json_string_value(json_object_get(p, "shipmentId"))};
        if (!m.order_id)
            return ev_fail(err, errlen, "%s %s names no order", e->event_type, e->event_id);
        if (strcmp(e->event_type, "OrderPlaced") == 0 &&
            !(m.customer_id = json_string_value(json_object_get(p, "customerId"))))
            return ev_fail(err, errlen, "OrderPlaced %s names no customer", e->event_id);
        b->delivery[i] = &ds[i];
        b->events[i] = m;
    }
    b->n = n;
    size_t count = 0; /* through a local: the analyzer would forget b's pointers otherwise */
    if (mail_batch_collect(b->events, n, b->orders, b->order_of, &count) != 0)
        return ev_fail(err, errlen, "out of memory");
    b->count = count;
    return 0;
}

/* One statement: stores the customers the batch's OrderPlaced events name (the first of each
 * order; a customer stored before stays, as remember_customer leaves it) and reads the
 * customers stored before the batch for all its orders. The read cannot see the insert beside
 * it (one snapshot), which is what mail_batch needs: whether a customer was known before the
 * batch, since within it an e-mail sees only the OrderPlaced events that came before it. */
static int learn_customers(PGconn *tx, mail_batch *b, char *err, size_t errlen)
{
    const char **ids = calloc(b->count ? b->count : 1, sizeof *ids);
    const char **customers = calloc(b->count ? b->count : 1, sizeof *customers);
    if (!ids || !customers) {
        free(ids);
        free(customers);
        return ev_fail(err, errlen, "out of memory");
    }
    for (size_t k = 0; k < b->count; k++) {
        ids[k] = b->orders[k].order_id;
        long placed = b->orders[k].placed;
        customers[k] = placed >= 0 ? b->events[placed].customer_id : NULL;
    }
    const char *const *columns[] = {ids, customers};
    PGresult *r =
        ev_pg_query_arrays(tx,
                           "WITH b AS (SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY"
                           "           AS b(order_id, customer_id, i)),"
                           " learnt AS (INSERT INTO order_customers (order_id, customer_id)"
                           "            SELECT order_id, customer_id FROM b"
                           "            WHERE customer_id IS NOT NULL ORDER BY i"
                           "            ON CONFLICT (order_id) DO NOTHING)"
                           " SELECT c.order_id::text, c.customer_id FROM order_customers c"
                           " JOIN b ON b.order_id = c.order_id",
                           columns, (const size_t[]){b->count, b->count}, 2, NULL, err, errlen);
    free(ids);
    free(customers);
    if (!r)
        return -1;
    b->stored = r;
    for (int row = 0; row < PQntuples(r); row++) {
        long k = mail_batch_find(b->orders, b->count, PQgetvalue(r, row, 0));
        if (k < 0)
            return ev_fail(err, errlen, "customer of order %s unexpected", PQgetvalue(r, row, 0));
        b->orders[k].stored = true;
        b->orders[k].stored_customer = PQgetvalue(r, row, 1);
    }
    return 0;
}

/* The line handle logs for a sent e-mail, under the message's own span as there: one line per
 * e-mail keeps each findable by its order's correlation id and trace (it costs far less than
 * the statements the batch saves). */
static void log_sent(const ev_delivery *d, const email *mail)
{
    if (d->span)
        ev_span_enter(d->span);
    ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id, "sent e-mail to %s: %s",
           mail->recipient, mail->subject);
    if (d->span)
        ev_span_leave(d->span);
}

/* Renders every e-mail of the batch and stores them in one statement, in the batch's order,
 * each once (ON CONFLICT (event_id) as handle); then logs each as handle does. An e-mail that
 * cannot be rendered whole (out of memory) gives the batch up rather than store less. */
static int send_mail(PGconn *tx, mail_batch *b, char *err, size_t errlen)
{
    size_t rows = 0;
    for (size_t i = 0; i < b->n; i++) {
        email_result r = mail_batch_render(b->orders, b->events, b->order_of, i, &b->mail[i]);
        if (r == EMAIL_FAILED)
            return ev_fail(err, errlen, "cannot render the %s e-mail of %s: out of memory",
                           b->events[i].event_type, b->delivery[i]->event->event_id);
        if ((b->sends[i] = r == EMAIL_RENDERED))
            rows++;
    }
    if (rows == 0)
        return 0;
    const char **cells = calloc(6 * rows, sizeof *cells);
    if (!cells)
        return ev_fail(err, errlen, "out of memory");
    const char **order = cells, **event = cells + rows, **type = cells + 2 * rows,
               **recipient = cells + 3 * rows, **subject = cells + 4 * rows,
               **body = cells + 5 * rows;
    for (size_t i = 0, row = 0; i < b->n; i++) {
        if (!b->sends[i])
            continue;
        order[row] = b->events[i].order_id;
        event[row] = b->delivery[i]->event->event_id;
        type[row] = b->events[i].event_type;
        recipient[row] = b->mail[i].recipient;
        subject[row] = b->mail[i].subject;
        body[row++] = b->mail[i].body;
    }
    const char *const *columns[] = {order, event, type, recipient, subject, body};
    PGresult *r = ev_pg_query_arrays(
        tx,
        "INSERT INTO notifications (order_id, event_id, event_type, recipient, subject, body)"
        " SELECT order_id, event_id, event_type, recipient, subject, body"
        " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])"
        " WITH ORDINALITY AS m(order_id, event_id, event_type, recipient, subject, body, i)"
        " ORDER BY i ON CONFLICT (event_id) DO NOTHING",
        columns, (const size_t[]){rows, rows, rows, rows, rows, rows}, 6, NULL, err, errlen);
    free(cells);
    if (!r)
        return -1;
    PQclear(r);
    for (size_t i = 0; i < b->n; i++)
        if (b->sends[i])
            log_sent(b->delivery[i], &b->mail[i]);
    return 0;
}

/* A fetched batch as a set: the customers it names stored and those stored before read in
 * one statement, every e-mail rendered in C (mail_batch, templates.c) with the customer the
 * per-event path would find, all of them stored in one statement. The rows are handle's for
 * the same events. Anything unusual gives up (EV_RETRY): the worker then hands the events to
 * handle. */
static ev_outcome handle_batch(ev_batch *batch, void *user)
{
    (void)user;
    char err[512];
    mail_batch b = {0};
    int rc = mail_batch_make(&b, batch->deliveries, batch->n, err, sizeof err);
    if (rc == 0)
        rc = learn_customers(batch->tx, &b, err, sizeof err);
    if (rc == 0)
        rc = send_mail(batch->tx, &b, err, sizeof err);
    mail_batch_free(&b);
    if (rc != 0) {
        ev_fail(batch->reason, sizeof batch->reason, "%s", err);
        return EV_RETRY;
    }
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
    worker.handle_batch = handle_batch;
    int rc = 1;
    if (ev_http_route(s.http, "GET", "/notifications", list_notifications, &s) != 0)
        ev_error("cannot register routes");
    else
        rc = ev_service_run(&s, &worker, false) == 0 ? 0 : 1;
    ev_service_close(&s);
    return rc;
}
