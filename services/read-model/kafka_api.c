/* The Kafka UI's HTTP routes (/api/kafka/...): input checked here, Kafka read in
 * kafka_admin.c; see kafka_api.h. */
#include "kafka_api.h"
#include "kafka_admin.h"

#include "ev/log.h"
#include "ev/topology.h"

#include <stdio.h>
#include <string.h>

#define GROUP_NAME_MAX 255 /* longer ids are refused before Kafka is asked */
#define STR_(x) #x
#define STR(x) STR_(x)
#define TEST_HEADERS_MAX 16
#define TEST_HEADER_MARK "x-eventify-test-message" /* every test message carries it: the tool */

/* Answers body (stolen) with 200, or e's failure when body is NULL. */
static void reply(struct _u_response *resp, json_t *body, const kafka_admin_error *e)
{
    if (body) {
        ev_http_reply_json(resp, 200, body);
    } else if (e->failure == KAFKA_ADMIN_NOT_FOUND) {
        ev_http_reply_error(resp, 404, "not_found", "%s", e->message);
    } else if (e->failure == KAFKA_ADMIN_REJECTED) {
        ev_http_reply_error(resp, 422, "rejected", "%s", e->message);
    } else {
        ev_warn("Kafka UI: %s", e->message);
        ev_http_reply_error(resp, 503, "unavailable", "%s", e->message);
    }
}

/* The path's topic when it is a name Kafka could have; else answers 404 and gives NULL. */
static const char *path_topic(const struct _u_request *req, struct _u_response *resp)
{
    const char *topic = u_map_get(req->map_url, "topic");
    if (kafka_topic_name_valid(topic))
        return topic;
    ev_http_reply_error(resp, 404, "not_found", "no such topic");
    return NULL;
}

static void cluster(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    kafka_admin_error e;
    reply(resp, kafka_admin_cluster(a->kafka, &e), &e);
}

static void topics(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    kafka_admin_error e;
    reply(resp, kafka_admin_topics(a->kafka, &e), &e);
}

static void topic(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"topic", NULL};
    const char *name;
    if (!ev_http_only_params(req, resp, params) || !(name = path_topic(req, resp)))
        return;
    api *a = user;
    kafka_admin_error e;
    reply(resp, kafka_admin_topic(a->kafka, name, &e), &e);
}

/* Characters of UTF-8 text (bytes that do not continue a character). */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The browse query of a request, or false having answered 400. */
static bool browse_query(const struct _u_request *req, struct _u_response *resp,
                         kafka_browse_query *q)
{
    long partition, offset, timestamp, limit;
    if (ev_http_query_long(req, "partition", 0, 0, 1000000, &partition)) {
        ev_http_reply_error(resp, 400, "invalid_partition", "partition must be a number >= 0");
        return false;
    }
    if (ev_http_query_long(req, "offset", -1, 0, INT64_MAX, &offset) ||
        ev_http_query_long(req, "timestamp", -1, 0, INT64_MAX, &timestamp)) {
        ev_http_reply_error(resp, 400, "invalid_position",
                            "offset and timestamp (milliseconds since 1970) must be >= 0");
        return false;
    }
    if (offset >= 0 && timestamp >= 0) {
        ev_http_reply_error(resp, 400, "invalid_position", "give offset or timestamp, not both");
        return false;
    }
    if (ev_http_query_long(req, "limit", 20, 1, KAFKA_BROWSE_LIMIT_MAX, &limit)) {
        ev_http_reply_error(resp, 400, "invalid_limit", "limit must be between 1 and %d",
                            KAFKA_BROWSE_LIMIT_MAX);
        return false;
    }
    const char *search = u_map_get(req->map_url, "search");
    if (search && utf8_length(search) > KAFKA_SEARCH_MAX) {
        ev_http_reply_error(resp, 400, "invalid_search", "search may have at most %d characters",
                            KAFKA_SEARCH_MAX);
        return false;
    }
    *q = (kafka_browse_query){.partition = (int32_t)partition,
                              .offset = offset,
                              .timestamp_ms = timestamp,
                              .limit = (int)limit,
                              .search = search && *search ? search : NULL};
    return true;
}

static void messages(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"topic", "partition", "offset", "timestamp",
                                         "limit", "search",    NULL};
    kafka_browse_query q;
    if (!ev_http_only_params(req, resp, params) || !browse_query(req, resp, &q) ||
        !(q.topic = path_topic(req, resp)))
        return;
    api *a = user;
    kafka_admin_error e;
    reply(resp, kafka_admin_browse(a->kafka, &q, &e), &e);
}

static void groups(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    kafka_admin_error e;
    reply(resp, kafka_admin_groups(a->kafka, &e), &e);
}

static void group(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"group", NULL};
    if (!ev_http_only_params(req, resp, params))
        return;
    api *a = user;
    const char *name = u_map_get(req->map_url, "group");
    if (!name || !*name || strlen(name) > GROUP_NAME_MAX) {
        ev_http_reply_error(resp, 404, "not_found", "no such consumer group");
        return;
    }
    kafka_admin_error e;
    reply(resp, kafka_admin_group(a->kafka, name, &e), &e);
}

/* --- test messages ---------------------------------------------------------------------- */

/* A test message as the body gives it; names point into the body. */
typedef struct {
    kafka_test_message m;
    const char *names[TEST_HEADERS_MAX + 1];
    const char *values[TEST_HEADERS_MAX + 1];
} test_body;

/* Reads the body's headers object into t (plus the mark naming tool); false with why. */
static bool test_headers(json_t *headers, const char *tool, test_body *t, size_t *bytes,
                         const char **why)
{
    const char *name;
    json_t *value;
    if (headers && !json_is_object(headers)) {
        *why = "headers must be an object of strings";
        return false;
    }
    if (json_object_size(headers) > TEST_HEADERS_MAX) {
        *why = "at most " STR(TEST_HEADERS_MAX) " headers";
        return false;
    }
    json_object_foreach(headers, name, value)
    {
        if (!json_is_string(value) || !*name || strcmp(name, TEST_HEADER_MARK) == 0) {
            *why = "headers must be an object of strings with names (not " TEST_HEADER_MARK ")";
            return false;
        }
        t->names[t->m.header_count] = name;
        t->values[t->m.header_count++] = json_string_value(value);
        *bytes += strlen(name) + json_string_length(value);
    }
    t->names[t->m.header_count] = TEST_HEADER_MARK;
    t->values[t->m.header_count++] = tool;
    return true;
}

/* Reads a test message body into t; false having answered 400, 404 or 413. */
static bool test_message(json_t *body, const char *topic, const char *tool, test_body *t,
                         struct _u_response *resp)
{
    static const char *const fields[] = {"key", "value", "headers", "partition", NULL};
    json_t *key = json_object_get(body, "key"), *value = json_object_get(body, "value"),
           *partition = json_object_get(body, "partition");
    const char *why = NULL;
    size_t bytes = 0;
    *t = (test_body){.m = {.topic = topic, .partition = -1}};
    if (api_has_unknown_field(body, fields))
        why = "the body may only have key, value, headers and partition";
    else if (!json_is_string(value))
        why = "value must be a string";
    else if (key && !json_is_null(key) && !json_is_string(key))
        why = "key must be a string or null";
    else if (partition && !json_is_null(partition) &&
             (!json_is_integer(partition) || json_integer_value(partition) < 0))
        why = "partition must be a number >= 0";
    else
        test_headers(json_object_get(body, "headers"), tool, t, &bytes, &why);
    if (why) {
        ev_http_reply_error(resp, 400, "validation_error", "%s", why);
        return false;
    }
    if (json_is_integer(partition) &&
        json_integer_value(partition) >= ev_topology_partitions(topic)) {
        ev_http_reply_error(resp, 404, "not_found", "%s has %d partitions", topic,
                            ev_topology_partitions(topic));
        return false;
    }
    t->m.partition = json_is_integer(partition) ? (int32_t)json_integer_value(partition) : -1;
    t->m.key = json_string_value(key);
    t->m.key_len = json_string_length(key);
    t->m.value = json_string_value(value);
    t->m.value_len = json_string_length(value);
    t->m.header_names = t->names;
    t->m.header_values = t->values;
    bytes += t->m.key_len + t->m.value_len;
    if (bytes > KAFKA_TEST_MESSAGE_MAX) {
        ev_http_reply_error(resp, 413, "too_large",
                            "key, value and headers of a test message may have at most %d bytes",
                            KAFKA_TEST_MESSAGE_MAX);
        return false;
    }
    return true;
}

/* Records a delivered test message; false when it could not be. */
static bool record_test_message(PGconn *c, const struct _u_request *req, const test_body *t,
                                int32_t partition, int64_t offset, const char *tool)
{
    char part[16], off[32], size[32], err[256];
    snprintf(part, sizeof part, "%d", partition);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    snprintf(size, sizeof size, "%zu", t->m.value_len);
    const char *params[] = {
        t->m.topic, part, off, t->m.key, size, tool, ev_http_header(req, "User-Agent")};
    /* The key whole (at most KAFKA_TEST_MESSAGE_MAX bytes): the record must name the message
     * it is of. left(): a User-Agent is the client's text; 256 characters say enough. */
    if (ev_pg_exec(c,
                   "INSERT INTO kafka_test_messages (topic, partition, \"offset\", key,"
                   " value_bytes, tool, user_agent)"
                   " VALUES ($1, $2::int, $3::bigint, $4, $5::int, $6, left($7, 256))",
                   7, params, err, sizeof err) == 0)
        return true;
    ev_error("cannot record the test message %s[%s]@%s: %s", t->m.topic, part, off, err);
    return false;
}

static void produce_with(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                         void *user)
{
    api *a = user;
    const char *topic = u_map_get(req->map_url, "topic");
    const char *tool = api_client_tool(req);
    json_t *body = ev_http_json_body(a->service->http, req, resp);
    test_body t;
    if (!body || !test_message(body, topic, tool, &t, resp)) {
        json_decref(body);
        return;
    }
    int32_t partition = -1;
    int64_t offset = -1;
    kafka_admin_error e;
    if (kafka_admin_produce(a->kafka, &t.m, &partition, &offset, &e) != 0)
        reply(resp, NULL, &e);
    else if (!record_test_message(c, req, &t, partition, offset, tool))
        ev_http_reply_error(resp, 500, "not_recorded",
                            "the message is at %s[%d]@%lld but could "
                            "not be recorded",
                            topic, partition, (long long)offset);
    else
        ev_http_reply_json(resp, 200,
                           json_pack("{s:s, s:i, s:I}", "topic", topic, "partition", partition,
                                     "offset", (json_int_t)offset));
    json_decref(body);
}

/* POST /api/kafka/topics/{topic}/messages: only to an event topic of the topology table (a
 * letter without origin in a DLQ would make "replay all" of it fail). */
static void produce(const struct _u_request *req, struct _u_response *resp, void *user)
{
    static const char *const params[] = {"topic", NULL};
    api *a = user;
    if (!ev_admin_authorize(&a->service->admin, req, resp) ||
        !ev_http_only_params(req, resp, params))
        return;
    const char *topic = u_map_get(req->map_url, "topic");
    const ev_topology_topic *t = ev_topology_topic_named(topic);
    if (!t || t->kind != EV_TOPIC_KIND_EVENTS) {
        ev_http_reply_error(resp, 404, "not_found",
                            "test messages go only to the event topics of the topology");
        return;
    }
    ev_service_with_conn(a->service, req, resp, produce_with, a);
}

static void test_messages_sql(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                              void *user)
{
    (void)req;
    const char *params[] = {user};
    ev_service_reply_sql_json(
        c, resp,
        "SELECT coalesce(json_agg(json_build_object('producedAt', produced_at, 'topic', topic,"
        " 'partition', partition, 'offset', \"offset\", 'key', key, 'valueBytes', value_bytes,"
        " 'tool', tool, 'userAgent', user_agent) ORDER BY id DESC), '[]')::text"
        " FROM (SELECT * FROM kafka_test_messages ORDER BY id DESC LIMIT $1::int) m",
        1, params, NULL);
}

static void test_messages(const struct _u_request *req, struct _u_response *resp, void *user)
{
    api_with_limit(user, req, resp, test_messages_sql);
}

int kafka_api_register(api *a)
{
    ev_http *h = a->service->http;
    return ev_http_route(h, "GET", "/api/kafka/cluster", cluster, a) ||
                   ev_http_route(h, "GET", "/api/kafka/topics", topics, a) ||
                   ev_http_route(h, "GET", "/api/kafka/topics/:topic", topic, a) ||
                   ev_http_route(h, "GET", "/api/kafka/topics/:topic/messages", messages, a) ||
                   ev_http_route(h, "POST", "/api/kafka/topics/:topic/messages", produce, a) ||
                   ev_http_route(h, "GET", "/api/kafka/consumer-groups", groups, a) ||
                   ev_http_route(h, "GET", "/api/kafka/consumer-groups/:group", group, a) ||
                   ev_http_route(h, "GET", "/api/kafka/test-messages", test_messages, a)
               ? -1
               : 0;
}
