/* DLQ scan and replay; see ev/dlq.h. A scan uses a throw-away consumer with assign(): it
 * joins no group and commits nothing, so it never disturbs a service's consumer group. */
#include "ev/dlq.h"
#include "ev/log.h"
#include "ev/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_TIMEOUT_MS 10000
#define MAX_PARTITIONS 64

const char *const ev_dlq_topics[] = {
    "order.dlq",    "orchestrator.dlq", "inventory.dlq",    "shipping.dlq",
    "payments.dlq", "read-model.dlq",   "notification.dlq", NULL};

static rd_kafka_t *scanner(const char *brokers, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256], group[64], id[EV_UUID_LEN];
    ev_uuid_new(id);
    snprintf(group, sizeof group, "eventify-dlq-scan-%s", id);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) ||
        rd_kafka_conf_set(conf, "group.id", group, why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "false", why, sizeof why)) {
        rd_kafka_conf_destroy(conf);
        ev_fail(err, errlen, "Kafka setting: %s", why);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        ev_fail(err, errlen, "Kafka consumer: %s", why);
    }
    return rk;
}

static json_t *header_string(const rd_kafka_message_t *m, const char *name)
{
    char value[1024];
    return ev_message_header(m, name, value, sizeof value) ? json_string(value) : json_null();
}

static json_t *header_int(const rd_kafka_message_t *m, const char *name)
{
    char value[32];
    return ev_message_header(m, name, value, sizeof value) ? json_integer(strtoll(value, NULL, 10))
                                                           : json_null();
}

/* The letter as JSON; eventType and eventId come from the value when it is an envelope. */
static json_t *letter_json(const rd_kafka_message_t *m)
{
    json_t *value = json_loadb(m->payload, m->len, 0, NULL);
    json_t *type = json_object_get(value, "eventType");
    json_t *id = json_object_get(value, "eventId");
    json_t *letter = json_pack(
        "{s:s, s:i, s:I, s:s%, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O?, s:O?, s:s%}", "topic",
        rd_kafka_topic_name(m->rkt), "partition", m->partition, "offset", (json_int_t)m->offset,
        "key", m->key ? (const char *)m->key : "", m->key ? m->key_len : 0, "originTopic",
        header_string(m, "x-origin-topic"), "originPartition", header_int(m, "x-origin-partition"),
        "originOffset", header_int(m, "x-origin-offset"), "error", header_string(m, "x-error"),
        "attempts", header_int(m, "x-attempts"), "consumer", header_string(m, "x-consumer"),
        "failedAt", header_string(m, "x-failed-at"), "eventType",
        json_is_string(type) ? type : NULL, "eventId", json_is_string(id) ? id : NULL, "value", "",
        (size_t)0);
    json_decref(value);
    /* A value that is not UTF-8 cannot be a JSON string: listed as null, not replayable. */
    json_t *raw = m->payload ? json_stringn(m->payload, m->len) : json_string("");
    if (letter)
        json_object_set_new(letter, "value", raw ? raw : json_null());
    return letter;
}

/* Assigns every partition of topic from its start; *remaining counts messages to read. */
static int assign_all(rd_kafka_t *rk, const char *topic, int64_t *high, int *partitions,
                      int64_t *remaining, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, t, &md, SCAN_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (rc || md->topic_cnt != 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return ev_fail(err, errlen, "topic %s: %s", topic,
                       rc ? rd_kafka_err2str(rc) : "unknown topic");
    }
    int n =
        md->topics[0].partition_cnt < MAX_PARTITIONS ? md->topics[0].partition_cnt : MAX_PARTITIONS;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    *remaining = 0;
    for (int p = 0; p < n; p++) {
        int64_t low = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], SCAN_TIMEOUT_MS)) {
            rd_kafka_topic_partition_list_destroy(list);
            return ev_fail(err, errlen, "cannot read the offsets of %s[%d]", topic, p);
        }
        if (high[p] > low) {
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = low;
            *remaining += high[p] - low;
        }
    }
    *partitions = n;
    rc = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    return rc ? ev_fail(err, errlen, "assign %s: %s", topic, rd_kafka_err2str(rc)) : 0;
}

int ev_dlq_scan(const char *brokers, const char *dlq_topic, ev_dlq_visit_fn visit, void *user,
                char *err, size_t errlen)
{
    rd_kafka_t *rk = scanner(brokers, err, errlen);
    if (!rk)
        return -1;
    int64_t high[MAX_PARTITIONS] = {0}, remaining = 0;
    int partitions = 0, count = 0;
    if (assign_all(rk, dlq_topic, high, &partitions, &remaining, err, errlen) != 0)
        count = -1;
    int64_t deadline = ev_monotonic_ms() + SCAN_TIMEOUT_MS;
    while (count >= 0 && remaining > 0) {
        if (ev_monotonic_ms() > deadline) {
            count = ev_fail(err, errlen, "timed out reading %s", dlq_topic);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err && m->partition < partitions && m->offset < high[m->partition]) {
            remaining--;
            json_t *letter = letter_json(m);
            if (letter && visit(letter, user) == 0)
                count++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}

typedef struct {
    ev_producer *producer;
    int32_t partition;
    int64_t offset;
    const char *dlq_topic;
    int replayed;
    int failed;
} replay_ctx;

static int replay_one(json_t *letter, void *user)
{
    replay_ctx *r = user;
    json_int_t partition = json_integer_value(json_object_get(letter, "partition"));
    json_int_t offset = json_integer_value(json_object_get(letter, "offset"));
    const char *origin = json_string_value(json_object_get(letter, "originTopic"));
    if (r->offset >= 0 && (partition != r->partition || offset != r->offset)) {
        json_decref(letter);
        return 0;
    }
    if (!origin) {
        ev_warn("letter %s[%lld]@%lld has no origin topic: not replayed", r->dlq_topic,
                (long long)partition, (long long)offset);
        r->failed++;
        json_decref(letter);
        return 0;
    }
    char from[128];
    snprintf(from, sizeof from, "%s:%lld:%lld", r->dlq_topic, (long long)partition,
             (long long)offset);
    ev_header headers[] = {{"x-replayed-from", from}};
    const char *key = json_string_value(json_object_get(letter, "key"));
    const char *value = json_string_value(json_object_get(letter, "value"));
    if (!value) {
        ev_warn("letter %s[%lld]@%lld is not UTF-8: not replayed", r->dlq_topic,
                (long long)partition, (long long)offset);
        r->failed++;
        json_decref(letter);
        return 0;
    }
    ev_message msg = {.topic = origin,
                      .key = key && *key ? key : NULL,
                      .value = value,
                      .value_len = json_string_length(json_object_get(letter, "value")),
                      .headers = headers,
                      .header_count = 1};
    bool delivered = false;
    if (ev_producer_send(r->producer, &msg, 1, &delivered) == 1)
        r->replayed++;
    else
        r->failed++;
    json_decref(letter);
    return 0;
}

int ev_dlq_replay(const char *brokers, ev_producer *producer, const char *dlq_topic,
                  int32_t partition, int64_t offset, char *err, size_t errlen)
{
    replay_ctx r = {producer, partition, offset, dlq_topic, 0, 0};
    if (ev_dlq_scan(brokers, dlq_topic, replay_one, &r, err, errlen) < 0)
        return -1;
    if (r.failed)
        return ev_fail(err, errlen, "%d letter(s) could not be replayed (%d were)", r.failed,
                       r.replayed);
    if (offset >= 0 && r.replayed == 0)
        return ev_fail(err, errlen, "no letter at %s[%d]@%lld", dlq_topic, partition,
                       (long long)offset);
    return r.replayed;
}
