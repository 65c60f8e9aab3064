/* librdkafka producer and consumer wrappers; see ev/kafka.h. */
#include "ev/kafka.h"
#include "ev/log.h"
#include "ev/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVERY_TIMEOUT_MS "10000"
#define EV_STR_(x) #x
#define EV_STR(x) EV_STR_(x)

/* A retired librdkafka handle: replaced after a fatal error, freed with the producer, as
 * other threads (ev_producer_handle) may still be using it. */
typedef struct retired {
    rd_kafka_t *rk;
    struct retired *next;
} retired;

struct ev_producer {
    _Atomic(rd_kafka_t *) rk;
    pthread_mutex_t send_lock; /* one batch in flight at a time keeps reports unambiguous */
    char *brokers, *client_id; /* to build a new handle after a fatal error */
    retired *retired;          /* under send_lock */
};

/* One per ev_producer_send call; each message's opaque points at its flag in here. */
typedef struct {
    atomic_size_t pending;
    rd_kafka_resp_err_t *errs;
} send_batch;

typedef struct {
    send_batch *batch;
    size_t index;
} delivery_slot;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery_slot *slot = msg->_private;
    if (!slot)
        return;
    slot->batch->errs[slot->index] = msg->err;
    if (msg->err)
        ev_warn("delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
                rd_kafka_err2str(msg->err));
    atomic_fetch_sub(&slot->batch->pending, 1);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
        return ev_fail(err, errlen, "Kafka setting %s=%s: %s", name, value, why);
    return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    ev_log(level <= 3   ? EV_LOG_ERROR
           : level <= 5 ? EV_LOG_WARN
                        : EV_LOG_DEBUG,
           NULL, NULL, "kafka %s: %s", fac, buf);
}

/* A new idempotent producer handle; NULL with err on failure. */
static rd_kafka_t *new_handle(const char *brokers, const char *client_id, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
        conf_set(conf, "client.id", client_id, err, errlen) ||
        conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        conf_set(conf, "acks", "all", err, errlen) ||
        conf_set(conf, "linger.ms", "2", err, errlen) ||
        conf_set(conf, "message.timeout.ms", DELIVERY_TIMEOUT_MS, err, errlen) ||
        conf_set(conf, "message.max.bytes", EV_STR(EV_KAFKA_MESSAGE_MAX), err, errlen) ||
        conf_set(conf, "reconnect.backoff.max.ms", "1000", err, errlen) ||
        conf_set(conf, "queue.buffering.max.kbytes", "16384", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        ev_fail(err, errlen, "Kafka producer: %s", why);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

ev_producer *ev_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen)
{
    ev_producer *p = calloc(1, sizeof *p);
    if (!p || !(p->brokers = strdup(brokers)) || !(p->client_id = strdup(client_id))) {
        ev_fail(err, errlen, "out of memory");
        if (p)
            free(p->brokers);
        free(p);
        return NULL;
    }
    rd_kafka_t *rk = new_handle(brokers, client_id, err, errlen);
    if (!rk) {
        free(p->brokers);
        free(p->client_id);
        free(p);
        return NULL;
    }
    atomic_init(&p->rk, rk);
    pthread_mutex_init(&p->send_lock, NULL);
    return p;
}

void ev_producer_free(ev_producer *p)
{
    if (!p)
        return;
    rd_kafka_flush(atomic_load(&p->rk), 5000);
    rd_kafka_destroy(atomic_load(&p->rk));
    while (p->retired) {
        retired *r = p->retired;
        p->retired = r->next;
        rd_kafka_destroy(r->rk);
        free(r);
    }
    pthread_mutex_destroy(&p->send_lock);
    free(p->brokers);
    free(p->client_id);
    free(p);
}

/* An idempotent producer that hit a fatal error (librdkafka 2.0.2 can, e.g. on a sequence
 * desynchronization after broker failures) refuses every later message. The messages of the
 * failed batch were reported as not delivered, so the outbox sends them again: a new handle
 * (a new producer id) is safe. Called under send_lock after a batch. */
static void replace_if_fatal(ev_producer *p)
{
    char why[512];
    rd_kafka_t *old = atomic_load(&p->rk);
    if (rd_kafka_fatal_error(old, why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    char err[512];
    retired *r = calloc(1, sizeof *r);
    rd_kafka_t *fresh = r ? new_handle(p->brokers, p->client_id, err, sizeof err) : NULL;
    if (!fresh) {
        ev_error("Kafka producer fatal error (%s); cannot replace it yet: %s", why,
                 r ? err : "out of memory");
        free(r);
        return;
    }
    ev_error("Kafka producer fatal error (%s): replaced by a new producer", why);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    r->rk = old;
    r->next = p->retired;
    p->retired = r;
    atomic_store(&p->rk, fresh);
}

static rd_kafka_resp_err_t produce_one(ev_producer *p, const ev_message *m, delivery_slot *slot)
{
    size_t key_len = m->key ? (m->key_len ? m->key_len : strlen(m->key)) : 0;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(m->header_count);
    for (size_t h = 0; h < m->header_count; h++)
        rd_kafka_header_add(hdrs, m->headers[h].name, -1, m->headers[h].value, -1);
    for (;;) {
        rd_kafka_resp_err_t rc = rd_kafka_producev(
            atomic_load(&p->rk), RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, key_len),
            RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (rc) /* on failure ownership of the headers stays with us */
                rd_kafka_headers_destroy(hdrs);
            return rc;
        }
        rd_kafka_poll(atomic_load(&p->rk), 50); /* serve delivery reports to make room */
    }
}

size_t ev_producer_send_each(ev_producer *p, const ev_message *msgs, size_t n,
                             rd_kafka_resp_err_t *errs)
{
    if (n == 0)
        return 0;
    delivery_slot *slots = calloc(n, sizeof *slots);
    if (!slots) {
        for (size_t i = 0; i < n; i++)
            errs[i] = RD_KAFKA_RESP_ERR__FAIL;
        return 0;
    }
    send_batch batch = {.errs = errs};
    atomic_init(&batch.pending, 0);

    pthread_mutex_lock(&p->send_lock);
    for (size_t i = 0; i < n; i++) {
        errs[i] = RD_KAFKA_RESP_ERR__FAIL;
        slots[i] = (delivery_slot){&batch, i};
        atomic_fetch_add(&batch.pending, 1);
        rd_kafka_resp_err_t rc = produce_one(p, &msgs[i], &slots[i]);
        if (rc) {
            atomic_fetch_sub(&batch.pending, 1);
            errs[i] = rc;
            ev_warn("produce to %s failed: %s", msgs[i].topic, rd_kafka_err2str(rc));
        }
    }
    /* Every queued message gets exactly one report, success or timeout, so this ends. */
    while (atomic_load(&batch.pending) > 0)
        rd_kafka_poll(atomic_load(&p->rk), 100);
    replace_if_fatal(p);
    pthread_mutex_unlock(&p->send_lock);
    free(slots);

    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += errs[i] == RD_KAFKA_RESP_ERR_NO_ERROR;
    return ok;
}

size_t ev_producer_send(ev_producer *p, const ev_message *msgs, size_t n, bool *delivered)
{
    if (n == 0)
        return 0;
    rd_kafka_resp_err_t *errs = calloc(n, sizeof *errs);
    if (!errs) {
        memset(delivered, 0, n * sizeof *delivered);
        return 0;
    }
    size_t ok = ev_producer_send_each(p, msgs, n, errs);
    for (size_t i = 0; i < n; i++)
        delivered[i] = errs[i] == RD_KAFKA_RESP_ERR_NO_ERROR;
    free(errs);
    return ok;
}

bool ev_kafka_error_too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

bool ev_kafka_error_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:    /* local check or broker */
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: /* batch over the broker's limit */
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:      /* negative or impossible size */
    case RD_KAFKA_RESP_ERR_INVALID_MSG:           /* CRC or format refused by the broker */
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:        /* a record the broker will never accept */
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:       /* invalid topic name */
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return true;
    default: /* timeouts, transport, leadership, unknown topic (it may be created): retry */
        return false;
    }
}

bool ev_producer_reachable(ev_producer *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = rd_kafka_metadata(atomic_load(&p->rk), 0, NULL, &md, timeout_ms);
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc == RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_t *ev_producer_handle(ev_producer *p)
{
    return atomic_load(&p->rk);
}

/* --- consumer -------------------------------------------------------------------------- */

/* A partition the consumer holds, as the stall check last saw it. */
typedef struct {
    char *topic; /* owned */
    int32_t partition;
    int64_t position;        /* where the consumer stood (librdkafka's position; < 0: unset) */
    int64_t still_since_ms;  /* since it has stood there */
    int64_t asked_ms;        /* when the broker was last asked about it; 0: never */
    int64_t behind_since_ms; /* since when every answer said messages wait after it; 0: not */
} watched_partition;

struct ev_consumer {
    rd_kafka_t *rk;
    int64_t last_commit_ms; /* stored offsets are committed at most every COMMIT_EVERY_MS */
    bool uncommitted;
    watched_partition *watched; /* the assignment at the last stall check; owned */
    size_t watched_count;
    int64_t last_check_ms; /* of the last stall check */
};

/* Offsets are stored only after the handler's transaction committed, and the inbox turns a
 * redelivery into a no-op, so this interval bounds only how much a restarted or rebalanced
 * member reads again. Every commit is a request and a __consumer_offsets record per partition
 * moved: at 100 ms the seven consumers made 2.7 of those records per order; 1 s cuts them to
 * about a tenth (docs/benchmarks.md, "What moved the cost"). */
#define COMMIT_EVERY_MS 1000

bool ev_commit_incomplete(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *offsets)
{
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return false;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return true;
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return true;
    return false;
}

/* A commit that failed (the group's coordinator moving or still loading, say) leaves its
 * offsets stored but not committed, and the next commit came only with the partition's next
 * message: at the end of a burst the group's committed offsets stayed behind for good, and a
 * restart read those messages again. Marking them uncommitted makes the next idle flush try
 * again. Called on the polling thread, from rd_kafka_consumer_poll. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    ev_consumer *c = opaque;
    if (c && ev_commit_incomplete(err, offsets))
        c->uncommitted = true;
}

ev_consumer *ev_consumer_new(const char *brokers, const char *group_id, const char *const *topics,
                             size_t topic_count, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
        conf_set(conf, "group.id", group_id, err, errlen) ||
        conf_set(conf, "client.id", group_id, err, errlen) ||
        conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        /* a killed member's partitions move on after 6 s instead of the default 45 s */
        conf_set(conf, "session.timeout.ms", "6000", err, errlen) ||
        /* a third of the session, as Kafka advises: half the idle requests of 1 s */
        conf_set(conf, "heartbeat.interval.ms", "2000", err, errlen) ||
        /* The broker answers a fetch as soon as any data arrives (fetch.min.bytes is 1), so
         * the wait is only the idle long poll: 500 ms (librdkafka's default) instead of 50 ms
         * cut the idle broker's CPU by about a third. 1 s halved the idle fetches again but
         * raised the saga's median latency at 200 orders/s from 145 to 241 ms, most likely
         * because a partition paused while the consumer's queue is full is fetched again only
         * with the next request, once the long poll in flight returns (docs/benchmarks.md,
         * "What moved the cost"). */
        conf_set(conf, "fetch.wait.max.ms", "500", err, errlen) ||
        conf_set(conf, "reconnect.backoff.max.ms", "1000", err, errlen) ||
        /* The prefetch queue is bounded, and one fetch must fit well inside the bound.
         * librdkafka 2.0 stops fetching while the queue holds more than the bound and, with
         * no fetch in flight, looks again only when its broker thread next wakes, up to a
         * second later. A fetch used to bring up to 1 MB into a queue of 256 KB: behind
         * a backlog, every fetch overfilled it and was followed by that second. The read
         * model drained 1,700 events/s at a quarter of a core, and at 500 orders/s the saga
         * carried about 110/s. Fetches of at most 512 KB into a queue of 1 MB: 3,600 events/s,
         * and 460-490 orders/s carried at 500/s on the same stack (docs/benchmarks.md, "the
         * consumer's fetch and its prefetch queue"). A larger message still comes, alone: the
         * broker always returns a fetch's first batch whole. message.max.bytes is the floor
         * librdkafka puts under fetch.max.bytes; the consumer sends no large request. */
        conf_set(conf, "queued.max.messages.kbytes", "1024", err, errlen) ||
        conf_set(conf, "message.max.bytes", "524288", err, errlen) ||
        conf_set(conf, "fetch.max.bytes", "524288", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);

    char why[512];
    ev_consumer *c = calloc(1, sizeof *c);
    if (c)
        rd_kafka_conf_set_opaque(conf, c);
    if (!c || !(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        ev_fail(err, errlen, "Kafka consumer: %s", c ? why : "out of memory");
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);

    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)topic_count);
    for (size_t i = 0; i < topic_count; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (rc) {
        ev_fail(err, errlen, "Kafka subscribe: %s", rd_kafka_err2str(rc));
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    return c;
}

rd_kafka_message_t *ev_consumer_poll(ev_consumer *c, int timeout_ms)
{
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (msg && msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            ev_warn("Kafka consumer: %s", rd_kafka_message_errstr(msg));
        rd_kafka_message_destroy(msg);
        return NULL;
    }
    return msg;
}

bool ev_partition_behind(int64_t position, int64_t low, int64_t high)
{
    return position >= 0 ? high > position : high > low;
}

static void free_watched(watched_partition *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i].topic);
    free(w);
}

/* The assignment with its positions; a partition still where the previous check (old) saw it
 * keeps what that check knew of it. NULL with *n 0 when there is nothing to watch or no
 * memory. */
static watched_partition *watch_positions(const rd_kafka_topic_partition_list_t *now_at,
                                          const watched_partition *old, size_t old_count,
                                          int64_t now, size_t *n)
{
    *n = 0;
    watched_partition *w = now_at->cnt > 0 ? calloc((size_t)now_at->cnt, sizeof *w) : NULL;
    if (!w)
        return NULL;
    for (int i = 0; i < now_at->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &now_at->elems[i];
        watched_partition p = {.topic = strdup(tp->topic),
                               .partition = tp->partition,
                               .position = tp->offset,
                               .still_since_ms = now};
        if (!p.topic) {
            free_watched(w, *n);
            *n = 0;
            return NULL;
        }
        for (size_t k = 0; k < old_count; k++)
            if (old[k].partition == p.partition && old[k].position == p.position &&
                strcmp(old[k].topic, p.topic) == 0) {
                p.still_since_ms = old[k].still_since_ms;
                p.asked_ms = old[k].asked_ms;
                p.behind_since_ms = old[k].behind_since_ms;
            }
        w[(*n)++] = p;
    }
    return w;
}

typedef enum { CAUGHT_UP, BEHIND, NO_ANSWER } partition_state;

/* Whether partition p, which has stood still, has messages after where it stands: after its
 * position, or, with nothing delivered since the assignment, after the committed offset from
 * which fetching starts (a partition never committed reads from its start). */
static partition_state ask_broker(rd_kafka_t *rk, const watched_partition *p, int timeout_ms,
                                  int64_t *from, int64_t *high)
{
    *from = p->position;
    if (*from < 0) {
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
        bool known = rd_kafka_committed(rk, one, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     one->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        *from = one->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(one);
        if (!known)
            return NO_ANSWER;
    }
    int64_t low = 0;
    if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &low, high, timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return NO_ANSWER;
    return ev_partition_behind(*from, low, *high) ? BEHIND : CAUGHT_UP;
}

bool ev_consumer_stalled(ev_consumer *c, int idle_ms, int timeout_ms, char *what, size_t n)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(c->rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    int64_t now = ev_monotonic_ms();
    /* After a long gap the caller was not polling (its thread waited for PostgreSQL, say): a
     * partition could not move, so every clock starts again. */
    bool polled = now - c->last_check_ms <= idle_ms / 3;
    c->last_check_ms = now;
    size_t count = 0;
    watched_partition *w = NULL;
    if (rd_kafka_position(c->rk, assigned) == RD_KAFKA_RESP_ERR_NO_ERROR)
        w = watch_positions(assigned, polled ? c->watched : NULL, polled ? c->watched_count : 0,
                            now, &count);
    rd_kafka_topic_partition_list_destroy(assigned);
    free_watched(c->watched, c->watched_count);
    c->watched = w;
    c->watched_count = count;

    /* A partition still for half the idle time is asked about, again every half of it; it is
     * stuck once every answer for idle_ms said messages wait. A single answer is not enough:
     * a message may have arrived just before (or while the broker was away) and be on its
     * way. Caught up, or no answer (its leader away): the count starts again. After one
     * unanswered question the rest wait for the next call: with the brokers away each would
     * hold the caller's loop for timeout_ms. */
    int64_t ask_every = idle_ms / 2;
    for (size_t i = 0; i < count; i++) {
        if (now - w[i].still_since_ms < ask_every || now - w[i].asked_ms < ask_every)
            continue;
        w[i].asked_ms = now;
        int64_t from = 0, high = 0;
        partition_state state = ask_broker(c->rk, &w[i], timeout_ms, &from, &high);
        if (state != BEHIND) {
            w[i].behind_since_ms = 0;
            if (state == NO_ANSWER)
                break;
        } else if (w[i].behind_since_ms == 0) {
            w[i].behind_since_ms = now;
        } else if (now - w[i].behind_since_ms >= idle_ms) {
            snprintf(what, n, "%s[%d] at offset %lld of %lld", w[i].topic, (int)w[i].partition,
                     (long long)from, (long long)high);
            return true;
        }
    }
    return false;
}

static void commit_stored(ev_consumer *c, bool async)
{
    rd_kafka_resp_err_t rc = rd_kafka_commit(c->rk, NULL, async);
    if (rc && rc != RD_KAFKA_RESP_ERR__NO_OFFSET)
        ev_warn("offset commit failed: %s", rd_kafka_err2str(rc));
    c->uncommitted = false;
    c->last_commit_ms = ev_monotonic_ms();
}

int ev_consumer_commit(ev_consumer *c, const rd_kafka_message_t *msg)
{
    rd_kafka_resp_err_t rc = rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
    if (rc) {
        ev_warn("offset store failed: %s", rd_kafka_err2str(rc));
        return -1;
    }
    c->uncommitted = true;
    if (ev_monotonic_ms() - c->last_commit_ms >= COMMIT_EVERY_MS)
        commit_stored(c, true);
    return 0;
}

void ev_consumer_flush_commits(ev_consumer *c)
{
    if (c->uncommitted && ev_monotonic_ms() - c->last_commit_ms >= COMMIT_EVERY_MS)
        commit_stored(c, true);
}

rd_kafka_t *ev_consumer_handle(ev_consumer *c)
{
    return c->rk;
}

void ev_consumer_close(ev_consumer *c)
{
    if (!c)
        return;
    if (c->uncommitted)
        commit_stored(c, false);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free_watched(c->watched, c->watched_count);
    free(c);
}

bool ev_message_header_raw(const rd_kafka_message_t *msg, const char *name, const void **value,
                           size_t *size)
{
    rd_kafka_headers_t *hdrs = NULL;
    *value = NULL;
    *size = 0;
    if (rd_kafka_message_headers(msg, &hdrs) || rd_kafka_header_get_last(hdrs, name, value, size))
        return false;
    if (!*value)
        *size = 0;
    return true;
}

bool ev_message_header(const rd_kafka_message_t *msg, const char *name, char *out, size_t n)
{
    const void *value = NULL;
    size_t size = 0;
    if (!ev_message_header_raw(msg, name, &value, &size) || !value || size >= n)
        return false;
    memcpy(out, value, size);
    out[size] = '\0';
    return true;
}
