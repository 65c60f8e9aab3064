/* Query API over the projections, plus Kafka's own state (topics, consumer groups, DLQs)
 * for the UI's Events page; see api.h. Handlers read; only the DLQ replay writes (to Kafka). */
#include "api.h"
#include "project.h"

#include "ev/dlq.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFSETS_TIMEOUT_MS 3000

static const char *const event_topics[] = {"orders.events",
                                           "inventory.events",
                                           "payments.events",
                                           "order.lifecycle.events",
                                           "shipping.events",
                                           "catalog.events",
                                           NULL};

/* Consumer groups and what they read (SPEC.md), for lag. */
static const struct {
    const char *group;
    const char *topics[7];
} groups[] = {
    {"order", {"order.lifecycle.events", "catalog.events"}},
    {"orchestrator", {"orders.events", "inventory.events", "payments.events"}},
    {"inventory", {"orders.events", "order.lifecycle.events"}},
    {"payment", {"orders.events", "order.lifecycle.events"}},
    {"shipping", {"order.lifecycle.events"}},
    {"read-model",
     {"orders.events", "inventory.events", "payments.events", "order.lifecycle.events",
      "shipping.events", "catalog.events"}},
    {"notification", {"order.lifecycle.events", "shipping.events"}},
};

/* --- orders ------------------------------------------------------------------------------ */

typedef struct {
    const char *status, *customer;
    char limit[16], offset[16], page[16], page_size[16];
} list_query;

static void list_orders_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                            void *user)
{
    (void)req;
    list_query *q = user;
    const char *params[] = {q->status, q->customer, q->limit, q->offset, q->page, q->page_size};
    ev_service_reply_sql_json(
        c, resp,
        "SELECT json_build_object('items', coalesce((SELECT json_agg(item) FROM ("
        "   SELECT " ORDER_ITEM_JSON " AS item FROM rm_orders"
        "    WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR customer_id = $2)"
        "    ORDER BY created_at DESC, order_id LIMIT $3::int OFFSET $4::int) x), '[]'),"
        " 'page', $5::int, 'pageSize', $6::int,"
        " 'total', (SELECT count(*) FROM rm_orders WHERE ($1::text IS NULL OR status = $1)"
        "           AND ($2::text IS NULL OR customer_id = $2)))::text",
        6, params, NULL);
}

static void list_orders(const struct _u_request *req, struct _u_response *resp, void *user)
{
    list_query q = {.status = u_map_get(req->map_url, "status"),
                    .customer = u_map_get(req->map_url, "customerId")};
    long page, size;
    if (ev_http_query_long(req, "page", 1, 1, 1000000, &page) ||
        ev_http_query_long(req, "pageSize", 20, 1, 100, &size)) {
        ev_http_reply_error(resp, 400, "invalid_paging", "page >= 1 and 1 <= pageSize <= 100");
        return;
    }
    if (q.status && *q.status && strcmp(q.status, "PENDING") != 0 &&
        strcmp(q.status, "CONFIRMED") != 0 && strcmp(q.status, "CANCELLED") != 0) {
        ev_http_reply_error(resp, 400, "invalid_status",
                            "status must be PENDING, CONFIRMED or CANCELLED");
        return;
    }
    if (q.status && !*q.status)
        q.status = NULL;
    if (q.customer && !*q.customer)
        q.customer = NULL;
    snprintf(q.limit, sizeof q.limit, "%ld", size);
    snprintf(q.offset, sizeof q.offset, "%ld", (page - 1) * size);
    snprintf(q.page, sizeof q.page, "%ld", page);
    snprintf(q.page_size, sizeof q.page_size, "%ld", size);
    ev_service_with_conn(user, req, resp, list_orders_sql, &q);
}

static void order_detail(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_reply_by_id(
        user, req, resp, "id",
        "SELECT json_build_object('order', json_build_object('orderId', o.order_id,"
        "  'customerId', o.customer_id, 'status', o.status, 'shipped', o.shipped,"
        "  'totalCents', o.total_cents, 'currency', o.currency, 'createdAt', o.created_at,"
        "  'updatedAt', o.updated_at, 'cancelReason', o.cancel_reason, 'items', o.items,"
        "  'correlationId', o.correlation_id,"
        "  'steps', json_build_object('placed', o.step_placed, 'inventory', o.step_inventory,"
        "    'payment', o.step_payment, 'decision', o.step_decision, 'shipment', o.step_shipment)),"
        " 'timeline', coalesce((SELECT json_agg(json_build_object('eventId', t.event_id,"
        "    'eventType', t.event_type, 'version', t.version, 'producer', t.producer,"
        "    'occurredAt', t.occurred_at, 'correlationId', t.correlation_id, 'topic', t.topic,"
        "    'partition', t.partition, 'offset', t.\"offset\", 'payload', t.payload)"
        "    ORDER BY t.occurred_at, t.topic, t.\"offset\") FROM rm_timeline t"
        "    WHERE t.order_id = o.order_id), '[]'),"
        " 'shipment', (SELECT json_build_object('shipmentId', s.shipment_id, 'status', s.status,"
        "    'createdAt', s.created_at) FROM rm_shipments s WHERE s.order_id = o.order_id))::text"
        " FROM rm_orders o WHERE o.order_id = $1",
        "projection (yet) of order");
}

static void catalog_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                        void *user)
{
    (void)req;
    (void)user;
    ev_service_reply_sql_json(c, resp,
                              "SELECT coalesce(json_agg(" PRODUCT_ITEM_JSON " ORDER BY s.sku),"
                              " '[]')::text FROM rm_stock s WHERE s.name IS NOT NULL",
                              0, NULL, NULL);
}

static void catalog(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service_with_conn(user, req, resp, catalog_sql, NULL);
}

static void product_history_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                                void *user)
{
    (void)user;
    const char *params[] = {u_map_get(req->map_url, "sku")};
    ev_service_reply_sql_json(
        c, resp,
        "SELECT json_build_object('product', " PRODUCT_ITEM_JSON ","
        " 'prices', coalesce((SELECT json_agg(json_build_object('name', h.name,"
        "   'priceCents', h.price_cents, 'currency', h.currency, 'revision', h.revision,"
        "   'occurredAt', h.occurred_at) ORDER BY h.revision DESC, h.occurred_at DESC)"
        "   FROM rm_price_history h"
        "   WHERE h.sku = s.sku), '[]'),"
        " 'movements', coalesce((SELECT json_agg(x.m ORDER BY x.occurred_at DESC, x.event_id)"
        "   FROM (SELECT json_build_object('eventId', m.event_id, 'kind', m.kind,"
        "     'delta', m.delta, 'reason', m.reason, 'orderId', m.order_id,"
        "     'occurredAt', m.occurred_at) AS m, m.occurred_at, m.event_id"
        "     FROM rm_stock_movements m WHERE m.sku = s.sku"
        "     ORDER BY m.occurred_at DESC, m.event_id LIMIT 200) x), '[]'))::text"
        " FROM rm_stock s WHERE s.sku = $1 AND s.name IS NOT NULL",
        1, params, "product");
}

/* GET /api/products/{sku}/history: the product, every price it had and its latest 200
 * stock movements (receipts, write-offs, reservations, releases). */
static void product_history(const struct _u_request *req, struct _u_response *resp, void *user)
{
    if (!ev_sku_valid(u_map_get(req->map_url, "sku"))) {
        ev_http_reply_error(resp, 404, "not_found", "no product with that SKU");
        return;
    }
    ev_service_with_conn(user, req, resp, product_history_sql, NULL);
}

static void events_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                       void *user)
{
    (void)req;
    const char *params[] = {user};
    ev_service_reply_sql_json(
        c, resp,
        "SELECT coalesce(json_agg(e ORDER BY projected_at DESC), '[]')::text FROM ("
        " SELECT json_build_object('topic', topic, 'partition', partition, 'offset', \"offset\","
        "  'key', order_id, 'eventType', event_type, 'eventId', event_id,"
        "  'correlationId', correlation_id, 'occurredAt', occurred_at, 'version', version,"
        "  'producer', producer, 'value', payload) AS e, projected_at"
        " FROM rm_timeline ORDER BY projected_at DESC LIMIT $1::int) x",
        1, params, NULL);
}

static void latest_events(const struct _u_request *req, struct _u_response *resp, void *user)
{
    long limit;
    char text[16];
    if (ev_http_query_long(req, "limit", 50, 1, 500, &limit)) {
        ev_http_reply_error(resp, 400, "invalid_limit", "limit must be between 1 and 500");
        return;
    }
    snprintf(text, sizeof text, "%ld", limit);
    ev_service *s = user;
    ev_service_with_conn(s, req, resp, events_sql, text);
}

/* --- Kafka state ------------------------------------------------------------------------- */

/* End offset of every partition of topic: [{partition, endOffset}], or NULL. */
static json_t *topic_offsets(rd_kafka_t *rk, const char *topic, int64_t *total)
{
    json_t *parts = json_array();
    *total = 0;
    for (int p = 0; p < 64; p++) {
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, OFFSETS_TIMEOUT_MS))
            break; /* past the last partition */
        json_array_append_new(
            parts, json_pack("{s:i, s:I}", "partition", p, "endOffset", (json_int_t)high));
        *total += high - low;
    }
    return parts;
}

/* Appends {group, topic, partition, committedOffset, lag} of one group to out. */
static void group_lag(const char *brokers, rd_kafka_t *rk, int g, json_t *out)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_t *c = NULL;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) ||
        rd_kafka_conf_set(conf, "group.id", groups[g].group, why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) ||
        !(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        ev_warn("consumer group %s: %s", groups[g].group, why);
        rd_kafka_conf_destroy(conf);
        return;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; groups[g].topics[t]; t++)
        for (int p = 0; p < 3; p++)
            rd_kafka_topic_partition_list_add(list, groups[g].topics[t], p);
    if (rd_kafka_committed(c, list, OFFSETS_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < list->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &list->elems[i];
            int64_t low = 0, high = 0;
            if (rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &low, &high,
                                                 OFFSETS_TIMEOUT_MS))
                continue;
            int64_t committed = tp->offset >= 0 ? tp->offset : low;
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:i, s:I, s:I}", "group", groups[g].group, "topic",
                               tp->topic, "partition", tp->partition, "committedOffset",
                               (json_int_t)tp->offset, "lag", (json_int_t)(high - committed)));
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(c);
}

static void topics(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    ev_service *s = user;
    rd_kafka_t *rk = ev_producer_handle(s->producer);
    json_t *list = json_array(), *lags = json_array();
    int64_t total;
    for (int i = 0; event_topics[i]; i++)
        json_array_append_new(list, json_pack("{s:s, s:o}", "topic", event_topics[i], "partitions",
                                              topic_offsets(rk, event_topics[i], &total)));
    for (int i = 0; ev_dlq_topics[i]; i++)
        json_array_append_new(list, json_pack("{s:s, s:o}", "topic", ev_dlq_topics[i], "partitions",
                                              topic_offsets(rk, ev_dlq_topics[i], &total)));
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        group_lag(s->config.kafka_brokers, rk, (int)g, lags);
    ev_http_reply_json(resp, 200, json_pack("{s:o, s:o}", "topics", list, "consumerGroups", lags));
}

/* --- stats ------------------------------------------------------------------------------- */

static void stats_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    char err[512];
    PGresult *r = ev_pg_query(
        c,
        "SELECT json_build_object("
        " 'ordersByStatus', json_build_object("
        "   'PENDING', count(*) FILTER (WHERE status = 'PENDING'),"
        "   'CONFIRMED', count(*) FILTER (WHERE status = 'CONFIRMED'),"
        "   'CANCELLED', count(*) FILTER (WHERE status = 'CANCELLED')),"
        " 'shipped', count(*) FILTER (WHERE shipped),"
        " 'revenueCents', coalesce(sum(total_cents) FILTER (WHERE status = 'CONFIRMED'), 0),"
        " 'throughputPerMinute', (SELECT coalesce(json_agg(json_build_object('minute', minute,"
        "     'count', count) ORDER BY minute), '[]') FROM rm_placed_per_minute"
        "     WHERE minute > now() - interval '30 minutes'),"
        " 'lastEventAt', (SELECT max(occurred_at) FROM rm_timeline))::text FROM rm_orders",
        0, NULL, err, sizeof err);
    if (!r) {
        ev_http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *stats = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    json_object_update(stats, user); /* the Kafka part */
    ev_http_reply_json(resp, 200, stats);
}

static void stats(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service *s = user;
    rd_kafka_t *rk = ev_producer_handle(s->producer);
    json_t *dlq = json_object(), *lag = json_array();
    for (int i = 0; ev_dlq_topics[i]; i++) {
        int64_t total = 0;
        json_decref(topic_offsets(rk, ev_dlq_topics[i], &total));
        json_object_set_new(dlq, ev_dlq_topics[i], json_integer(total));
    }
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        if (strcmp(groups[g].group, "read-model") == 0)
            group_lag(s->config.kafka_brokers, rk, (int)g, lag);
    json_int_t behind = 0;
    size_t i;
    json_t *row;
    json_array_foreach(lag, i, row) behind += json_integer_value(json_object_get(row, "lag"));
    json_decref(lag);
    json_t *extra = json_pack("{s:o, s:I}", "dlq", dlq, "projectionLag", behind);
    ev_service_with_conn(s, req, resp, stats_sql, extra);
    json_decref(extra);
}

/* --- DLQ --------------------------------------------------------------------------------- */

static int collect(json_t *letter, void *user)
{
    json_array_append_new(user, letter);
    return 0;
}

static void dlq_list(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    ev_service *s = user;
    json_t *all = json_array();
    char err[512];
    for (int i = 0; ev_dlq_topics[i]; i++) {
        if (ev_dlq_scan(s->config.kafka_brokers, ev_dlq_topics[i], collect, all, err, sizeof err) <
            0) {
            json_decref(all);
            ev_http_reply_error(resp, 503, "unavailable", "%s", err);
            return;
        }
    }
    ev_http_reply_json(resp, 200, all);
}

static bool known_dlq(const char *topic)
{
    for (int i = 0; topic && ev_dlq_topics[i]; i++)
        if (strcmp(topic, ev_dlq_topics[i]) == 0)
            return true;
    return false;
}

static void dlq_replay(const struct _u_request *req, struct _u_response *resp, void *user)
{
    ev_service *s = user;
    json_t *body = ev_http_json_body(s->http, req, resp);
    if (!body)
        return;
    const char *topic = json_string_value(json_object_get(body, "topic"));
    json_t *partition = json_object_get(body, "partition"),
           *offset = json_object_get(body, "offset");
    bool all = json_is_true(json_object_get(body, "all"));
    char err[512];
    if (!known_dlq(topic)) {
        ev_http_reply_error(resp, 400, "invalid_topic", "topic must be one of the DLQ topics");
    } else if (!all && (!json_is_integer(partition) || !json_is_integer(offset) ||
                        json_integer_value(offset) < 0)) {
        ev_http_reply_error(resp, 400, "validation_error",
                            "give partition and offset of one letter, or \"all\": true");
    } else {
        int n = ev_dlq_replay(s->config.kafka_brokers, s->producer, topic,
                              all ? 0 : (int32_t)json_integer_value(partition),
                              all ? -1 : json_integer_value(offset), err, sizeof err);
        if (n < 0)
            ev_http_reply_error(resp, strstr(err, "no letter") ? 404 : 503,
                                strstr(err, "no letter") ? "not_found" : "unavailable", "%s", err);
        else
            ev_http_reply_json(resp, 200, json_pack("{s:i}", "replayed", n));
    }
    json_decref(body);
}

int api_register(ev_service *s)
{
    ev_http *h = s->http;
    return ev_http_route(h, "GET", "/api/orders", list_orders, s) ||
                   ev_http_route(h, "GET", "/api/orders/:id", order_detail, s) ||
                   ev_http_route(h, "GET", "/api/catalog", catalog, s) ||
                   ev_http_route(h, "GET", "/api/products/:sku/history", product_history, s) ||
                   ev_http_route(h, "GET", "/api/stats", stats, s) ||
                   ev_http_route(h, "GET", "/api/topics", topics, s) ||
                   ev_http_route(h, "GET", "/api/events", latest_events, s) ||
                   ev_http_route(h, "GET", "/api/dlq", dlq_list, s) ||
                   ev_http_route(h, "POST", "/api/dlq/replay", dlq_replay, s)
               ? -1
               : 0;
}
