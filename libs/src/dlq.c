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

/* A size header as an integer; null when absent or not a size. */
static json_t *header_size(const rd_kafka_message_t *m, const char *name)
{
    const void *value = NULL;
    size_t size = 0;
    int64_t n;
    return ev_message_header_raw(m, name, &value, &size) &&
                   ev_parse_int(value, size, 0, INT64_MAX, &n)
               ? json_integer((json_int_t)n)
               : json_null();
}

/* True when m's key and value are those of the message that failed, as its headers tell
 * (ev_letter_whole); else false with why. */
static bool letter_whole(const rd_kafka_message_t *m, char *why, size_t whylen)
{
    static const char *const names[] = {EV_DLQ_ORIGINAL_SIZE, EV_DLQ_ORIGINAL_SHA256,
                                        EV_DLQ_ORIGINAL_KEY_SIZE};
    ev_raw_header headers[3];
    size_t n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        headers[n].name = names[i];
        if (ev_message_header_raw(m, names[i], &headers[n].value, &headers[n].size))
            n++;
    }
    return ev_letter_whole(headers, n, m->key ? m->key_len : 0, m->payload, m->len, why, whylen);
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
    char why[256];
    if (letter) {
        json_object_set_new(letter, "traceparent", header_string(m, "traceparent"));
        json_object_set_new(letter, "originalBytes", header_size(m, EV_DLQ_ORIGINAL_SIZE));
        json_object_set_new(letter, "originalKeyBytes", header_size(m, EV_DLQ_ORIGINAL_KEY_SIZE));
        json_object_set_new(letter, "cut", json_boolean(!letter_whole(m, why, sizeof why)));
    }
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

/* Told about each message read (borrowed for the call); a non-zero return stops the read. */
typedef int (*message_fn)(const rd_kafka_message_t *m, void *user);

/* What to read from one partition, and where the reading got to. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t from; /* first offset wanted */
    int64_t high; /* end offset when the read started: nothing at or after it is read */
    int max;      /* most letters to visit */
    message_fn visit;
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
            visited++;
            if (rr->visit(m, rr->user) != 0)
                rr->stopped = true;
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

/* Hands the messages of a read to a visitor of letters as JSON. */
typedef struct {
    ev_dlq_visit_fn visit;
    void *user;
    bool with_value;
} letter_visit;

static int visit_letter(const rd_kafka_message_t *m, void *user)
{
    letter_visit *v = user;
    json_t *letter = letter_json(m, v->with_value);
    if (!letter) {
        ev_warn("letter %s[%d]@%lld cannot be shown: out of memory", rd_kafka_topic_name(m->rkt),
                m->partition, (long long)m->offset);
        return 0;
    }
    return v->visit(letter, v->user);
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
    letter_visit v = {.visit = append, .user = chunk};
    range_read rr = {.topic = topic,
                     .partition = p,
                     .from = start,
                     .high = end,
                     .max = (int)(end - start),
                     .visit = visit_letter,
                     .user = &v};
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

/* Visits the message at (topic, partition, offset). Returns 0 (*missing set when there is no
 * such message) or -1 with err. */
static int read_one(ev_dlq_reader *r, const char *topic, int32_t partition, int64_t offset,
                    message_fn visit, void *user, bool *missing, char *err, size_t errlen)
{
    *missing = false;
    int64_t low = 0, high = 0;
    pthread_mutex_lock(&r->lock);
    /* A partition the topic does not have holds no letter: missing, not an error of Kafka. */
    int partitions = partition_count(r, topic, err, errlen);
    int rc = partitions < 0 ? -1 : 0;
    if (rc == 0 && partition < partitions)
        rc = watermarks(r, topic, partition, &low, &high, err, errlen);
    int got = 0;
    if (rc == 0 && offset >= low && offset < high) {
        range_read rr = {.topic = topic,
                         .partition = partition,
                         .from = offset,
                         .high = offset + 1,
                         .max = 1,
                         .visit = visit,
                         .user = user};
        got = read_range(r, &rr, err, errlen);
        rc = got < 0 ? -1 : 0;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc == 0 && got == 0) {
        *missing = true;
        ev_fail(err, errlen, "no letter at %s[%d]@%" PRId64, topic, partition, offset);
    }
    return rc;
}

json_t *ev_dlq_get(ev_dlq_reader *r, const char *topic, int32_t partition, int64_t offset,
                   bool *missing, char *err, size_t errlen)
{
    json_t *letter = NULL;
    letter_visit v = {.visit = keep_first, .user = &letter, .with_value = true};
    if (read_one(r, topic, partition, offset, visit_letter, &v, missing, err, errlen) == 0 &&
        !letter && !*missing)
        ev_fail(err, errlen, "out of memory");
    return letter;
}

/* Visits every message of topic present when the call starts, oldest first per partition.
 * Returns the number visited, or -1 with err. */
static int scan(ev_dlq_reader *r, const char *topic, message_fn visit, void *user, char *err,
                size_t errlen)
{
    int count = 0;
    pthread_mutex_lock(&r->lock);
    int n = partition_count(r, topic, err, errlen);
    if (n < 0)
        count = -1;
    for (int32_t p = 0; count >= 0 && p < n; p++) {
        int64_t low, high;
        if (watermarks(r, topic, p, &low, &high, err, errlen) != 0) {
            count = -1;
            break;
        }
        range_read rr = {.topic = topic,
                         .partition = p,
                         .from = low,
                         .high = high,
                         .max = INT32_MAX,
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

int ev_dlq_scan(ev_dlq_reader *r, const char *dlq_topic, ev_dlq_visit_fn visit, void *user,
                char *err, size_t errlen)
{
    letter_visit v = {.visit = visit, .user = user, .with_value = true};
    return scan(r, dlq_topic, visit_letter, &v, err, errlen);
}

typedef struct {
    ev_producer *producer;
    const char *dlq_topic;
    ev_dlq_replayed_fn on_replayed;
    void *user;
    int replayed;
    int refused; /* letters that cannot be replayed as they are */
    int undelivered;
    char why[256]; /* the first failure */
} replay_ctx;

static void replay_failed(replay_ctx *r, const rd_kafka_message_t *m, bool refused, const char *why)
{
    ev_warn("letter %s[%d]@%lld %s: not replayed", r->dlq_topic, m->partition, (long long)m->offset,
            why);
    if (r->refused + r->undelivered == 0)
        snprintf(r->why, sizeof r->why, "%s", why);
    if (refused)
        r->refused++;
    else
        r->undelivered++;
}

/* True when the value can be a JSON string: what every event is. */
static bool value_is_text(const rd_kafka_message_t *m)
{
    if (!m->payload)
        return true;
    json_t *text = json_stringn(m->payload, m->len);
    json_decref(text);
    return text != NULL;
}

/* Sends a copy of the letter m to origin for consumer: the message's own key and value bytes,
 * never the letter's JSON, which holds no key that is not UTF-8. True once delivered. */
static bool send_copy(replay_ctx *r, const rd_kafka_message_t *m, const char *origin,
                      const char *consumer, const char *original_traceparent)
{
    char from[128];
    snprintf(from, sizeof from, "%s:%d:%lld", r->dlq_topic, m->partition, (long long)m->offset);
    /* The replay joins the letter's own trace (its span is a child of the context the
     * letter carried) and links to whoever asked for it (the current context). */
    ev_trace_ctx parent;
    bool has_parent =
        original_traceparent &&
        ev_traceparent_parse(original_traceparent, strlen(original_traceparent), &parent) == 0;
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
                      .key = m->key && m->key_len ? m->key : NULL,
                      .key_len = m->key ? m->key_len : 0,
                      .value = m->payload ? m->payload : "",
                      .value_len = m->len,
                      .headers = headers,
                      .header_count = 3};
    bool delivered = false;
    bool sent = ev_producer_send(r->producer, &msg, 1, &delivered) == 1;
    if (!sent)
        ev_span_error(span, "not delivered to its origin topic");
    ev_span_end(span);
    return sent;
}

static int replay_one(const rd_kafka_message_t *m, void *user)
{
    replay_ctx *r = user;
    json_t *letter = letter_json(m, false);
    const char *origin = json_string_value(json_object_get(letter, "originTopic"));
    const char *consumer = json_string_value(json_object_get(letter, "consumer"));
    char why[256] = "was cut";
    if (!letter) {
        replay_failed(r, m, false, "cannot be read: out of memory");
    } else if (!origin) {
        replay_failed(r, m, true, "has no origin topic");
    } else if (!consumer || !*consumer) {
        /* Without the group that failed it, a replay would reach every consumer again. */
        replay_failed(r, m, true, "has no consumer header");
    } else if (!value_is_text(m)) {
        replay_failed(r, m, true, "is not UTF-8");
    } else if (json_is_true(json_object_get(letter, "cut"))) {
        /* Its prefix, or a shortened key, would be handled as if it were what failed.
         * Checked again only for why: letter_json has hashed the value already. */
        (void)letter_whole(m, why, sizeof why);
        replay_failed(r, m, true, why);
    } else if (!send_copy(r, m, origin, consumer,
                          json_string_value(json_object_get(letter, "traceparent")))) {
        replay_failed(r, m, false, "was not delivered to its origin topic");
    } else {
        r->replayed++;
        if (r->on_replayed)
            r->on_replayed(letter, r->user);
    }
    json_decref(letter);
    return 0;
}

int ev_dlq_replay(ev_dlq_reader *rd, ev_producer *producer, const char *dlq_topic,
                  int32_t partition, int64_t offset, ev_dlq_replayed_fn on_replayed, void *user,
                  int *refused, ev_dlq_replay_failure *failure, char *err, size_t errlen)
{
    *failure = EV_DLQ_REPLAY_UNAVAILABLE;
    *refused = 0;
    if (!ev_dlq_known(dlq_topic)) {
        *failure = EV_DLQ_REPLAY_MISSING;
        return ev_fail(err, errlen, "%s is not a DLQ topic", dlq_topic ? dlq_topic : "(null)");
    }
    replay_ctx r = {
        .producer = producer, .dlq_topic = dlq_topic, .on_replayed = on_replayed, .user = user};
    bool missing = false;
    int rc = offset >= 0
                 ? read_one(rd, dlq_topic, partition, offset, replay_one, &r, &missing, err, errlen)
                 : scan(rd, dlq_topic, replay_one, &r, err, errlen);
    if (missing)
        *failure = EV_DLQ_REPLAY_MISSING;
    if (rc < 0 || missing)
        return -1;
    *refused = r.refused;
    if (r.refused + r.undelivered == 0)
        return r.replayed;
    if (offset < 0 && r.undelivered == 0) {
        /* A refused letter stays refused: "all" means every letter that can be replayed. */
        snprintf(err, errlen, "%s", r.why);
        return r.replayed;
    }
    /* Sending again may work where a copy was not delivered. */
    if (r.undelivered == 0)
        *failure = EV_DLQ_REPLAY_REFUSED;
    return ev_fail(err, errlen, "%d letter(s) could not be replayed (%d were): %s",
                   r.refused + r.undelivered, r.replayed, r.why);
}
