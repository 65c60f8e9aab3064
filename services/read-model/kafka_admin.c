/* The Kafka UI's backend: cluster, topics, messages and consumer groups read through
 * librdkafka's metadata, ListOffsets and Admin API on two clients of our own; see
 * kafka_admin.h. librdkafka 2.0 has no DescribeCluster or DescribeTopics, so brokers,
 * controller, leaders, replicas and ISR come from a metadata request. */
#include "kafka_admin.h"

#include "ev/log.h"
#include "ev/topology.h"
#include "ev/util.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
/* An admin answer may come a little after the request's own timeout has fired. */
#define ANSWER_WAIT_MS (KAFKA_ADMIN_TIMEOUT_MS + 1000)
/* A delivery report always arrives within message.timeout.ms; flush waits longer. */
#define FLUSH_WAIT_MS (3 * KAFKA_ADMIN_TIMEOUT_MS)

struct kafka_admin {
    rd_kafka_t *admin;  /* metadata, Admin API, offsets and test messages */
    rd_kafka_t *reader; /* browsing: one partition assigned at a time, never a group */
    pthread_mutex_t read_lock;
    pthread_mutex_t produce_lock;
    /* The delivery report of the test message being produced (under produce_lock): a
     * report of an older one, come late, carries another sequence number and is ignored. */
    uint64_t produce_seq;
    rd_kafka_resp_err_t delivered_err;
    int32_t delivered_partition;
    int64_t delivered_offset;
    bool delivered;
};

__attribute__((format(printf, 3, 4))) static int fail(kafka_admin_error *e, kafka_admin_failure f,
                                                      const char *fmt, ...)
{
    e->failure = f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* --- pure ------------------------------------------------------------------------------- */

bool kafka_bytes_contain(const void *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    const char *h = hay;
    if (!h || m == 0 || m > n)
        return false;
    for (const char *p = h; (size_t)(p - h) <= n - m; p++) {
        p = memchr(p, needle[0], n - m + 1 - (size_t)(p - h));
        if (!p)
            return false;
        if (memcmp(p, needle, m) == 0)
            return true;
    }
    return false;
}

int64_t kafka_browse_start(int64_t low, int64_t high, int64_t offset, int64_t latest)
{
    if (offset >= 0)
        return offset < low ? low : offset > high ? high : offset;
    return high - latest > low ? high - latest : low;
}

bool kafka_topic_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* --- clients ---------------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_admin *k = opaque;
    if ((uint64_t)(uintptr_t)m->_private != k->produce_seq)
        return;
    k->delivered = true;
    k->delivered_err = m->err;
    k->delivered_partition = m->partition;
    k->delivered_offset = m->offset;
}

/* A client of type with settings (name, value pairs, NULL-terminated). */
static rd_kafka_t *client_new(kafka_admin *k, rd_kafka_type_t type, const char *const *settings,
                              char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    for (size_t i = 0; settings[i]; i += 2)
        if (rd_kafka_conf_set(conf, settings[i], settings[i + 1], why, sizeof why)) {
            rd_kafka_conf_destroy(conf);
            ev_fail(err, errlen, "Kafka setting %s: %s", settings[i], why);
            return NULL;
        }
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_opaque(conf, k);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        ev_fail(err, errlen, "Kafka client: %s", why);
    }
    return rk;
}

kafka_admin *kafka_admin_new(const char *brokers, char *err, size_t errlen)
{
    kafka_admin *k = calloc(1, sizeof *k);
    if (!k) {
        ev_fail(err, errlen, "out of memory");
        return NULL;
    }
    char group[64], id[EV_UUID_LEN];
    ev_uuid_new(id);
    /* librdkafka wants a group id even for assign(); this one is never joined. */
    snprintf(group, sizeof group, "eventify-kafka-ui-%s", id);
    /* Small prefetch: a browse wants a page of messages, not megabytes of a partition (and
     * the read model stays under 20 MB); fetching goes on while fewer than 1000 messages
     * wait (a search reads up to 1000); a fetch long-polling at the end would hold up the
     * next browse's fetch. A message larger than a fetch still comes whole. Settings are
     * name, value pairs. */
    /* clang-format off */
    const char *admin_settings[] = {
        "bootstrap.servers", brokers,
        "client.id", "eventify-read-model-admin",
        "acks", "all",
        "linger.ms", "0",
        "message.timeout.ms", STR(KAFKA_ADMIN_TIMEOUT_MS),
        "queue.buffering.max.kbytes", "1024", /* one test message at a time */
        NULL};
    const char *reader_settings[] = {
        "bootstrap.servers", brokers,
        "group.id", group,
        "client.id", "eventify-read-model-browse",
        "enable.auto.commit", "false",
        "enable.partition.eof", "true",
        "queued.max.messages.kbytes", "1024",
        "queued.min.messages", "1000",
        "fetch.max.bytes", "1048576",
        "max.partition.fetch.bytes", "262144",
        "fetch.wait.max.ms", "10",
        NULL};
    /* clang-format on */
    k->admin = client_new(k, RD_KAFKA_PRODUCER, admin_settings, err, errlen);
    k->reader = k->admin ? client_new(k, RD_KAFKA_CONSUMER, reader_settings, err, errlen) : NULL;
    if (!k->reader) {
        if (k->admin)
            rd_kafka_destroy(k->admin);
        free(k);
        return NULL;
    }
    pthread_mutex_init(&k->read_lock, NULL);
    pthread_mutex_init(&k->produce_lock, NULL);
    return k;
}

void kafka_admin_free(kafka_admin *k)
{
    if (!k)
        return;
    rd_kafka_flush(k->admin, FLUSH_WAIT_MS);
    rd_kafka_destroy(k->admin);
    rd_kafka_consumer_close(k->reader);
    rd_kafka_destroy(k->reader);
    pthread_mutex_destroy(&k->read_lock);
    pthread_mutex_destroy(&k->produce_lock);
    free(k);
}

/* --- metadata and offsets --------------------------------------------------------------- */

/* Metadata of the brokers and every topic (asking for one topic by name could create it on
 * a broker that auto-creates topics). The caller frees *md with rd_kafka_metadata_destroy. */
static int metadata(kafka_admin *k, const struct rd_kafka_metadata **md, kafka_admin_error *e)
{
    rd_kafka_resp_err_t rc = rd_kafka_metadata(k->admin, 1, NULL, md, KAFKA_ADMIN_TIMEOUT_MS);
    return rc ? fail(e, KAFKA_ADMIN_UNAVAILABLE, "Kafka metadata: %s", rd_kafka_err2str(rc)) : 0;
}

static const rd_kafka_metadata_topic_t *find_topic(const struct rd_kafka_metadata *md,
                                                   const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            return &md->topics[i];
    return NULL;
}

static const rd_kafka_metadata_partition_t *find_partition(const rd_kafka_metadata_topic_t *t,
                                                           int32_t id)
{
    for (int i = 0; i < t->partition_cnt; i++)
        if (t->partitions[i].id == id)
            return &t->partitions[i];
    return NULL;
}

/* Fills lows and highs (the same partitions) with each partition's first and end offset,
 * one ListOffsets round each; -1 where a partition gave no answer. */
static int watermarks(kafka_admin *k, rd_kafka_topic_partition_list_t *lows,
                      rd_kafka_topic_partition_list_t *highs, kafka_admin_error *e)
{
    for (int i = 0; i < lows->cnt; i++) {
        lows->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; /* "earliest" as a timestamp */
        highs->elems[i].offset = RD_KAFKA_OFFSET_END;      /* "latest" */
    }
    rd_kafka_resp_err_t rc =
        lows->cnt ? rd_kafka_offsets_for_times(k->admin, lows, KAFKA_ADMIN_TIMEOUT_MS)
                  : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!rc && highs->cnt)
        rc = rd_kafka_offsets_for_times(k->admin, highs, KAFKA_ADMIN_TIMEOUT_MS);
    if (rc)
        return fail(e, KAFKA_ADMIN_UNAVAILABLE, "Kafka offsets: %s", rd_kafka_err2str(rc));
    for (int i = 0; i < lows->cnt; i++) {
        if (lows->elems[i].err)
            lows->elems[i].offset = -1;
        if (highs->elems[i].err)
            highs->elems[i].offset = -1;
    }
    return 0;
}

static int64_t offset_of(const rd_kafka_topic_partition_list_t *l, const char *topic, int32_t p)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, p);
    return tp ? tp->offset : -1;
}

static json_t *offset_json(int64_t offset)
{
    return offset >= 0 ? json_integer(offset) : json_null();
}

static const char *topic_kind(const char *topic)
{
    const ev_topology_topic *t = ev_topology_topic_named(topic);
    return !t ? "other" : t->kind == EV_TOPIC_KIND_DLQ ? "dlq" : "events";
}

static bool topic_internal(const char *topic)
{
    return strncmp(topic, "__", 2) == 0;
}

/* --- cluster and topics ----------------------------------------------------------------- */

json_t *kafka_admin_cluster(kafka_admin *k, kafka_admin_error *e)
{
    const struct rd_kafka_metadata *md;
    if (metadata(k, &md, e))
        return NULL;
    int32_t controller = rd_kafka_controllerid(k->admin, KAFKA_ADMIN_TIMEOUT_MS);
    char *cluster = rd_kafka_clusterid(k->admin, KAFKA_ADMIN_TIMEOUT_MS);
    json_t *brokers = json_array();
    for (int32_t id = -1, n = 0; n < md->broker_cnt; n++) { /* in id order */
        int32_t next = INT32_MAX;
        for (int i = 0; i < md->broker_cnt; i++)
            if (md->brokers[i].id > id && md->brokers[i].id < next)
                next = md->brokers[i].id;
        for (int i = 0; i < md->broker_cnt; i++)
            if (md->brokers[i].id == next)
                json_array_append_new(brokers,
                                      json_pack("{s:i, s:s, s:i, s:b}", "id", next, "host",
                                                md->brokers[i].host, "port", md->brokers[i].port,
                                                "controller", next == controller));
        id = next;
    }
    json_t *out =
        json_pack("{s:s?, s:o, s:o, s:i}", "clusterId", cluster, "controllerId",
                  offset_json(controller), "brokers", brokers, "topicCount", md->topic_cnt);
    if (cluster)
        rd_kafka_mem_free(k->admin, cluster);
    rd_kafka_metadata_destroy(md);
    return out;
}

/* A topic of a metadata answer, for sorting. */
typedef struct {
    const rd_kafka_metadata_topic_t *topic;
} topic_ref;

static int by_topic_name(const void *a, const void *b)
{
    const topic_ref *x = a, *y = b;
    return strcmp(x->topic->topic, y->topic->topic);
}

/* One row of the topic list: its partitions' shape and its message count. */
static json_t *topic_row(const rd_kafka_metadata_topic_t *t,
                         const rd_kafka_topic_partition_list_t *lows,
                         const rd_kafka_topic_partition_list_t *highs)
{
    json_int_t messages = 0;
    int under = 0;
    for (int p = 0; p < t->partition_cnt; p++) {
        const rd_kafka_metadata_partition_t *mp = &t->partitions[p];
        int64_t low = offset_of(lows, t->topic, mp->id), high = offset_of(highs, t->topic, mp->id);
        if (low >= 0 && high >= low)
            messages += high - low;
        under += mp->isr_cnt < mp->replica_cnt;
    }
    return json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:I}", "topic", t->topic, "kind",
                     topic_kind(t->topic), "internal", topic_internal(t->topic), "partitions",
                     t->partition_cnt, "replicationFactor",
                     t->partition_cnt ? t->partitions[0].replica_cnt : 0, "underReplicated", under,
                     "messages", messages);
}

json_t *kafka_admin_topics(kafka_admin *k, kafka_admin_error *e)
{
    const struct rd_kafka_metadata *md;
    if (metadata(k, &md, e))
        return NULL;
    topic_ref *sorted = calloc((size_t)md->topic_cnt + 1, sizeof *sorted);
    rd_kafka_topic_partition_list_t *lows = rd_kafka_topic_partition_list_new(64),
                                    *highs = rd_kafka_topic_partition_list_new(64);
    size_t n = 0;
    for (int i = 0; sorted && i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err)
            continue;
        sorted[n++].topic = t;
        for (int p = 0; p < t->partition_cnt; p++) {
            rd_kafka_topic_partition_list_add(lows, t->topic, t->partitions[p].id);
            rd_kafka_topic_partition_list_add(highs, t->topic, t->partitions[p].id);
        }
    }
    json_t *out = NULL;
    if (!sorted)
        fail(e, KAFKA_ADMIN_UNAVAILABLE, "out of memory");
    else if (watermarks(k, lows, highs, e) == 0) {
        qsort(sorted, n, sizeof *sorted, by_topic_name);
        out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(out, topic_row(sorted[i].topic, lows, highs));
    }
    free(sorted);
    rd_kafka_topic_partition_list_destroy(lows);
    rd_kafka_topic_partition_list_destroy(highs);
    rd_kafka_metadata_destroy(md);
    return out;
}

static json_t *broker_ids(const int32_t *ids, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    return a;
}

/* The topic's partitions in id order, with leader, replicas, ISR and offsets. */
static json_t *partitions_json(kafka_admin *k, const rd_kafka_metadata_topic_t *t,
                               kafka_admin_error *e)
{
    rd_kafka_topic_partition_list_t *lows = rd_kafka_topic_partition_list_new(t->partition_cnt),
                                    *highs = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int p = 0; p < t->partition_cnt; p++) {
        rd_kafka_topic_partition_list_add(lows, t->topic, p);
        rd_kafka_topic_partition_list_add(highs, t->topic, p);
    }
    json_t *out = NULL;
    if (watermarks(k, lows, highs, e) == 0) {
        out = json_array();
        for (int p = 0; p < t->partition_cnt; p++) {
            const rd_kafka_metadata_partition_t *mp = find_partition(t, p);
            if (!mp)
                continue;
            json_array_append_new(out, json_pack("{s:i, s:i, s:o, s:o, s:o, s:o}", "partition", p,
                                                 "leader", mp->leader, "replicas",
                                                 broker_ids(mp->replicas, mp->replica_cnt), "isr",
                                                 broker_ids(mp->isrs, mp->isr_cnt), "lowOffset",
                                                 offset_json(lows->elems[p].offset), "highOffset",
                                                 offset_json(highs->elems[p].offset)));
        }
    }
    rd_kafka_topic_partition_list_destroy(lows);
    rd_kafka_topic_partition_list_destroy(highs);
    return out;
}

static rd_kafka_AdminOptions_t *admin_options(kafka_admin *k, rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(k->admin, op);
    char why[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, KAFKA_ADMIN_TIMEOUT_MS, why, sizeof why);
    return opts;
}

/* Waits for the admin answer of type on q. NULL with e on timeout or a request-level error;
 * the caller destroys the event. */
static rd_kafka_event_t *admin_answer(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                      kafka_admin_error *e)
{
    int64_t deadline = ev_monotonic_ms() + ANSWER_WAIT_MS;
    for (;;) {
        int64_t left = deadline - ev_monotonic_ms();
        rd_kafka_event_t *ev = left > 0 ? rd_kafka_queue_poll(q, (int)left) : NULL;
        if (!ev) {
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "Kafka did not answer within %d ms", ANSWER_WAIT_MS);
            return NULL;
        }
        if (rd_kafka_event_type(ev) != type) {
            rd_kafka_event_destroy(ev);
            continue;
        }
        if (rd_kafka_event_error(ev)) {
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "Kafka: %s", rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            return NULL;
        }
        return ev;
    }
}

static json_t *config_entries(const rd_kafka_ConfigResource_t *res)
{
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(res, &n);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_ConfigEntry_t *c = entries[i];
        bool sensitive = rd_kafka_ConfigEntry_is_sensitive(c);
        json_array_append_new(
            out, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:b}", "name", rd_kafka_ConfigEntry_name(c),
                           "value", sensitive ? NULL : rd_kafka_ConfigEntry_value(c), "source",
                           rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(c)), "isDefault",
                           rd_kafka_ConfigEntry_is_default(c), "readOnly",
                           rd_kafka_ConfigEntry_is_read_only(c), "sensitive", sensitive));
    }
    return out;
}

/* The topic's configuration through DescribeConfigs. */
static json_t *topic_configs(kafka_admin *k, const char *topic, kafka_admin_error *e)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *opts = admin_options(k, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->admin);
    rd_kafka_DescribeConfigs(k->admin, &res, 1, opts, q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_AdminOptions_destroy(opts);
    json_t *out = NULL;
    rd_kafka_event_t *ev = admin_answer(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, e);
    if (ev) {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &n);
        if (n != 1 || rd_kafka_ConfigResource_error(rs[0]))
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "configs of %s: %s", topic,
                 n ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
        else
            out = config_entries(rs[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return out;
}

json_t *kafka_admin_topic(kafka_admin *k, const char *topic, kafka_admin_error *e)
{
    const struct rd_kafka_metadata *md;
    if (metadata(k, &md, e))
        return NULL;
    const rd_kafka_metadata_topic_t *t = find_topic(md, topic);
    json_t *partitions = NULL, *configs = NULL, *out = NULL;
    if (!t)
        fail(e, KAFKA_ADMIN_NOT_FOUND, "no topic %s", topic);
    else if ((partitions = partitions_json(k, t, e)) && (configs = topic_configs(k, topic, e)))
        out = json_pack("{s:s, s:s, s:b, s:O, s:O}", "topic", topic, "kind", topic_kind(topic),
                        "internal", topic_internal(topic), "partitions", partitions, "configs",
                        configs);
    json_decref(partitions);
    json_decref(configs);
    rd_kafka_metadata_destroy(md);
    return out;
}

/* --- browsing --------------------------------------------------------------------------- */

/* n bytes as a JSON string, or null when they are not UTF-8 (or absent). */
static json_t *text_or_null(const void *bytes, size_t n)
{
    json_t *s = bytes ? json_stringn(bytes, n) : NULL;
    return s ? s : json_null();
}

static json_t *headers_json(const rd_kafka_message_t *m)
{
    json_t *out = json_array();
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return out;
    const char *name;
    const void *value;
    size_t size;
    /* A name is bytes on the wire like a value: null when not UTF-8, never left out. */
    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); i++)
        json_array_append_new(out, json_pack("{s:o, s:o}", "name", text_or_null(name, strlen(name)),
                                             "value", text_or_null(value, size)));
    return out;
}

static json_t *message_json(const rd_kafka_message_t *m)
{
    size_t shown = m->len;
    const unsigned char *value = m->payload;
    if (shown > KAFKA_BROWSE_VALUE_MAX) { /* cut at a character's start, and say so */
        shown = KAFKA_BROWSE_VALUE_MAX;
        while (shown > 0 && (value[shown] & 0xC0) == 0x80)
            shown--;
    }
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(m, &type);
    return json_pack("{s:I, s:o, s:s, s:o, s:o, s:o, s:I, s:b}", "offset", (json_int_t)m->offset,
                     "timestamp", offset_json(ts), "timestampType",
                     type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "logAppend" : "create", "key",
                     text_or_null(m->key, m->key_len), "headers", headers_json(m), "value",
                     text_or_null(value, shown), "valueBytes", (json_int_t)m->len, "valueTruncated",
                     shown < m->len);
}

static bool message_matches(const rd_kafka_message_t *m, const char *needle)
{
    if (kafka_bytes_contain(m->key, m->key_len, needle) ||
        kafka_bytes_contain(m->payload, m->len, needle))
        return true;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    const char *name;
    const void *value;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); i++)
        if (kafka_bytes_contain(value, size, needle))
            return true;
    return false;
}

/* Where one browse stands while it reads. */
typedef struct {
    const kafka_browse_query *q;
    int64_t high;      /* the partition's end when the browse started */
    int64_t next;      /* the offset after the last one read */
    int scanned;       /* messages read */
    size_t bytes;      /* bytes of keys and values read */
    json_t *messages;  /* those returned */
    bool out_of_bound; /* a bound (count, bytes, time) ended the read */
} browse_state;

/* Reads [start, high) of the partition until the page is full or a bound is reached.
 * Caller holds read_lock. */
static int browse_read(kafka_admin *k, browse_state *st, kafka_admin_error *e)
{
    const kafka_browse_query *q = st->q;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, q->topic, q->partition)->offset = st->next;
    rd_kafka_resp_err_t rc = rd_kafka_assign(k->reader, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rc)
        return fail(e, KAFKA_ADMIN_UNAVAILABLE, "assign: %s", rd_kafka_err2str(rc));
    int scan_max = q->search ? KAFKA_BROWSE_SCAN_MAX : q->limit;
    int64_t deadline = ev_monotonic_ms() + KAFKA_ADMIN_TIMEOUT_MS;
    while (st->next < st->high && (int)json_array_size(st->messages) < q->limit) {
        if (st->scanned >= scan_max || st->bytes >= KAFKA_BROWSE_SCAN_BYTES ||
            ev_monotonic_ms() > deadline) {
            st->out_of_bound = true;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->reader, 100);
        if (!m)
            continue;
        bool ours =
            m->partition == q->partition && strcmp(rd_kafka_topic_name(m->rkt), q->topic) == 0;
        if (ours && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            st->next = st->high; /* compacted or deleted: nothing more to read */
        } else if (ours && !m->err && m->offset >= st->next) {
            st->next = m->offset + 1;
            st->scanned++;
            st->bytes += m->key_len + m->len;
            if (!q->search || message_matches(m, q->search))
                json_array_append_new(st->messages, message_json(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(k->reader, NULL);
    return 0;
}

/* The first offset of partition at or after timestamp_ms, or high when none is. */
static int offset_for_time(kafka_admin *k, const kafka_browse_query *q, int64_t high,
                           int64_t *offset, kafka_admin_error *e)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, q->topic, q->partition)->offset = q->timestamp_ms;
    rd_kafka_resp_err_t rc = rd_kafka_offsets_for_times(k->admin, list, KAFKA_ADMIN_TIMEOUT_MS);
    if (!rc)
        rc = list->elems[0].err;
    *offset = list->elems[0].offset >= 0 ? list->elems[0].offset : high;
    rd_kafka_topic_partition_list_destroy(list);
    return rc ? fail(e, KAFKA_ADMIN_UNAVAILABLE, "offset for time: %s", rd_kafka_err2str(rc)) : 0;
}

/* The partition's offsets, or NOT_FOUND when the topic or the partition does not exist. */
static int partition_range(kafka_admin *k, const char *topic, int32_t partition, int64_t *low,
                           int64_t *high, kafka_admin_error *e)
{
    const struct rd_kafka_metadata *md;
    if (metadata(k, &md, e))
        return -1;
    const rd_kafka_metadata_topic_t *t = find_topic(md, topic);
    int rc = 0;
    if (!t)
        rc = fail(e, KAFKA_ADMIN_NOT_FOUND, "no topic %s", topic);
    else if (!find_partition(t, partition))
        rc = fail(e, KAFKA_ADMIN_NOT_FOUND, "%s has %d partition(s)", topic, t->partition_cnt);
    rd_kafka_metadata_destroy(md);
    if (rc == 0 && rd_kafka_query_watermark_offsets(k->admin, topic, partition, low, high,
                                                    KAFKA_ADMIN_TIMEOUT_MS))
        rc =
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "cannot read the offsets of %s[%d]", topic, partition);
    return rc;
}

json_t *kafka_admin_browse(kafka_admin *k, const kafka_browse_query *q, kafka_admin_error *e)
{
    int64_t low, high, start;
    if (partition_range(k, q->topic, q->partition, &low, &high, e))
        return NULL;
    if (q->timestamp_ms >= 0 && q->offset < 0) {
        if (offset_for_time(k, q, high, &start, e))
            return NULL;
    } else {
        start =
            kafka_browse_start(low, high, q->offset, q->search ? KAFKA_BROWSE_SCAN_MAX : q->limit);
    }
    browse_state st = {.q = q, .high = high, .next = start, .messages = json_array()};
    pthread_mutex_lock(&k->read_lock);
    int rc = st.next < high ? browse_read(k, &st, e) : 0;
    pthread_mutex_unlock(&k->read_lock);
    if (rc) {
        json_decref(st.messages);
        return NULL;
    }
    return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:i, s:b, s:o}", "topic", q->topic,
                     "partition", q->partition, "lowOffset", (json_int_t)low, "highOffset",
                     (json_int_t)high, "startOffset", (json_int_t)start, "nextOffset",
                     (json_int_t)st.next, "scanned", st.scanned, "complete",
                     !st.out_of_bound && st.next >= high, "messages", st.messages);
}

/* --- consumer groups -------------------------------------------------------------------- */

/* One consumer group's committed offsets. */
typedef struct {
    const char *name;                           /* borrowed */
    rd_kafka_topic_partition_list_t *committed; /* owned; NULL when the group gave no answer */
} group_offsets;

static void group_offsets_clear(group_offsets *groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (groups[i].committed)
            rd_kafka_topic_partition_list_destroy(groups[i].committed);
}

/* Fills the committed offsets of each of n groups, asked at once with one deadline. */
static void committed_offsets(kafka_admin *k, group_offsets *groups, size_t n)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->admin);
    rd_kafka_AdminOptions_t *opts = admin_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    for (size_t i = 0; i < n; i++) {
        groups[i].committed = NULL;
        /* librdkafka 2.0 takes one group per request; NULL partitions: all it committed */
        rd_kafka_ListConsumerGroupOffsets_t *req =
            rd_kafka_ListConsumerGroupOffsets_new(groups[i].name, NULL);
        rd_kafka_ListConsumerGroupOffsets(k->admin, &req, 1, opts, q);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
    }
    rd_kafka_AdminOptions_destroy(opts);
    kafka_admin_error ignored;
    for (size_t got = 0; got < n; got++) {
        rd_kafka_event_t *ev =
            admin_answer(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, &ignored);
        if (!ev)
            break;
        size_t cnt = 0;
        const rd_kafka_group_result_t **rs = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
        for (size_t r = 0; r < cnt; r++)
            for (size_t i = 0; i < n; i++)
                if (!groups[i].committed && !rd_kafka_group_result_error(rs[r]) &&
                    strcmp(groups[i].name, rd_kafka_group_result_name(rs[r])) == 0)
                    groups[i].committed =
                        rd_kafka_topic_partition_list_copy(rd_kafka_group_result_partitions(rs[r]));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
}

/* End offsets of every partition the n groups committed on; the caller destroys the
 * result. NULL with e. */
static rd_kafka_topic_partition_list_t *end_offsets(kafka_admin *k, const group_offsets *groups,
                                                    size_t n, kafka_admin_error *e)
{
    rd_kafka_topic_partition_list_t *lows = rd_kafka_topic_partition_list_new(64),
                                    *highs = rd_kafka_topic_partition_list_new(64);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; groups[i].committed && p < groups[i].committed->cnt; p++) {
            const rd_kafka_topic_partition_t *tp = &groups[i].committed->elems[p];
            if (!rd_kafka_topic_partition_list_find(highs, tp->topic, tp->partition)) {
                rd_kafka_topic_partition_list_add(lows, tp->topic, tp->partition);
                rd_kafka_topic_partition_list_add(highs, tp->topic, tp->partition);
            }
        }
    int rc = watermarks(k, lows, highs, e);
    rd_kafka_topic_partition_list_destroy(lows);
    if (rc) {
        rd_kafka_topic_partition_list_destroy(highs);
        return NULL;
    }
    return highs;
}

/* Lag of a committed offset: what the group has yet to read (all of it when it has never
 * committed on the partition). -1 when the end is unknown. */
static int64_t lag_of(const rd_kafka_topic_partition_t *tp, int64_t end)
{
    if (end < 0)
        return -1;
    int64_t from = tp->offset >= 0 ? tp->offset : 0;
    return end > from ? end - from : 0;
}

/* [{topic, partition, committedOffset, endOffset, lag}] of one group; *total sums the lags. */
static json_t *lag_rows(const rd_kafka_topic_partition_list_t *committed,
                        const rd_kafka_topic_partition_list_t *ends, json_int_t *total)
{
    json_t *rows = json_array();
    *total = 0;
    for (int p = 0; committed && p < committed->cnt; p++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[p];
        int64_t end = offset_of(ends, tp->topic, tp->partition), lag = lag_of(tp, end);
        if (lag > 0)
            *total += lag;
        json_array_append_new(rows, json_pack("{s:s, s:i, s:o, s:o, s:o}", "topic", tp->topic,
                                              "partition", tp->partition, "committedOffset",
                                              offset_json(tp->offset), "endOffset",
                                              offset_json(end), "lag", offset_json(lag)));
    }
    return rows;
}

static int by_group_name(const void *a, const void *b)
{
    const group_offsets *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* {group: state} of every consumer group. */
static json_t *list_groups(kafka_admin *k, kafka_admin_error *e)
{
    rd_kafka_AdminOptions_t *opts = admin_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->admin);
    rd_kafka_ListConsumerGroups(k->admin, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = admin_answer(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, e);
    json_t *out = NULL;
    if (ev) {
        size_t n = 0;
        const rd_kafka_ConsumerGroupListing_t **gs = rd_kafka_ListConsumerGroups_result_valid(
            rd_kafka_event_ListConsumerGroups_result(ev), &n);
        out = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(out, rd_kafka_ConsumerGroupListing_group_id(gs[i]),
                                json_string(rd_kafka_consumer_group_state_name(
                                    rd_kafka_ConsumerGroupListing_state(gs[i]))));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return out;
}

json_t *kafka_admin_groups(kafka_admin *k, kafka_admin_error *e)
{
    json_t *states = list_groups(k, e);
    if (!states)
        return NULL;
    size_t total = json_object_size(states), i = 0;
    group_offsets *groups = calloc(total + 1, sizeof *groups);
    const char *name;
    json_t *state, *out = NULL;
    if (groups) {
        /* All of them sorted, then the first ones: the cap must not depend on broker order. */
        json_object_foreach(states, name, state) groups[i++].name = name;
        qsort(groups, total, sizeof *groups, by_group_name);
        size_t n = total < KAFKA_GROUPS_MAX ? total : KAFKA_GROUPS_MAX;
        committed_offsets(k, groups, n);
        rd_kafka_topic_partition_list_t *ends = end_offsets(k, groups, n, e);
        json_t *rows = ends ? json_array() : NULL;
        for (i = 0; ends && i < n; i++) {
            json_int_t lag;
            json_t *lags = lag_rows(groups[i].committed, ends, &lag);
            json_array_append_new(rows,
                                  json_pack("{s:s, s:O, s:i, s:o}", "group", groups[i].name,
                                            "state", json_object_get(states, groups[i].name),
                                            "partitions", (int)json_array_size(lags), "lag",
                                            groups[i].committed ? json_integer(lag) : json_null()));
            json_decref(lags);
        }
        if (ends) {
            out = json_pack("{s:o, s:I, s:b}", "groups", rows, "total", (json_int_t)total,
                            "truncated", n < total);
            rd_kafka_topic_partition_list_destroy(ends);
        }
        group_offsets_clear(groups, n);
    } else {
        fail(e, KAFKA_ADMIN_UNAVAILABLE, "out of memory");
    }
    free(groups);
    json_decref(states);
    return out;
}

static json_t *assignment_json(const rd_kafka_MemberDescription_t *m)
{
    json_t *out = json_array();
    const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
    const rd_kafka_topic_partition_list_t *parts =
        a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
    for (int p = 0; parts && p < parts->cnt; p++)
        json_array_append_new(out, json_pack("{s:s, s:i}", "topic", parts->elems[p].topic,
                                             "partition", parts->elems[p].partition));
    return out;
}

/* {group, state, assignor, coordinator, members} of one group's description. */
static json_t *description_json(const rd_kafka_ConsumerGroupDescription_t *d)
{
    json_t *members = json_array();
    for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(d); i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        json_array_append_new(
            members,
            json_pack("{s:s, s:s, s:s, s:o}", "memberId", rd_kafka_MemberDescription_consumer_id(m),
                      "clientId", rd_kafka_MemberDescription_client_id(m), "host",
                      rd_kafka_MemberDescription_host(m), "assignment", assignment_json(m)));
    }
    const rd_kafka_Node_t *c = rd_kafka_ConsumerGroupDescription_coordinator(d);
    return json_pack(
        "{s:s, s:s, s:s?, s:o, s:o}", "group", rd_kafka_ConsumerGroupDescription_group_id(d),
        "state", rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)),
        "assignor", rd_kafka_ConsumerGroupDescription_partition_assignor(d), "coordinator",
        c ? json_pack("{s:i, s:s, s:i}", "id", rd_kafka_Node_id(c), "host", rd_kafka_Node_host(c),
                      "port", (int)rd_kafka_Node_port(c))
          : json_null(),
        "members", members);
}

/* The description of one group through DescribeConsumerGroups. */
static json_t *describe_group(kafka_admin *k, const char *group, kafka_admin_error *e)
{
    rd_kafka_AdminOptions_t *opts = admin_options(k, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->admin);
    rd_kafka_DescribeConsumerGroups(k->admin, &group, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = admin_answer(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, e);
    json_t *out = NULL;
    if (ev) {
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **ds =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
        const rd_kafka_error_t *err =
            n == 1 ? rd_kafka_ConsumerGroupDescription_error(ds[0]) : NULL;
        if (n != 1)
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "no description of group %s", group);
        else if (err && rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
            fail(e, KAFKA_ADMIN_NOT_FOUND, "no consumer group %s", group);
        else if (err)
            fail(e, KAFKA_ADMIN_UNAVAILABLE, "group %s: %s", group, rd_kafka_error_string(err));
        else
            out = description_json(ds[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return out;
}

json_t *kafka_admin_group(kafka_admin *k, const char *group, kafka_admin_error *e)
{
    json_t *out = describe_group(k, group, e);
    if (!out)
        return NULL;
    group_offsets g = {.name = group};
    rd_kafka_topic_partition_list_t *ends = NULL;
    committed_offsets(k, &g, 1);
    const rd_kafka_topic_partition_list_t *committed = g.committed;
    bool dead = strcmp(json_string_value(json_object_get(out, "state")), "Dead") == 0;
    if (dead && (!committed || committed->cnt == 0)) {
        /* Kafka describes a group it never heard of as an empty dead one */
        fail(e, KAFKA_ADMIN_NOT_FOUND, "no consumer group %s", group);
        json_decref(out);
        out = NULL;
    } else if (!committed) {
        fail(e, KAFKA_ADMIN_UNAVAILABLE, "no committed offsets of group %s", group);
        json_decref(out);
        out = NULL;
    } else if ((ends = end_offsets(k, &g, 1, e))) {
        json_int_t total;
        json_object_set_new(out, "offsets", lag_rows(committed, ends, &total));
        json_object_set_new(out, "lag", json_integer(total));
    } else {
        json_decref(out);
        out = NULL;
    }
    group_offsets_clear(&g, 1);
    if (ends)
        rd_kafka_topic_partition_list_destroy(ends);
    return out;
}

/* --- test messages ---------------------------------------------------------------------- */

int kafka_admin_produce(kafka_admin *k, const kafka_test_message *m, int32_t *partition,
                        int64_t *offset, kafka_admin_error *e)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(m->header_count);
    for (size_t i = 0; i < m->header_count; i++)
        rd_kafka_header_add(hdrs, m->header_names[i], -1, m->header_values[i], -1);
    pthread_mutex_lock(&k->produce_lock);
    k->produce_seq++;
    k->delivered = false;
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        k->admin, RD_KAFKA_V_TOPIC(m->topic),
        RD_KAFKA_V_PARTITION(m->partition >= 0 ? m->partition : RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_KEY(m->key, m->key ? m->key_len : 0),
        RD_KAFKA_V_VALUE((void *)m->value, m->value_len), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)k->produce_seq), RD_KAFKA_V_END);
    if (rc) {
        rd_kafka_headers_destroy(hdrs); /* kept by librdkafka only on success */
    } else {
        rd_kafka_flush(k->admin, FLUSH_WAIT_MS);
        rc = !k->delivered ? RD_KAFKA_RESP_ERR__TIMED_OUT : k->delivered_err;
        *partition = k->delivered_partition;
        *offset = k->delivered_offset;
    }
    pthread_mutex_unlock(&k->produce_lock);
    if (rc == RD_KAFKA_RESP_ERR__TIMED_OUT || rc == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
        rc == RD_KAFKA_RESP_ERR__TRANSPORT)
        return fail(e, KAFKA_ADMIN_UNAVAILABLE, "not delivered: %s", rd_kafka_err2str(rc));
    if (rc)
        return fail(e, KAFKA_ADMIN_REJECTED, "Kafka refused the message: %s", rd_kafka_err2str(rc));
    return 0;
}
