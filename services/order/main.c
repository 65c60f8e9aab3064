/* Order service: POST /orders and GET /orders/{id}; applies OrderConfirmed/OrderCancelled
 * from order.lifecycle.events to its own orders, and ProductUpserted from catalog.events to
 * its own `products` (the prices it charges; a copy in memory prices each order). The
 * order, its lines and the OrderPlaced outbox row are written by one SQL statement, hence
 * one transaction; the runtime's relay publishes the outbox. `--relay-only` runs just a
 * relay (a second publisher for tests). EVENTIFY_MODE=production refuses the demo controls
 * (forcePaymentFailed, forceException); the default, demo, carries them in OrderPlaced.
 * Under overload POST /orders answers 429 with Retry-After (admission.h, docs/overload.md):
 * the consumer thread measures the backlog age every second, the HTTP threads decide. */
#include "admission.h"
#include "order_request.h"
#include "product_cache.h"

#include "ev/events.h"
#include "ev/group.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"
#include "ev/trace.h"
#include "ev/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "order"
#define RELAY_STANDBY_POLL_MS 20
#define PRICES_REFRESH_MS 1000
/* The backlog is measured on the same tick as the prices; a measurement five ticks old
 * means the consumer thread is stuck (database away) and says nothing about the backlog. */
#define BACKLOG_STALE_MS ((int64_t)5 * PRICES_REFRESH_MS)

typedef struct {
    ev_service base;
    bool demo;              /* EVENTIFY_MODE: demo (default) accepts the demo controls */
    product_cache prices;   /* the products table in memory */
    json_t *pending_prices; /* prices changed by the open transaction; consumer thread only */
    admission_policy admission;
    long min_backlog; /* EVENTIFY_ADMISSION_MIN_BACKLOG: the rank of the order whose age counts */
    /* written by the consumer thread's tick, read by the HTTP threads; 0: never measured */
    atomic_llong backlog_measured_at_ms;
    atomic_llong backlog_age_ms;
} order_service;

/* --- products (catalog.events) ------------------------------------------------------------ */

/* Reads the whole products table into the cache. */
static int read_prices(order_service *os, PGconn *c, char *err, size_t errlen)
{
    PGresult *r =
        ev_pg_query(c, "SELECT sku, price_cents, currency FROM products", 0, NULL, err, errlen);
    int rc = r ? 0 : -1;
    for (int i = 0; r && rc == 0 && i < PQntuples(r); i++)
        if (product_cache_put(&os->prices, PQgetvalue(r, i, 0),
                              strtoll(PQgetvalue(r, i, 1), NULL, 10), PQgetvalue(r, i, 2)) != 0)
            rc = ev_fail(err, errlen, "cannot keep the price of %s", PQgetvalue(r, i, 0));
    PQclear(r);
    return rc;
}

static int load_prices(order_service *os, char *err, size_t errlen)
{
    PGconn *c = ev_pg_pool_acquire(os->base.pool, err, errlen);
    if (!c)
        return -1;
    int rc = read_prices(os, c, err, errlen);
    ev_pg_pool_release(os->base.pool, c);
    return rc;
}

/* With several instances each consumes only its share of catalog.events' partitions, so
 * another instance may have projected a product or price this one never saw: the shared
 * products table is the truth, read again every PRICES_REFRESH_MS on the consumer thread. */
static int refresh_prices(order_service *os, PGconn *c)
{
    char err[512];
    if (read_prices(os, c, err, sizeof err) != 0) {
        ev_warn("cannot refresh the prices: %s", err);
        return -1;
    }
    return 0;
}

/* --- the backlog (admission.h) ---------------------------------------------------------- */

/* The age of the min_backlog-th oldest PENDING order, 0 when there are fewer: one walk of
 * the partial index orders_pending_created over at most min_backlog entries, whatever the
 * size of the backlog. Every instance of the service measures the shared table. */
static int measure_backlog(order_service *os, PGconn *c)
{
    char err[512], offset[24];
    snprintf(offset, sizeof offset, "%ld", os->min_backlog - 1);
    const char *params[] = {offset};
    PGresult *r = ev_pg_query(c,
                              "SELECT coalesce((SELECT floor(extract(epoch FROM now() - created_at)"
                              " * 1000)::bigint FROM orders WHERE status = 'PENDING'"
                              " ORDER BY created_at OFFSET $1::bigint LIMIT 1), 0)",
                              1, params, err, sizeof err);
    if (!r) {
        ev_warn("cannot measure the backlog: %s", err);
        return -1;
    }
    long long age = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    atomic_store(&os->backlog_age_ms, age > 0 ? age : 0);
    atomic_store(&os->backlog_measured_at_ms, (long long)ev_monotonic_ms());
    ev_metrics_set(os->base.metrics, "order_backlog_age_ms", NULL, age > 0 ? age : 0);
    return 0;
}

static int tick(PGconn *c, void *user)
{
    order_service *os = user;
    int prices = refresh_prices(os, c);
    int backlog = os->admission.max_delay_ms > 0 ? measure_backlog(os, c) : 0;
    return prices == 0 && backlog == 0 ? 0 : -1;
}

static admission_verdict admission_now(order_service *os)
{
    long long at = atomic_load(&os->backlog_measured_at_ms);
    admission_signal s = {.measured = at > 0,
                          .measured_at_ms = at,
                          .backlog_age_ms = atomic_load(&os->backlog_age_ms)};
    return admission_decide(&os->admission, &s, ev_monotonic_ms());
}

/* ProductUpserted: keeps the newest revision of each product; an older one (a replay) is
 * skipped. The memory copy changes once the transaction committed (on_commit). */
static ev_outcome on_product(ev_delivery *d, order_service *os)
{
    const json_t *p = d->event->payload;
    char err[512], price[24], revision[24];
    snprintf(price, sizeof price, "%lld",
             (long long)json_integer_value(json_object_get(p, "priceCents")));
    snprintf(revision, sizeof revision, "%lld",
             (long long)json_integer_value(json_object_get(p, "revision")));
    const char *sku = json_string_value(json_object_get(p, "sku"));
    const char *currency = json_string_value(json_object_get(p, "currency"));
    const char *params[] = {sku, json_string_value(json_object_get(p, "name")), price, currency,
                            revision};
    PGresult *r = ev_pg_query(
        d->tx,
        "INSERT INTO products AS p (sku, name, price_cents, currency, revision)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name,"
        " price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency,"
        " revision = EXCLUDED.revision, updated_at = now() WHERE p.revision < EXCLUDED.revision"
        " RETURNING sku",
        5, params, err, sizeof err);
    if (!r) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    if (PQntuples(r) == 1) {
        json_array_append_new(os->pending_prices, json_pack("{s:s, s:s, s:s}", "sku", sku, "price",
                                                            price, "currency", currency));
        ev_log(EV_LOG_INFO, d->event->correlation_id, d->event->event_id,
               "product %s: %s cents %s (revision %s)", sku, price, currency, revision);
    }
    PQclear(r);
    return EV_HANDLED;
}

static void on_commit(void *user, bool committed)
{
    order_service *os = user;
    size_t i;
    json_t *change;
    json_array_foreach(os->pending_prices, i, change)
    {
        const char *sku = json_string_value(json_object_get(change, "sku"));
        if (committed && product_cache_put(
                             &os->prices, sku,
                             strtoll(json_string_value(json_object_get(change, "price")), NULL, 10),
                             json_string_value(json_object_get(change, "currency"))) != 0)
            ev_error("cannot keep the price of %s in memory", sku);
    }
    json_array_clear(os->pending_prices);
}

/* --- POST /orders ----------------------------------------------------------------------- */

/* The order's lines as three PostgreSQL array literals for insert_order_sql's unnest. Each
 * belongs to the caller (free_line_arrays), all NULL when out of memory. */
typedef struct {
    char *skus;
    char *quantities;
    char *prices;
} line_arrays;

static void free_line_arrays(line_arrays *a)
{
    free(a->skus);
    free(a->quantities);
    free(a->prices);
}

static int build_line_arrays(const order_request *req, line_arrays *a)
{
    const char *skus[ORDER_MAX_LINES], *quantities[ORDER_MAX_LINES], *prices[ORDER_MAX_LINES];
    char quantity_text[ORDER_MAX_LINES][16], price_text[ORDER_MAX_LINES][24];
    for (size_t i = 0; i < req->line_count; i++) {
        snprintf(quantity_text[i], sizeof quantity_text[i], "%d", req->lines[i].quantity);
        snprintf(price_text[i], sizeof price_text[i], "%lld",
                 (long long)req->lines[i].unit_price_cents);
        skus[i] = req->lines[i].sku;
        quantities[i] = quantity_text[i];
        prices[i] = price_text[i];
    }
    a->skus = ev_pg_array_literal(skus, req->line_count);
    a->quantities = ev_pg_array_literal(quantities, req->line_count);
    a->prices = ev_pg_array_literal(prices, req->line_count);
    if (a->skus && a->quantities && a->prices)
        return 0;
    free_line_arrays(a);
    *a = (line_arrays){0};
    return -1;
}

/* The whole write side of an order in one statement: one round trip, one transaction.
 * bench/order_tx.sql runs the same statement under pgbench. */
static const char insert_order_sql[] =
    "WITH o AS ("
    "  INSERT INTO orders (id, customer_id, total_cents, currency, correlation_id,"
    "                      idempotency_key, request)"
    "  VALUES ($1, $2, $3, $4, $5, $6, $7)"
    "  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    "  RETURNING id"
    "), i AS ("
    "  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)"
    "  SELECT o.id, t.line, t.sku, t.quantity, t.price"
    "    FROM o, unnest($8::text[], $9::int[], $10::bigint[])"
    "            WITH ORDINALITY AS t(sku, quantity, price, line)"
    ")"
    "INSERT INTO outbox (aggregate_id, topic, event_id, event_type, message, traceparent)"
    "SELECT o.id, '" EV_TOPIC_ORDERS "', $11, 'OrderPlaced', $12, $13 FROM o";

typedef struct {
    const char *order_id;
    const char *status;
    const char *correlation_id;
    long long total_cents;
    const char *currency;
} placed;

static void reply_placed(struct _u_response *resp, const placed *p)
{
    u_map_put(resp->map_header, "X-Correlation-Id", p->correlation_id);
    ev_http_reply_json(resp, 201,
                       json_pack("{s:s, s:s, s:s, s:I, s:s}", "orderId", p->order_id, "status",
                                 p->status, "correlationId", p->correlation_id, "totalCents",
                                 (json_int_t)p->total_cents, "currency", p->currency));
}

/* A second POST with the same Idempotency-Key: answers with the order it created (or 422
 * when the key was used for another order) and returns 1; returns 0 without answering when
 * no order has the key and it need not exist (must_exist false). */
static int replay_idempotent(PGconn *c, const char *key, const char *fingerprint,
                             struct _u_response *resp, bool must_exist)
{
    char err[512];
    const char *params[] = {key};
    PGresult *r = ev_pg_query(c,
                              "SELECT id, status, correlation_id, total_cents, currency, request"
                              "  FROM orders WHERE idempotency_key = $1",
                              1, params, err, sizeof err);
    int answered = 1;
    if (!r) {
        ev_error("idempotent replay: %s", err);
        ev_http_reply_error(resp, 503, "unavailable", "the order could not be read; retry");
    } else if (PQntuples(r) != 1 && !must_exist) {
        answered = 0;
    } else if (PQntuples(r) != 1) {
        ev_error("idempotent replay: order vanished");
        ev_http_reply_error(resp, 500, "internal", "could not read the order for this key");
    } else if (strcmp(PQgetvalue(r, 0, 5), fingerprint) != 0) {
        ev_http_reply_error(resp, 422, "idempotency_key_reused",
                            "this Idempotency-Key was used for a different order");
    } else {
        u_map_put(resp->map_header, "Idempotent-Replayed", "true");
        placed p = {PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                    strtoll(PQgetvalue(r, 0, 3), NULL, 10), PQgetvalue(r, 0, 4)};
        reply_placed(resp, &p);
    }
    PQclear(r);
    return answered;
}

typedef struct {
    order_request req;
    const char *idempotency_key;
    char correlation_id[EV_UUID_LEN];
    int retry_after_s; /* set when admission refused the order */
} place_input;

static void reply_busy(struct _u_response *resp, int retry_after_s)
{
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", retry_after_s);
    u_map_put(resp->map_header, "Retry-After", seconds);
    ev_http_reply_error(resp, 429, "overloaded",
                        "the shop is busy: orders placed earlier are still waiting for their "
                        "outcome; try again in %d s",
                        retry_after_s);
}

/* Admission refused: a retry of an order already accepted still gets its original answer;
 * anything else is told when to come back. */
static void refuse_order(PGconn *c, const struct _u_request *http_req, struct _u_response *resp,
                         void *user)
{
    (void)http_req;
    place_input *in = user;
    char *fingerprint = order_request_fingerprint(&in->req);
    if (!fingerprint)
        ev_http_reply_error(resp, 500, "internal", "out of memory");
    else if (!replay_idempotent(c, in->idempotency_key, fingerprint, resp, false))
        reply_busy(resp, in->retry_after_s);
    free(fingerprint);
}

static void place_order(PGconn *c, const struct _u_request *http_req, struct _u_response *resp,
                        void *user)
{
    (void)http_req;
    place_input *in = user;
    char order_id[EV_UUID_LEN], total[24], traceparent[EV_TRACEPARENT_SIZE], err[512];
    ev_uuid_new(order_id);
    snprintf(total, sizeof total, "%lld", (long long)in->req.total_cents);
    /* The one statement that stores the order and its event: its span is the parent of the
     * relay's publish. The order id lets a person (and the UI) find the trace. */
    ev_span *span = ev_span_start("INSERT orders", EV_SPAN_CLIENT, ev_trace_current());
    ev_span_attr_str(span, "db.system.name", "postgresql");
    ev_span_attr_str(span, "db.namespace", "orders");
    ev_span_attr_str(span, "db.operation.name", "INSERT");
    ev_span_attr_str(span, "db.collection.name", "orders");
    ev_span_attr_str(span, "db.query.summary", "insert_order");
    ev_span_attr_str(span, "eventify.order.id", order_id);
    ev_span_attr_str(span, "eventify.correlation_id", in->correlation_id);
    ev_span_enter(span);
    ev_outbox_traceparent(in->correlation_id, traceparent);

    ev_envelope e;
    char *message = NULL, *fingerprint = order_request_fingerprint(&in->req);
    if (ev_envelope_init(&e, "OrderPlaced", 2, SERVICE, in->correlation_id,
                         order_placed_payload(&in->req, order_id)) == 0) {
        message = ev_envelope_serialize(&e);
    }
    line_arrays arrays = {0};
    if (!message || !fingerprint || build_line_arrays(&in->req, &arrays) != 0) {
        ev_http_reply_error(resp, 500, "internal", "out of memory");
        goto done;
    }
    const char *params[] = {order_id,           in->req.customer_id, total,       in->req.currency,
                            in->correlation_id, in->idempotency_key, fingerprint, arrays.skus,
                            arrays.quantities,  arrays.prices,       e.event_id,  message,
                            traceparent};
    PGresult *r = ev_pg_query(c, insert_order_sql, 13, params, err, sizeof err);
    if (!r) {
        ev_span_error(span, "the order could not be stored");
        ev_log(EV_LOG_ERROR, in->correlation_id, NULL, "placing order failed: %s", err);
        ev_http_reply_error(resp, 503, "unavailable", "the order could not be stored; retry");
    } else if (ev_pg_affected(r) == 0) {
        replay_idempotent(c, in->idempotency_key, fingerprint, resp, true);
    } else {
        ev_log(EV_LOG_INFO, in->correlation_id, e.event_id, "order %s placed", order_id);
        placed p = {order_id, "PENDING", in->correlation_id, in->req.total_cents, in->req.currency};
        reply_placed(resp, &p);
    }
    PQclear(r);
done:
    ev_span_end(span);
    ev_envelope_clear(&e);
    free(message);
    free(fingerprint);
    free_line_arrays(&arrays);
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

static void post_orders(const struct _u_request *req, struct _u_response *resp, void *user)
{
    order_service *os = user;
    place_input *in = calloc(1, sizeof *in);
    json_t *body = NULL;
    if (!in) {
        ev_http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    const char *cid = ev_http_header(req, "X-Correlation-Id");
    in->idempotency_key = ev_http_header(req, "Idempotency-Key");
    if (cid && !ev_uuid_valid(cid)) {
        ev_http_reply_error(resp, 400, "invalid_correlation_id", "X-Correlation-Id must be a UUID");
    } else if (in->idempotency_key && !valid_idempotency_key(in->idempotency_key)) {
        ev_http_reply_error(resp, 400, "invalid_idempotency_key",
                            "Idempotency-Key must be 1 to 128 visible ASCII characters");
    } else if ((body = ev_http_json_body(os->base.http, req, resp)) != NULL) {
        order_error verr;
        if (product_cache_price(&os->prices, body, os->demo, &in->req, &verr) != 0) {
            ev_http_reply_error(resp, (unsigned)verr.status, verr.code, "%s", verr.message);
        } else {
            /* Without one given, the correlation id is the trace id: one id to grep. */
            if (cid)
                ev_strlcpy(in->correlation_id, cid, sizeof in->correlation_id);
            else if (ev_trace_ctx_valid(ev_trace_current()))
                ev_trace_id_uuid(ev_trace_current(), in->correlation_id);
            else
                ev_uuid_new(in->correlation_id);
            admission_verdict v = admission_now(os);
            in->retry_after_s = v.retry_after_s;
            if (v.admit)
                ev_service_with_conn(&os->base, req, resp, place_order, in);
            else if (in->idempotency_key)
                ev_service_with_conn(&os->base, req, resp, refuse_order, in);
            else
                reply_busy(resp, v.retry_after_s);
        }
    }
    json_decref(body);
    free(in);
}

/* --- GET /orders/{id} --------------------------------------------------------------------- */

static void get_order(const struct _u_request *req, struct _u_response *resp, void *user)
{
    order_service *os = user;
    ev_service_reply_by_id(
        &os->base, req, resp, "id",
        "SELECT json_build_object('orderId', o.id, 'customerId', o.customer_id,"
        "  'status', o.status, 'totalCents', o.total_cents, 'currency', o.currency,"
        "  'correlationId', o.correlation_id, 'cancelReason', o.cancel_reason,"
        "  'createdAt', o.created_at, 'updatedAt', o.updated_at,"
        "  'items', (SELECT json_agg(json_build_object('sku', sku, 'quantity', quantity,"
        "            'unitPriceCents', unit_price_cents) ORDER BY line)"
        "            FROM order_items WHERE order_id = o.id))::text"
        "  FROM orders o WHERE o.id = $1",
        "order");
}

/* --- order.lifecycle.events ------------------------------------------------------------- */

static ev_outcome handle(ev_delivery *d, void *user)
{
    const ev_envelope *e = d->event;
    if (strcmp(e->event_type, "ProductUpserted") == 0)
        return on_product(d, user);
    const char *order_id = json_string_value(json_object_get(e->payload, "orderId"));
    const char *reason = json_string_value(json_object_get(e->payload, "reason"));
    char err[512];
    const char *params[] = {order_id, reason};
    int rc;
    if (strcmp(e->event_type, "OrderConfirmed") == 0)
        rc = ev_pg_exec(d->tx,
                        "UPDATE orders SET status = 'CONFIRMED', updated_at = now()"
                        " WHERE id = $1 AND status = 'PENDING'",
                        1, params, err, sizeof err);
    else if (strcmp(e->event_type, "OrderCancelled") == 0)
        rc = ev_pg_exec(d->tx,
                        "UPDATE orders SET status = 'CANCELLED', cancel_reason = $2,"
                        " updated_at = now() WHERE id = $1 AND status = 'PENDING'",
                        2, params, err, sizeof err);
    else
        return EV_HANDLED;
    if (rc != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    ev_log(EV_LOG_INFO, e->correlation_id, e->event_id, "order %s: %s", order_id, e->event_type);
    return EV_HANDLED;
}

/* The orchestrator's decisions of a fetched batch in one statement, as handle writes them one
 * by one: the first decision of a PENDING order wins, a cancellation keeps its reason. A
 * product change, or two decisions for one order (which handle would order), make the worker
 * replay the batch one by one. */
static const char *delivery_order_id(const void *items, size_t i)
{
    const ev_delivery *d = items;
    return json_string_value(json_object_get(d[i].event->payload, "orderId"));
}

static bool batch_is_plain_decisions(const ev_batch *b, char *why, size_t whylen)
{
    for (size_t i = 0; i < b->n; i++) {
        const char *type = b->deliveries[i].event->event_type;
        if (strcmp(type, "OrderConfirmed") != 0 && strcmp(type, "OrderCancelled") != 0) {
            ev_fail(why, whylen, "%s in the batch", type);
            return false;
        }
        if (!delivery_order_id(b->deliveries, i)) {
            ev_fail(why, whylen, "a decision without an order id");
            return false;
        }
    }
    return true;
}

static ev_outcome handle_batch(ev_batch *b, void *user)
{
    (void)user;
    size_t *group_of = malloc(b->n * sizeof *group_of), *first_of = malloc(b->n * sizeof *first_of);
    const char **ids = malloc(b->n * sizeof *ids), **statuses = malloc(b->n * sizeof *statuses),
               **reasons = malloc(b->n * sizeof *reasons);
    char *id_array = NULL, *status_array = NULL, *reason_array = NULL, err[512];
    ev_outcome outcome = EV_RETRY;
    if (!group_of || !first_of || !ids || !statuses || !reasons) {
        ev_fail(b->reason, sizeof b->reason, "out of memory");
        goto done;
    }
    if (!batch_is_plain_decisions(b, b->reason, sizeof b->reason))
        goto done;
    long groups = ev_group_by_key(b->deliveries, b->n, delivery_order_id, group_of, first_of);
    if (groups != (long)b->n) {
        ev_fail(b->reason, sizeof b->reason, "%s",
                groups < 0 ? "out of memory" : "two decisions for one order");
        goto done;
    }
    for (size_t i = 0; i < b->n; i++) {
        const ev_envelope *e = b->deliveries[i].event;
        ids[i] = delivery_order_id(b->deliveries, i);
        bool cancelled = strcmp(e->event_type, "OrderCancelled") == 0;
        statuses[i] = cancelled ? "CANCELLED" : "CONFIRMED";
        reasons[i] = cancelled ? json_string_value(json_object_get(e->payload, "reason")) : NULL;
    }
    id_array = ev_pg_array_literal(ids, b->n);
    status_array = ev_pg_array_literal(statuses, b->n);
    reason_array = ev_pg_array_literal(reasons, b->n);
    if (!id_array || !status_array || !reason_array) {
        ev_fail(b->reason, sizeof b->reason, "out of memory");
        goto done;
    }
    const char *params[] = {id_array, status_array, reason_array};
    if (ev_pg_exec(b->tx,
                   "UPDATE orders o SET status = d.status, updated_at = now(),"
                   " cancel_reason = CASE WHEN d.status = 'CANCELLED' THEN d.reason"
                   "                      ELSE o.cancel_reason END"
                   " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS d(id, status, reason)"
                   " WHERE o.id = d.id AND o.status = 'PENDING'",
                   3, params, err, sizeof err) != 0) {
        ev_fail(b->reason, sizeof b->reason, "%s", err);
        goto done;
    }
    for (size_t i = 0; i < b->n; i++)
        ev_log(EV_LOG_INFO, b->deliveries[i].event->correlation_id,
               b->deliveries[i].event->event_id, "order %s: %s", ids[i],
               b->deliveries[i].event->event_type);
    outcome = EV_HANDLED;
done:
    free(group_of);
    free(first_of);
    free(ids);
    free(statuses);
    free(reasons);
    free(id_array);
    free(status_array);
    free(reason_array);
    return outcome;
}

/* Refusing starts at a quarter of the saga deadline by default. The backlog age tells how
 * long the orders ahead have already waited, so it lags the wait of a new order while intake
 * outruns the saga: the margin covers that lag and the order's own steps (docs/overload.md). */
static int load_admission(order_service *os, char *err, size_t errlen)
{
    long saga_timeout_ms, max_delay_ms;
    if (ev_env_long(ev_getenv, "EVENTIFY_SAGA_TIMEOUT_MS", 30000, 100, 86400000L, &saga_timeout_ms,
                    err, errlen) != 0 ||
        ev_env_long(ev_getenv, "EVENTIFY_ADMISSION_MAX_DELAY_MS", saga_timeout_ms / 4, 0, 86400000L,
                    &max_delay_ms, err, errlen) != 0 ||
        ev_env_long(ev_getenv, "EVENTIFY_ADMISSION_MIN_BACKLOG", 50, 1, 1000000L, &os->min_backlog,
                    err, errlen) != 0)
        return -1;
    os->admission =
        (admission_policy){.max_delay_ms = max_delay_ms, .stale_after_ms = BACKLOG_STALE_MS};
    return 0;
}

int main(int argc, char **argv)
{
    bool relay_only = argc > 1 && strcmp(argv[1], "--relay-only") == 0;
    if (argc > 1 && !relay_only) {
        fprintf(stderr, "usage: %s [--relay-only]\n", argv[0]);
        return 2;
    }
    static order_service os;
    char err[512], mode[16];
    if (ev_env_str(ev_getenv, "EVENTIFY_MODE", "demo", mode, sizeof mode, err, sizeof err) != 0 ||
        (strcmp(mode, "demo") != 0 && strcmp(mode, "production") != 0)) {
        ev_error("EVENTIFY_MODE must be demo or production");
        return 1;
    }
    os.demo = strcmp(mode, "demo") == 0;
    if (load_admission(&os, err, sizeof err) != 0) {
        ev_error("bad configuration: %s", err);
        return 1;
    }
    if (product_cache_init(&os.prices) != 0 || !(os.pending_prices = json_array())) {
        ev_error("out of memory");
        return 1;
    }
    if (ev_service_open(&os.base, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    int rc = 1;
    if (!relay_only && load_prices(&os, err, sizeof err) != 0) {
        ev_error("cannot load the prices: %s", err);
    } else if (!relay_only && (ev_http_route(os.base.http, "POST", "/orders", post_orders, &os) ||
                               ev_http_route(os.base.http, "GET", "/orders/:id", get_order, &os))) {
        ev_error("cannot register routes");
    } else {
        ev_worker worker = ev_service_worker(&os.base, handle, &os);
        worker.handle_batch = handle_batch;
        worker.on_commit = on_commit;
        worker.tick = tick;
        worker.tick_ms = PRICES_REFRESH_MS;
        /* a relay alone has no writer in its process to wake it: it polls (a standby that
         * takes over rows the service's own relay has not locked) */
        if (relay_only)
            os.base.relay_idle_poll_ms = RELAY_STANDBY_POLL_MS;
        rc = ev_service_run(&os.base, relay_only ? NULL : &worker, true) == 0 ? 0 : 1;
    }
    ev_service_close(&os.base);
    product_cache_free(&os.prices);
    json_decref(os.pending_prices);
    return rc;
}
