/* Query API over the projections, plus Kafka's own state (topics, consumer groups, DLQs)
 * for the UI's Events page; see api.h (the Kafka UI's routes are kafka_api.c). Handlers
 * read; only the DLQ replay writes (to Kafka, and its record to dlq_replays), and only with
 * the admin token. Kafka state comes from the service's own producer (admin calls) and one
 * shared DLQ reader: no request creates a Kafka client. */
#include "api.h"
#include "kafka_api.h"
#include "project.h"

#include "ev/dlq.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/topology.h"
#include "ev/utf8.h"
#include "ev/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFSETS_TIMEOUT_MS 3000

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
    static const char *const params[] = {"status", "customerId", "page", "pageSize", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    list_query q = {.status = u_map_get(req->map_url, "status"),
                    .customer = u_map_get(req->map_url, "customerId")};
    long page, size;
    if (ev_http_query_long(req, "page", 1, 1, 1000000, &page) ||
        ev_http_query_long(req, "pageSize", 20, 1, 100, &size)) {
        ev_http_reply_error(resp, 400, "invalid_paging", "page >= 1 and 1 <= pageSize <= 100");
        return;
    }
    if (q.status && strcmp(q.status, "PENDING") != 0 && strcmp(q.status, "CONFIRMED") != 0 &&
        strcmp(q.status, "CANCELLED") != 0) {
        ev_http_reply_error(resp, 400, "invalid_status",
                            "status must be PENDING, CONFIRMED or CANCELLED");
        return;
    }
    if (q.customer && !*q.customer)
        q.customer = NULL;
    snprintf(q.limit, sizeof q.limit, "%ld", size);
    snprintf(q.offset, sizeof q.offset, "%ld", (page - 1) * size);
    snprintf(q.page, sizeof q.page, "%ld", page);
    snprintf(q.page_size, sizeof q.page_size, "%ld", size);
    ev_service_with_conn(a->service, req, resp, list_orders_sql, &q);
}

static void order_detail(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"id", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    ev_service_reply_by_id(
        a->service, req, resp, "id",
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
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    ev_service_with_conn(a->service, req, resp, catalog_sql, NULL);
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
    static const char *const params[] = {"sku", NULL}; /* the path's */
    if (!ev_http_only_params(req, resp, params))
        return;
    if (!ev_sku_valid(u_map_get(req->map_url, "sku"))) {
        ev_http_reply_error(resp, 404, "not_found", "no product with that SKU");
        return;
    }
    api *a = user;
    ev_service_with_conn(a->service, req, resp, product_history_sql, NULL);
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
    api_with_limit(user, req, resp, events_sql);
}

void api_with_limit(api *a, const struct _u_request *req, struct _u_response *resp,
                    ev_with_conn_fn sql)
{
    static const char *const params[] = {"limit", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    long limit;
    char text[16];
    if (ev_http_query_long(req, "limit", 50, 1, 500, &limit)) {
        ev_http_reply_error(resp, 400, "invalid_limit", "limit must be between 1 and 500");
        return;
    }
    snprintf(text, sizeof text, "%ld", limit);
    ev_service_with_conn(a->service, req, resp, sql, text);
}

/* --- Kafka state ------------------------------------------------------------------------- */

/* End offset of every partition of topic (as many as the topology table gives it):
 * [{partition, endOffset}]. A partition Kafka cannot answer for is left out. */
static json_t *topic_offsets(rd_kafka_t *rk, const char *topic, int64_t *total)
{
    json_t *parts = json_array();
    *total = 0;
    for (int p = 0; p < ev_topology_partitions(topic); p++) {
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, OFFSETS_TIMEOUT_MS))
            continue;
        json_array_append_new(
            parts, json_pack("{s:i, s:I}", "partition", p, "endOffset", (json_int_t)high));
        *total += high - low;
    }
    return parts;
}

/* Asks for the committed offsets of the consumer group of s, on every partition of what it
 * consumes (the topology table), through the admin API of rk (the service's own producer: no
 * client is created per request). The answer arrives on q. */
static void ask_committed(rd_kafka_t *rk, rd_kafka_queue_t *q, const ev_topology_service *s)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < ev_topology_count(s->consumes); t++)
        for (int p = 0; p < ev_topology_partitions(s->consumes[t]); p++)
            rd_kafka_topic_partition_list_add(list, s->consumes[t], p);
    rd_kafka_ListConsumerGroupOffsets_t *req =
        rd_kafka_ListConsumerGroupOffsets_new(s->group, list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    char why[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, OFFSETS_TIMEOUT_MS, why, sizeof why);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opts, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
}

/* Appends {group, topic, partition, committedOffset, lag} rows of one admin answer. */
static void append_lag(rd_kafka_t *rk, rd_kafka_event_t *ev, json_t *out)
{
    const rd_kafka_ListConsumerGroupOffsets_result_t *res =
        rd_kafka_event_ListConsumerGroupOffsets_result(ev);
    size_t n = 0;
    const rd_kafka_group_result_t **results =
        res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *group = rd_kafka_group_result_name(results[i]);
        if (rd_kafka_group_result_error(results[i])) {
            ev_warn("consumer group %s: %s", group,
                    rd_kafka_error_string(rd_kafka_group_result_error(results[i])));
            continue;
        }
        const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(results[i]);
        for (int k = 0; parts && k < parts->cnt; k++) {
            const rd_kafka_topic_partition_t *tp = &parts->elems[k];
            int64_t low = 0, high = 0;
            if (tp->err || rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &low,
                                                            &high, OFFSETS_TIMEOUT_MS))
                continue;
            int64_t committed = tp->offset >= 0 ? tp->offset : low;
            json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:I, s:I}", "group", group,
                                                 "topic", tp->topic, "partition", tp->partition,
                                                 "committedOffset", (json_int_t)tp->offset, "lag",
                                                 (json_int_t)(high - committed)));
        }
    }
}

/* Lag rows of every group (or only only_group), all asked at once on one queue. */
static json_t *group_lags(rd_kafka_t *rk, const char *only_group)
{
    json_t *out = json_array();
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    size_t asked = 0;
    const ev_topology_service *s;
    for (size_t i = 0; (s = ev_topology_service_at(i)); i++)
        if (s->group && (!only_group || strcmp(s->group, only_group) == 0)) {
            ask_committed(rk, q, s);
            asked++;
        }
    int64_t deadline = ev_monotonic_ms() + OFFSETS_TIMEOUT_MS + 1000;
    for (size_t got = 0; got < asked;) {
        int64_t left = deadline - ev_monotonic_ms();
        rd_kafka_event_t *ev = left > 0 ? rd_kafka_queue_poll(q, (int)left) : NULL;
        if (!ev) {
            ev_warn("consumer group offsets: %zu of %zu answers missing", asked - got, asked);
            break;
        }
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT) {
            got++;
            if (rd_kafka_event_error(ev))
                ev_warn("consumer group offsets: %s", rd_kafka_event_error_string(ev));
            else
                append_lag(rk, ev, out);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return out;
}

static void topics(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    rd_kafka_t *rk = ev_producer_handle(a->service->producer);
    json_t *list = json_array();
    int64_t total;
    const ev_topology_topic *t;
    for (size_t i = 0; (t = ev_topology_topic_at(i)); i++) /* events first, then DLQs */
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "topic", t->name, "kind",
                                              t->kind == EV_TOPIC_KIND_DLQ ? "dlq" : "events",
                                              "partitions", topic_offsets(rk, t->name, &total)));
    ev_http_reply_json(
        resp, 200, json_pack("{s:o, s:o}", "topics", list, "consumerGroups", group_lags(rk, NULL)));
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
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    rd_kafka_t *rk = ev_producer_handle(a->service->producer);
    json_t *dlq = json_object();
    const char *topic;
    for (size_t i = 0; (topic = ev_topology_dlq_at(i)); i++) {
        int64_t total = 0;
        json_decref(topic_offsets(rk, topic, &total));
        json_object_set_new(dlq, topic, json_integer(total));
    }
    json_t *lag = group_lags(rk, a->service->topology->group);
    json_int_t behind = 0;
    size_t i;
    json_t *row;
    json_array_foreach(lag, i, row) behind += json_integer_value(json_object_get(row, "lag"));
    json_decref(lag);
    json_t *extra = json_pack("{s:o, s:I}", "dlq", dlq, "projectionLag", behind);
    ev_service_with_conn(a->service, req, resp, stats_sql, extra);
    json_decref(extra);
}

/* --- DLQ --------------------------------------------------------------------------------- */

static void dlq_list(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"topic", "limit", "cursor", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    long limit;
    if (ev_http_query_long(req, "limit", 50, 1, EV_DLQ_PAGE_MAX, &limit)) {
        ev_http_reply_error(resp, 400, "invalid_limit", "limit must be between 1 and %d",
                            EV_DLQ_PAGE_MAX);
        return;
    }
    const char *topic = u_map_get(req->map_url, "topic");
    char next[EV_DLQ_CURSOR_LEN], err[512];
    bool bad_input = false;
    json_t *items =
        ev_dlq_page(a->dlq, topic && *topic ? topic : NULL, u_map_get(req->map_url, "cursor"),
                    (int)limit, next, &bad_input, err, sizeof err);
    if (!items) {
        if (bad_input)
            ev_http_reply_error(resp, 400, "validation_error", "%s", err);
        else {
            ev_error("DLQ listing: %s", err);
            ev_http_reply_error(resp, 503, "unavailable", "Kafka is unavailable");
        }
        return;
    }
    ev_http_reply_json(resp, 200,
                       json_pack("{s:o, s:s?, s:i}", "items", items, "nextCursor",
                                 next[0] ? next : NULL, "limit", (int)limit));
}

/* A path parameter as an integer in [0, max]; false when absent or malformed. */
static bool path_integer(const struct _u_request *req, const char *name, long long max,
                         long long *out)
{
    const char *text = u_map_get(req->map_url, name);
    char *end;
    if (!text || !*text || *text == '-' || *text == '+')
        return false;
    *out = strtoll(text, &end, 10);
    return *end == '\0' && *out >= 0 && *out <= max;
}

static void dlq_letter(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"topic", "partition", "offset", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    const char *topic = u_map_get(req->map_url, "topic");
    long long partition, offset;
    if (!ev_dlq_known(topic) ||
        !path_integer(req, "partition", ev_topology_partitions(topic) - 1, &partition) ||
        !path_integer(req, "offset", INT64_MAX, &offset)) {
        ev_http_reply_error(resp, 404, "not_found", "no such dead letter");
        return;
    }
    bool missing = false;
    char err[512];
    json_t *letter =
        ev_dlq_get(a->dlq, topic, (int32_t)partition, offset, &missing, err, sizeof err);
    if (letter)
        ev_http_reply_json(resp, 200, letter);
    else if (missing)
        ev_http_reply_error(resp, 404, "not_found", "%s", err);
    else {
        ev_error("DLQ letter: %s", err);
        ev_http_reply_error(resp, 503, "unavailable", "Kafka is unavailable");
    }
}

/* Who asked for a replay, as recorded. */
typedef struct {
    PGconn *conn;
    const char *tool;       /* ui, eventifyctl or api */
    const char *user_agent; /* may be NULL */
    int unrecorded;
} replay_record;

const char *api_client_tool(const struct _u_request *req)
{
    const char *client = ev_http_header(req, "X-Eventify-Client");
    if (client && (strcmp(client, "ui") == 0 || strcmp(client, "eventifyctl") == 0))
        return client;
    return "api";
}

static void record_replay(const json_t *letter, void *user)
{
    replay_record *rec = user;
    char partition[16], offset[32], err[256];
    snprintf(partition, sizeof partition, "%lld",
             (long long)json_integer_value(json_object_get(letter, "partition")));
    snprintf(offset, sizeof offset, "%lld",
             (long long)json_integer_value(json_object_get(letter, "offset")));
    const char *params[] = {json_string_value(json_object_get(letter, "topic")),
                            partition,
                            offset,
                            json_string_value(json_object_get(letter, "eventId")),
                            json_string_value(json_object_get(letter, "originTopic")),
                            json_string_value(json_object_get(letter, "consumer")),
                            rec->tool,
                            rec->user_agent};
    /* left(): a User-Agent is the client's text; 256 characters say enough. */
    if (ev_pg_exec(rec->conn,
                   "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, event_id,"
                   " origin_topic, replay_for, tool, user_agent)"
                   " VALUES ($1, $2::int, $3::bigint, $4, $5, $6, $7, left($8, 256))",
                   8, params, err, sizeof err) != 0) {
        ev_error("cannot record the replay of %s[%s]@%s: %s", params[0], partition, offset, err);
        rec->unrecorded++;
    }
}

bool api_has_unknown_field(const json_t *body, const char *const *fields)
{
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)body, name, value)
    {
        (void)value;
        bool known = false;
        for (size_t i = 0; fields[i] && !known; i++)
            known = strcmp(fields[i], name) == 0;
        if (!known)
            return true;
    }
    return false;
}

/* 200 with how many letters were replayed and how many could not be, and why the first
 * could not (err). */
static void reply_replayed(struct _u_response *resp, int replayed, int refused, char *err)
{
    json_t *answer = json_pack("{s:i,s:i}", "replayed", replayed, "notReplayable", refused);
    if (answer && refused) {
        ev_utf8_scrub(err); /* a JSON string holds only UTF-8 */
        json_object_set_new(answer, "reason", json_string(err));
    }
    ev_http_reply_json(resp, 200, answer);
}

static void dlq_replay_with(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                            void *user)
{
    api *a = user;
    ev_service *s = a->service;
    json_t *body = ev_http_json_body(s->http, req, resp);
    if (!body)
        return;
    static const char *const fields[] = {"topic", "partition", "offset", "all", NULL};
    bool unknown = api_has_unknown_field(body, fields);
    const char *topic = json_string_value(json_object_get(body, "topic"));
    json_t *partition = json_object_get(body, "partition"),
           *offset = json_object_get(body, "offset"), *all_field = json_object_get(body, "all");
    bool all = json_is_true(all_field);
    char err[512];
    if (unknown) {
        ev_http_reply_error(resp, 400, "unknown_field",
                            "the body may only have topic, partition, offset and all");
    } else if (!ev_dlq_known(topic)) {
        ev_http_reply_error(resp, 400, "invalid_topic", "topic must be one of the DLQ topics");
    } else if (all_field && !json_is_boolean(all_field)) {
        ev_http_reply_error(resp, 400, "validation_error", "all must be a boolean");
    } else if (!all && (!json_is_integer(partition) || !json_is_integer(offset) ||
                        json_integer_value(offset) < 0 || json_integer_value(partition) < 0)) {
        ev_http_reply_error(resp, 400, "validation_error",
                            "give partition and offset of one letter, or \"all\": true");
    } else if (!all && json_integer_value(partition) >= ev_topology_partitions(topic)) {
        ev_http_reply_error(resp, 404, "not_found", "%s has %d partitions", topic,
                            ev_topology_partitions(topic));
    } else {
        replay_record rec = {.conn = c,
                             .tool = api_client_tool(req),
                             .user_agent = ev_http_header(req, "User-Agent")};
        ev_dlq_replay_failure failure;
        int refused = 0;
        int n = ev_dlq_replay(a->dlq, s->producer, topic,
                              all ? 0 : (int32_t)json_integer_value(partition),
                              all ? -1 : json_integer_value(offset), record_replay, &rec, &refused,
                              &failure, err, sizeof err);
        if (n < 0 && failure == EV_DLQ_REPLAY_MISSING)
            ev_http_reply_error(resp, 404, "not_found", "%s", err);
        else if (n < 0 && failure == EV_DLQ_REPLAY_REFUSED)
            ev_http_reply_error(resp, 409, "not_replayable", "%s", err);
        else if (n < 0)
            ev_http_reply_error(resp, 503, "unavailable", "%s", err);
        else if (rec.unrecorded)
            ev_http_reply_error(resp, 500, "not_recorded",
                                "%d letter(s) replayed but %d could not be recorded", n,
                                rec.unrecorded);
        else
            reply_replayed(resp, n, refused, err);
    }
    json_decref(body);
}

static void dlq_replay(const struct _u_request *req, struct _u_response *resp, void *user)
{
    api *a = user;
    if (!ev_admin_authorize(&a->service->admin, req, resp))
        return;
    ev_service_with_conn(a->service, req, resp, dlq_replay_with, a);
}

static void replays_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                        void *user)
{
    (void)req;
    const char *params[] = {user};
    ev_service_reply_sql_json(
        c, resp,
        "SELECT coalesce(json_agg(json_build_object('replayedAt', replayed_at, 'topic', dlq_topic,"
        " 'partition', dlq_partition, 'offset', dlq_offset, 'eventId', event_id,"
        " 'originTopic', origin_topic, 'replayFor', replay_for, 'tool', tool,"
        " 'userAgent', user_agent) ORDER BY id DESC), '[]')::text"
        " FROM (SELECT * FROM dlq_replays ORDER BY id DESC LIMIT $1::int) r",
        1, params, NULL);
}

static void dlq_replays(const struct _u_request *req, struct _u_response *resp, void *user)
{
    api_with_limit(user, req, resp, replays_sql);
}

int api_open(api *a, ev_service *service, char *err, size_t errlen)
{
    a->service = service;
    a->dlq = ev_dlq_reader_new(service->config.kafka_brokers, err, errlen);
    if (!a->dlq)
        return -1;
    a->kafka = kafka_admin_new(service->config.kafka_brokers, err, errlen);
    if (!a->kafka) {
        api_close(a);
        return -1;
    }
    ev_http *h = service->http;
    if (ev_http_route(h, "GET", "/api/orders", list_orders, a) ||
        ev_http_route(h, "GET", "/api/orders/:id", order_detail, a) ||
        ev_http_route(h, "GET", "/api/catalog", catalog, a) ||
        ev_http_route(h, "GET", "/api/products/:sku/history", product_history, a) ||
        ev_http_route(h, "GET", "/api/stats", stats, a) ||
        ev_http_route(h, "GET", "/api/topics", topics, a) ||
        ev_http_route(h, "GET", "/api/events", latest_events, a) ||
        ev_http_route(h, "GET", "/api/dlq", dlq_list, a) ||
        ev_http_route(h, "GET", "/api/dlq/replays", dlq_replays, a) ||
        ev_http_route(h, "GET", "/api/dlq/:topic/:partition/:offset", dlq_letter, a) ||
        ev_http_route(h, "POST", "/api/dlq/replay", dlq_replay, a) || kafka_api_register(a)) {
        api_close(a);
        return ev_fail(err, errlen, "cannot register the /api routes");
    }
    return 0;
}

void api_close(api *a)
{
    ev_dlq_reader_free(a->dlq);
    a->dlq = NULL;
    kafka_admin_free(a->kafka);
    a->kafka = NULL;
}
