/* DLQ reading and replay; see ev/dlq.h. Every read assigns exactly the partition it needs
 * from the offset it needs, reads what it must and unassigns: a listing page or one letter
 * costs a few fetches, never a scan of every DLQ with every value. */
#include "ev/dlq.h"
#include "ev/dlq_headers.h"
#include "ev/log.h"
#include "ev/topology.h"
#include "ev/trace.h"
#include "ev/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_TIMEOUT_MS 10000

struct ev_dlq_reader {
    rd_kafka_t *rk;
    pthread_mutex_t lock; /* one assignment at a time */
};

bool ev_dlq_known(const char *topic)
{
    const ev_topology_topic *t = ev_topology_topic_named(topic);
    return t && t->kind == EV_TOPIC_KIND_DLQ;
}

ev_dlq_reader *ev_dlq_reader_new(const char *brokers, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256], group[64], id[EV_UUID_LEN];
    ev_uuid_new(id);
    /* librdkafka wants a group id even for assign(); this one is never joined. */
    snprintf(group, sizeof group, "eventify-dlq-reader-%s", id);
    /* Small prefetch: a reader wants a few letters, not megabytes of each partition. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) ||
        rd_kafka_conf_set(conf, "group.id", group, why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", why, sizeof why) ||
        rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "2048", why, sizeof why) ||
        rd_kafka_conf_set(conf, "queued.min.messages", "16", why, sizeof why) ||
        /* A fetch long-polling at a partition's end would hold up the next read's fetch on
         * the same broker for the default 500 ms: a reader never wants to wait for data. */
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", why, sizeof why)) {
        rd_kafka_conf_destroy(conf);
        ev_fail(err, errlen, "Kafka setting: %s", why);
        return NULL;
    }
    ev_dlq_reader *r = calloc(1, sizeof *r);
    if (!r) {
        rd_kafka_conf_destroy(conf);
        ev_fail(err, errlen, "out of memory");
        return NULL;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        free(r);
        ev_fail(err, errlen, "Kafka consumer: %s", why);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void ev_dlq_reader_free(ev_dlq_reader *r)
{
    if (!r)
        return;
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Bytes as a JSON string, whatever their length; null when absent or not UTF-8, which a JSON
 * string cannot hold (the letter itself keeps them: show and replay read the message). */
static json_t *text_or_null(const void *bytes, size_t size)
{
    json_t *text = bytes ? json_stringn(bytes, size) : NULL;
    return text ? text : json_null();
}

static json_t *header_string(const rd_kafka_message_t *m, const char *name)
{
    const void *value = NULL;
    size_t size = 0;
    return ev_message_header_raw(m, name, &value, &size) ? text_or_null(value, size) : json_null();
}

static json_t *header_int(const rd_kafka_message_t *m, const char *name)
{
    char value[32];
    return ev_message_header(m, name, value, sizeof value) ? json_integer(strtoll(value, NULL, 10))
                                                           : json_null();
}

/* The letter as JSON; eventType and eventId come from the value when it is an envelope. */
static json_t *letter_json(const rd_kafka_message_t *m, bool with_value)
{
    json_t *value = json_loadb(m->payload, m->len, 0, NULL);
    json_t *type = json_object_get(value, "eventType");
    json_t *id = json_object_get(value, "eventId");
    json_t *letter = json_pack(
        "{s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O?, s:O?, s:I}", "topic",
        rd_kafka_topic_name(m->rkt), "partition", m->partition, "offset", (json_int_t)m->offset,
        "key", m->key ? text_or_null(m->key, m->key_len) : json_string(""), "originTopic",
        header_string(m, EV_DLQ_ORIGIN_TOPIC), "originPartition",
        header_int(m, EV_DLQ_ORIGIN_PARTITION), "originOffset", header_int(m, EV_DLQ_ORIGIN_OFFSET),
        "error", header_string(m, EV_DLQ_ERROR), "attempts", header_int(m, EV_DLQ_ATTEMPTS),
        "consumer", header_string(m, EV_DLQ_CONSUMER), "failedAt",
        header_string(m, EV_DLQ_FAILED_AT), "eventType", json_is_string(type) ? type : NULL,
        "eventId", json_is_string(id) ? id : NULL, "valueBytes", (json_int_t)m->len);
    json_decref(value);
    if (letter)
        json_object_set_new(letter, "traceparent", header_string(m, "traceparent"));
    if (letter && with_value) {
        /* A value that is not UTF-8 cannot be a JSON string: null, and not replayable. */
        json_t *raw = m->payload ? json_stringn(m->payload, m->len) : json_string("");
        json_object_set_new(letter, "value", raw ? raw : json_null());
    }
    return letter;
}

static int partition_count(ev_dlq_reader *r, const char *topic, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, topic, NULL);
    rd_kafka_resp_err_t rc = rd_kafka_metadata(r->rk, 0, t, &md, READ_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (rc || md->topic_cnt != 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return ev_fail(err, errlen, "topic %s: %s", topic,
                       rc ? rd_kafka_err2str(rc) : "unknown topic");
    }
    /* The table's count bounds it: cursors name no partition beyond (ev_dlq_cursor_parse). */
    int most = ev_topology_partitions(topic);
    int n = md->topics[0].partition_cnt < most ? md->topics[0].partition_cnt : most;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* What to read from one partition, and where the reading got to. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t from; /* first offset wanted */
    int64_t high; /* end offset when the read started: nothing at or after it is read */
    int max;      /* most letters to visit */
    bool with_value;
    ev_dlq_visit_fn visit;
    void *user;
    int64_t next; /* out: the offset after the last one visited */
    bool stopped; /* out: visit asked to stop */
} range_read;

/* Reads [from, high) of one partition, at most max letters. Returns the number visited or -1
 * with err. Caller holds the lock. */
static int read_range(ev_dlq_reader *r, range_read *rr, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rr->topic, rr->partition)->offset = rr->from;
    rd_kafka_resp_err_t rc = rd_kafka_assign(r->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rc)
        return ev_fail(err, errlen, "assign %s[%d]: %s", rr->topic, rr->partition,
                       rd_kafka_err2str(rc));
    int visited = 0;
    rr->next = rr->from;
    int64_t deadline = ev_monotonic_ms() + READ_TIMEOUT_MS;
    while (visited < rr->max && rr->next < rr->high && !rr->stopped) {
        if (ev_monotonic_ms() > deadline) {
            visited = ev_fail(err, errlen, "timed out reading %s[%d]", rr->topic, rr->partition);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 200);
        if (!m)
            continue;
        bool ours =
            m->partition == rr->partition && strcmp(rd_kafka_topic_name(m->rkt), rr->topic) == 0;
        /* At the end of the partition, or past the range: what was missing was a gap. */
        bool done = ours && (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
                             (!m->err && m->offset >= rr->high));
        if (done) {
            rr->next = rr->high;
        } else if (ours && !m->err && m->offset >= rr->next) {
            rr->next = m->offset + 1;
            json_t *letter = letter_json(m, rr->with_value);
            if (letter) {
                visited++;
                if (rr->visit(letter, rr->user) != 0)
                    rr->stopped = true;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->rk, NULL);
    return visited;
}

static int watermarks(ev_dlq_reader *r, const char *topic, int32_t p, int64_t *low, int64_t *high,
                      char *err, size_t errlen)
{
    if (rd_kafka_query_watermark_offsets(r->rk, topic, p, low, high, READ_TIMEOUT_MS))
        return ev_fail(err, errlen, "cannot read the offsets of %s[%d]", topic, p);
    return 0;
}

static int append(json_t *letter, void *user)
{
    json_array_append_new(user, letter);
    return 0;
}

bool ev_dlq_cursor_parse(const char *cursor, int *topic_index, int32_t *partition, int64_t *offset)
{
    const char *second = strrchr(cursor, ':');
    if (!second || second == cursor)
        return false;
    const char *first = second - 1;
    while (first > cursor && *first != ':')
        first--;
    /* digits only: strtol alone would take signs and leading blanks */
    if (*first != ':' || !isdigit((unsigned char)first[1]) || !isdigit((unsigned char)second[1]))
        return false;
    char *end;
    long p = strtol(first + 1, &end, 10);
    if (end != second || p < 0)
        return false;
    long long o = strtoll(second + 1, &end, 10);
    if (*end || o < 0 || o == LLONG_MAX)
        return false;
    size_t topic_len = (size_t)(first - cursor);
    const char *dlq;
    for (int i = 0; (dlq = ev_topology_dlq_at((size_t)i)); i++)
        if (strlen(dlq) == topic_len && strncmp(dlq, cursor, topic_len) == 0) {
            if (p >= ev_topology_partitions(dlq))
                return false;
            *topic_index = i;
            *partition = (int32_t)p;
            *offset = o;
            return true;
        }
    return false;
}

/* Reads [start, end) of one partition and appends its letters to page newest first. */
static int append_newest_first(ev_dlq_reader *r, const char *topic, int32_t p, int64_t start,
                               int64_t end, json_t *page, char *err, size_t errlen)
{
    json_t *chunk = json_array();
    range_read rr = {.topic = topic,
                     .partition = p,
                     .from = start,
                     .high = end,
                     .max = (int)(end - start),
                     .visit = append,
                     .user = chunk};
    int got = read_range(r, &rr, err, errlen);
    for (size_t i = json_array_size(chunk); got >= 0 && i > 0; i--)
        json_array_append(page, json_array_get(chunk, i - 1));
    json_decref(chunk);
    return got;
}

/* Fills the page from (ti, p0, end0) on, newest first within each partition; sets next
 * when the page is full. Lock held. */
static int fill_page(ev_dlq_reader *r, const char *only_topic, int ti, int32_t p0, int64_t end0,
                     int limit, json_t *page, char next[EV_DLQ_CURSOR_LEN], char *err,
                     size_t errlen)
{
    const char *topic;
    for (bool first = true; (topic = ev_topology_dlq_at((size_t)ti)); ti++, first = false) {
        if (only_topic && strcmp(only_topic, topic) != 0)
            continue;
        int n = partition_count(r, topic, err, errlen);
        if (n < 0)
            return -1;
        for (int32_t p = first ? p0 : 0; p < n; p++) {
            int64_t low, high;
            if (watermarks(r, topic, p, &low, &high, err, errlen) != 0)
                return -1;
            int64_t end = first && p == p0 && end0 >= 0 && end0 < high ? end0 : high;
            int room = limit - (int)json_array_size(page);
            int64_t start = end - room > low ? end - room : low;
            if (start < end && append_newest_first(r, topic, p, start, end, page, err, errlen) < 0)
                return -1;
            if ((int)json_array_size(page) == limit) {
                snprintf(next, EV_DLQ_CURSOR_LEN, "%s:%d:%" PRId64, topic, p, start);
                return 0;
            }
        }
    }
    return 0;
}

json_t *ev_dlq_page(ev_dlq_reader *r, const char *only_topic, const char *cursor, int limit,
                    char next[EV_DLQ_CURSOR_LEN], bool *bad_input, char *err, size_t errlen)
{
    next[0] = '\0';
    *bad_input = true;
    int ti = 0;
    int32_t p0 = 0;
    int64_t o0 = -1; /* from each partition's end */
    if (limit < 1 || limit > EV_DLQ_PAGE_MAX) {
        ev_fail(err, errlen, "limit must be between 1 and %d", EV_DLQ_PAGE_MAX);
        return NULL;
    }
    if (only_topic && !ev_dlq_known(only_topic)) {
        ev_fail(err, errlen, "topic must be one of the DLQ topics");
        return NULL;
    }
    if (cursor && *cursor && !ev_dlq_cursor_parse(cursor, &ti, &p0, &o0)) {
        ev_fail(err, errlen, "cursor must be a nextCursor this API gave");
        return NULL;
    }
    *bad_input = false;
    json_t *page = json_array();
    pthread_mutex_lock(&r->lock);
    int rc = fill_page(r, only_topic, ti, p0, o0, limit, page, next, err, errlen);
    pthread_mutex_unlock(&r->lock);
    if (rc != 0) {
        json_decref(page);
        return NULL;
    }
    return page;
}

static int keep_first(json_t *letter, void *user)
{
    *(json_t **)user = letter;
    return 1;
}

json_t *ev_dlq_get(ev_dlq_reader *r, const char *topic, int32_t partition, int64_t offset,
                   bool *missing, char *err, size_t errlen)
{
    *missing = false;
    json_t *letter = NULL;
    int64_t low = 0, high = 0;
    pthread_mutex_lock(&r->lock);
    /* A partition the topic does not have holds no letter: missing, not an error of Kafka. */
    int partitions = partition_count(r, topic, err, errlen);
    int rc = partitions < 0 ? -1 : 0;
    if (rc == 0 && partition < partitions)
        rc = watermarks(r, topic, partition, &low, &high, err, errlen);
    if (rc == 0 && offset >= low && offset < high) {
        range_read rr = {.topic = topic,
                         .partition = partition,
                         .from = offset,
                         .high = offset + 1,
                         .max = 1,
                         .with_value = true,
                         .visit = keep_first,
                         .user = &letter};
        rc = read_range(r, &rr, err, errlen) < 0 ? -1 : 0;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc == 0 && !letter) {
        *missing = true;
        ev_fail(err, errlen, "no letter at %s[%d]@%" PRId64, topic, partition, offset);
    }
    return letter;
}

int ev_dlq_scan(ev_dlq_reader *r, const char *dlq_topic, ev_dlq_visit_fn visit, void *user,
                char *err, size_t errlen)
{
    int count = 0;
    pthread_mutex_lock(&r->lock);
    int n = partition_count(r, dlq_topic, err, errlen);
    if (n < 0)
        count = -1;
    for (int32_t p = 0; count >= 0 && p < n; p++) {
        int64_t low, high;
        if (watermarks(r, dlq_topic, p, &low, &high, err, errlen) != 0) {
            count = -1;
            break;
        }
        range_read rr = {.topic = dlq_topic,
                         .partition = p,
                         .from = low,
                         .high = high,
                         .max = INT32_MAX,
                         .with_value = true,
                         .visit = visit,
                         .user = user};
        int got = low < high ? read_range(r, &rr, err, errlen) : 0;
        count = got < 0 ? -1 : count + got;
        if (rr.stopped)
            break;
    }
    pthread_mutex_unlock(&r->lock);
    return count;
}

typedef struct {
    ev_producer *producer;
    const char *dlq_topic;
    ev_dlq_replayed_fn on_replayed;
    void *user;
    int replayed;
    int failed;
    char why[256]; /* the first failure */
} replay_ctx;

static void replay_failed(replay_ctx *r, const json_t *letter, const char *why)
{
    ev_warn("letter %s[%lld]@%lld %s: not replayed", r->dlq_topic,
            (long long)json_integer_value(json_object_get(letter, "partition")),
            (long long)json_integer_value(json_object_get(letter, "offset")), why);
    if (r->failed++ == 0)
        snprintf(r->why, sizeof r->why, "%s", why);
}

static int replay_one(json_t *letter, void *user)
{
    replay_ctx *r = user;
    json_int_t partition = json_integer_value(json_object_get(letter, "partition"));
    json_int_t offset = json_integer_value(json_object_get(letter, "offset"));
    const char *origin = json_string_value(json_object_get(letter, "originTopic"));
    const char *consumer = json_string_value(json_object_get(letter, "consumer"));
    const char *key = json_string_value(json_object_get(letter, "key"));
    const json_t *value = json_object_get(letter, "value");
    char from[128];
    snprintf(from, sizeof from, "%s:%lld:%lld", r->dlq_topic, (long long)partition,
             (long long)offset);
    if (!origin) {
        replay_failed(r, letter, "has no origin topic");
    } else if (!consumer || !*consumer) {
        /* Without the group that failed it, a replay would reach every consumer again. */
        replay_failed(r, letter, "has no consumer header");
    } else if (!json_is_string(value)) {
        replay_failed(r, letter, "is not UTF-8");
    } else {
        /* The replay joins the letter's own trace (its span is a child of the context the
         * letter carried) and links to whoever asked for it (the current context). */
        const char *original = json_string_value(json_object_get(letter, "traceparent"));
        ev_trace_ctx parent;
        bool has_parent =
            original && ev_traceparent_parse(original, strlen(original), &parent) == 0;
        char name[96], traceparent[EV_TRACEPARENT_SIZE];
        snprintf(name, sizeof name, "replay %s", origin);
        ev_span *span = ev_span_start(name, EV_SPAN_PRODUCER, has_parent ? &parent : NULL);
        ev_span_link(span, ev_trace_current());
        ev_span_attr_str(span, "messaging.system", "kafka");
        ev_span_attr_str(span, "messaging.operation.type", "send");
        ev_span_attr_str(span, "messaging.destination.name", origin);
        ev_span_attr_str(span, "eventify.replayed_from", from);
        ev_span_attr_str(span, "eventify.replay_for", consumer);
        ev_traceparent_format(ev_span_context(span), traceparent);
        ev_header headers[] = {
            {"x-replayed-from", from}, {EV_REPLAY_FOR, consumer}, {"traceparent", traceparent}};
        ev_message msg = {.topic = origin,
                          .key = key && *key ? key : NULL,
                          .value = json_string_value(value),
                          .value_len = json_string_length(value),
                          .headers = headers,
                          .header_count = 3};
        bool delivered = false;
        bool sent = ev_producer_send(r->producer, &msg, 1, &delivered) == 1;
        if (!sent)
            ev_span_error(span, "not delivered to its origin topic");
        ev_span_end(span);
        if (sent) {
            r->replayed++;
            if (r->on_replayed)
                r->on_replayed(letter, r->user);
        } else {
            replay_failed(r, letter, "was not delivered to its origin topic");
        }
    }
    json_decref(letter);
    return 0;
}

int ev_dlq_replay(ev_dlq_reader *rd, ev_producer *producer, const char *dlq_topic,
                  int32_t partition, int64_t offset, ev_dlq_replayed_fn on_replayed, void *user,
                  bool *missing, char *err, size_t errlen)
{
    *missing = false;
    if (!ev_dlq_known(dlq_topic))
        return ev_fail(err, errlen, "%s is not a DLQ topic", dlq_topic ? dlq_topic : "(null)");
    replay_ctx r = {
        .producer = producer, .dlq_topic = dlq_topic, .on_replayed = on_replayed, .user = user};
    if (offset >= 0) {
        json_t *letter = ev_dlq_get(rd, dlq_topic, partition, offset, missing, err, errlen);
        if (!letter)
            return -1;
        replay_one(letter, &r);
    } else if (ev_dlq_scan(rd, dlq_topic, replay_one, &r, err, errlen) < 0) {
        return -1;
    }
    if (r.failed)
        return ev_fail(err, errlen, "%d letter(s) could not be replayed (%d were): %s", r.failed,
                       r.replayed, r.why);
    return r.replayed;
}
