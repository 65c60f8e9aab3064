/* Read model (CQRS): consumes every event topic, projects it into query tables (project.c)
 * and serves them (api.c) with live updates over a WebSocket (/ws, hub.c).
 *
 * `eventify-read-model --rebuild` replays every event topic from the beginning into emptied
 * projections and hands the consumer group the offsets it replayed to, then exits. Run it
 * with the live service stopped (supervisorctl stop services:read-model); started again,
 * the service goes on from exactly there, so nothing is projected twice or missed. It
 * projects the log in batches as the live batch path does; `--rebuild --per-event` projects
 * it event by event, the reference the batch path is checked against. */
#include "api.h"
#include "hub.h"
#include "live_feed.h"
#include "project.h"

#include "ev/dlq.h"
#include "ev/events.h"
#include "ev/log.h"
#include "ev/outbox.h"
#include "ev/service.h"
#include "ev/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "read-model"
#define REBUILD_BATCH 500
#define DEFAULT_WS_ORIGINS "http://localhost:3000,http://127.0.0.1:3000"
#define WS_MAX_FRAME ((size_t)64 * 1024) /* clients only listen: a frame is a ping or a mistake */
#define WS_MAX_PENDING 32                /* messages ahead of the hub's queue, at the socket */

typedef struct {
    ev_service base;
    api api;               /* the /api routes and their DLQ reader */
    hub *live;             /* this instance's WebSocket clients */
    live_feed *feed;       /* every instance's committed changes, into `live` */
    char ws_origins[1024]; /* EVENTIFY_WS_ALLOWED_ORIGINS */
} read_model;

/* Projects one event; its live updates are announced in the same transaction, so they
 * reach the clients of every instance once, and only if it commits (live_feed.h). */
static ev_outcome handle(ev_delivery *d, void *user)
{
    (void)user;
    char err[512];
    json_t *changes = json_array();
    int rc = changes ? project_event(d->tx, d->event, d->topic, d->partition, d->offset, changes,
                                     err, sizeof err)
                     : ev_fail(err, sizeof err, "out of memory");
    if (rc == 0)
        rc = live_feed_announce(d->tx, changes, err, sizeof err);
    json_decref(changes);
    if (rc != 0) {
        ev_fail(d->reason, sizeof d->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

/* A fetched batch projected as a set (project_batch), announced like handle's. Any failure
 * rolls the batch back and the worker hands its events to handle one by one. */
static ev_outcome handle_batch(ev_batch *b, void *user)
{
    (void)user;
    char err[512];
    json_t *changes = json_array();
    int rc = changes ? project_batch(b->tx, b->deliveries, b->n, changes, err, sizeof err)
                     : ev_fail(err, sizeof err, "out of memory");
    if (rc == 0)
        rc = live_feed_announce(b->tx, changes, err, sizeof err);
    json_decref(changes);
    if (rc != 0) {
        ev_fail(b->reason, sizeof b->reason, "%s", err);
        return EV_RETRY;
    }
    return EV_HANDLED;
}

/* Live updates go to the web UI's pages only: a browser on another site sends its own
 * Origin and is refused before the upgrade; clients that are not browsers send none. */
static bool ws_admit(const struct _u_request *req, struct _u_response *resp, void *user)
{
    read_model *rm = user;
    const char *origin = ev_http_header(req, "Origin");
    if (origin && !hub_origin_allowed(rm->ws_origins, origin)) {
        ev_http_reply_error(resp, 403, "forbidden_origin", "origin %.100s may not open /ws",
                            origin);
        return false;
    }
    if (!hub_has_room(rm->live)) {
        u_map_put(resp->map_header, "Retry-After", "5");
        ev_http_reply_error(resp, 503, "unavailable", "every live-update slot is taken");
        return false;
    }
    return true;
}

static void ws_serve(ev_ws *ws, void *user)
{
    read_model *rm = user;
    hub_serve(ws, rm->live);
}

/* The /ws settings: origins allowed, slots, queue and keep-alive. */
static int load_ws_config(read_model *rm, ev_ws_limits *limits, long *clients, long *queue,
                          char *err, size_t errlen)
{
    long ping = 0, idle = 0;
    if (ev_env_str(ev_getenv, "EVENTIFY_WS_ALLOWED_ORIGINS", DEFAULT_WS_ORIGINS, rm->ws_origins,
                   sizeof rm->ws_origins, err, errlen) ||
        ev_env_long(ev_getenv, "EVENTIFY_WS_MAX_CLIENTS", 64, 1, 1024, clients, err, errlen) ||
        ev_env_long(ev_getenv, "EVENTIFY_WS_QUEUE", 256, 1, 65536, queue, err, errlen) ||
        ev_env_long(ev_getenv, "EVENTIFY_WS_PING_INTERVAL_MS", 20000, 100, 3600000, &ping, err,
                    errlen) ||
        ev_env_long(ev_getenv, "EVENTIFY_WS_IDLE_TIMEOUT_MS", 45000, 200, 7200000, &idle, err,
                    errlen))
        return -1;
    *limits = (ev_ws_limits){.ping_interval_ms = (unsigned)ping,
                             .idle_timeout_ms = (unsigned)idle,
                             .max_frame = WS_MAX_FRAME,
                             .max_pending = WS_MAX_PENDING};
    return 0;
}

/* --- rebuild ----------------------------------------------------------------------------- */

typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *ends; /* high watermark per partition at the start */
    int64_t remaining;
} replay_state;

/* Assigns every partition of what the read model consumes (the topology table) from its
 * first offset, and notes where each ends now. */
static int assign_from_start(replay_state *st, const ev_topology_service *svc, const char *brokers,
                             char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why);
    rd_kafka_conf_set(conf, "group.id", svc->group, why, sizeof why);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why);
    if (!(st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        return ev_fail(err, errlen, "Kafka consumer: %s", why);
    }
    rd_kafka_topic_partition_list_t *from = rd_kafka_topic_partition_list_new(16);
    st->ends = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < ev_topology_count(svc->consumes); t++) {
        const char *topic = svc->consumes[t];
        for (int p = 0; p < ev_topology_partitions(topic); p++) {
            int64_t low, high;
            if (rd_kafka_query_watermark_offsets(st->rk, topic, p, &low, &high, 10000)) {
                /* a partition skipped would be a projection rebuilt without its events */
                rd_kafka_topic_partition_list_destroy(from);
                return ev_fail(err, errlen, "cannot read the offsets of %s[%d]", topic, p);
            }
            rd_kafka_topic_partition_list_add(from, topic, p)->offset = low;
            rd_kafka_topic_partition_list_add(st->ends, topic, p)->offset = high;
            st->remaining += high - low;
        }
    }
    rd_kafka_resp_err_t rc = rd_kafka_assign(st->rk, from);
    rd_kafka_topic_partition_list_destroy(from);
    return rc ? ev_fail(err, errlen, "assign: %s", rd_kafka_err2str(rc)) : 0;
}

static bool before_end(const replay_state *st, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_t *end =
        rd_kafka_topic_partition_list_find(st->ends, rd_kafka_topic_name(m->rkt), m->partition);
    return end && m->offset < end->offset;
}

/* Whether a replayed message is projected at all: undecodable ones were dead-lettered live,
 * and DLQ replays meant for another consumer group are skipped as the live consumer skips
 * them. Fills e (the caller clears it) when it returns true. */
static bool replayable(const char *group, const rd_kafka_message_t *m, ev_envelope *e)
{
    char why[256];
    if (ev_worker_replay_action(m, group) == EV_REPLAY_SKIP ||
        ev_envelope_parse(m->payload, m->len, e, why, sizeof why) != 0)
        return false;
    return ev_upcast(e, why, sizeof why) == EV_UPCAST_OK;
}

/* Projects one replayed message event by event (the per-event path), inside the open
 * transaction. */
static int replay_one(PGconn *c, const char *group, const rd_kafka_message_t *m, char *err,
                      size_t errlen)
{
    ev_envelope e = {0};
    int rc = 0;
    if (replayable(group, m, &e)) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        int fresh = ev_inbox_claim(c, &e, topic, m->partition, m->offset, err, errlen);
        if (fresh < 0 ||
            (fresh == 1 && project_event(c, &e, topic, m->partition, m->offset, NULL, err, errlen)))
            rc = -1;
    }
    ev_envelope_clear(&e);
    return rc;
}

/* The parsed messages of one replay batch; owns the envelopes, borrows the messages. */
typedef struct {
    ev_envelope *events;
    ev_inbox_entry *entries;
    ev_delivery *deliveries;
    bool *fresh;
    size_t n;
} replay_batch;

static void replay_batch_free(replay_batch *b)
{
    for (size_t i = 0; b->events && i < b->n; i++)
        ev_envelope_clear(&b->events[i]);
    free(b->events);
    free(b->entries);
    free(b->deliveries);
    free(b->fresh);
}

/* Parses the replayable messages of ms into b (b->n of them). Returns 0, or -1 when out of
 * memory. */
static int replay_batch_make(replay_batch *b, const char *group, rd_kafka_message_t *const *ms,
                             size_t count)
{
    size_t room = count ? count : 1;
    *b = (replay_batch){.events = calloc(room, sizeof *b->events),
                        .entries = calloc(room, sizeof *b->entries),
                        .deliveries = calloc(room, sizeof *b->deliveries),
                        .fresh = calloc(room, sizeof *b->fresh)};
    if (!b->events || !b->entries || !b->deliveries || !b->fresh)
        return -1;
    for (size_t i = 0; i < count; i++) {
        ev_envelope *e = &b->events[b->n];
        if (!replayable(group, ms[i], e)) {
            ev_envelope_clear(e);
            continue;
        }
        const char *topic = rd_kafka_topic_name(ms[i]->rkt);
        b->entries[b->n] = (ev_inbox_entry){.event_id = e->event_id,
                                            .event_type = e->event_type,
                                            .topic = topic,
                                            .partition = ms[i]->partition,
                                            .offset = ms[i]->offset};
        b->n++;
    }
    return 0;
}

/* Claims and projects a batch as the live batch path does (one inbox statement, then
 * project_batch over the fresh events), inside the open transaction. */
static int replay_many(PGconn *c, const char *group, rd_kafka_message_t *const *ms, size_t count,
                       char *err, size_t errlen)
{
    replay_batch b;
    int rc = replay_batch_make(&b, group, ms, count) ? ev_fail(err, errlen, "out of memory") : 0;
    if (rc == 0 && b.n > 0)
        rc = ev_inbox_claim_batch(c, b.entries, b.n, b.fresh, err, errlen);
    size_t fresh = 0;
    for (size_t i = 0; rc == 0 && i < b.n; i++)
        if (b.fresh[i])
            b.deliveries[fresh++] = (ev_delivery){.tx = c,
                                                  .event = &b.events[i],
                                                  .topic = b.entries[i].topic,
                                                  .partition = b.entries[i].partition,
                                                  .offset = b.entries[i].offset};
    if (rc == 0 && fresh > 0)
        rc = project_batch(c, b.deliveries, fresh, NULL, err, errlen);
    replay_batch_free(&b);
    return rc;
}

/* Projects count replayed messages in one transaction: as a batch unless per_event, and one
 * by one when the batch fails (as the live worker falls back), so a batch the set-based
 * path refuses is still replayed. */
static int replay_commit(PGconn *c, const char *group, rd_kafka_message_t *const *ms, size_t count,
                         bool per_event, char *err, size_t errlen)
{
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen))
        return -1;
    if (!per_event) {
        if (replay_many(c, group, ms, count, err, errlen) == 0)
            return ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen);
        ev_warn("rebuild: a batch of %zu failed (%s); replaying it event by event", count, err);
        char ignored[128];
        if (ev_pg_exec(c, "ROLLBACK", 0, NULL, ignored, sizeof ignored) ||
            ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen))
            return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (replay_one(c, group, ms[i], err, errlen))
            return -1;
    return ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen);
}

/* Takes up to REBUILD_BATCH messages of the replay into ms (the caller destroys them);
 * returns how many. Messages past where each partition ended at the start are dropped. */
static size_t take_replay_batch(replay_state *st, rd_kafka_message_t **ms)
{
    size_t n = 0;
    while (n < REBUILD_BATCH && st->remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(st->rk, 1000);
        if (!m) {
            if (n > 0)
                break;
            continue;
        }
        if (m->err || !before_end(st, m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        ms[n++] = m;
        st->remaining--;
    }
    return n;
}

/* Empties the projections (committed on its own, so that a batch rolled back for the
 * one-by-one replay keeps it) and replays the log into them, REBUILD_BATCH events per
 * transaction. A failed rebuild leaves them partly rebuilt and the group's offsets where they
 * were: run it again. */
static int rebuild(const ev_service *s, bool per_event)
{
    const ev_config *cfg = &s->config;
    char err[512];
    PGconn *c = ev_pg_connect(cfg->pg_conninfo, err, sizeof err);
    replay_state st = {0};
    rd_kafka_message_t **ms = calloc(REBUILD_BATCH, sizeof(rd_kafka_message_t *));
    int rc = -1;
    int64_t projected = 0, start = ev_monotonic_ms();
    if (!ms) {
        ev_fail(err, sizeof err, "out of memory");
        goto done;
    }
    if (!c || assign_from_start(&st, s->topology, cfg->kafka_brokers, err, sizeof err) != 0 ||
        ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err) || project_reset(c, err, sizeof err) ||
        ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err))
        goto done;
    ev_info("rebuild: replaying %lld events%s", (long long)st.remaining,
            per_event ? " one by one" : "");
    while (st.remaining > 0) {
        size_t n = take_replay_batch(&st, ms);
        int failed = replay_commit(c, cfg->service, ms, n, per_event, err, sizeof err);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(ms[i]);
        if (failed)
            goto done;
        projected += (int64_t)n;
    }
    /* The live service resumes exactly where the replay ended. */
    rd_kafka_resp_err_t kerr = rd_kafka_commit(st.rk, st.ends, 0);
    if (kerr) {
        ev_fail(err, sizeof err, "committing offsets: %s", rd_kafka_err2str(kerr));
        goto done;
    }
    ev_info("rebuild: %lld events projected in %lld ms", (long long)projected,
            (long long)(ev_monotonic_ms() - start));
    rc = 0;
done:
    if (rc != 0)
        ev_error("rebuild failed: %s", err);
    free(ms);
    if (st.rk) {
        rd_kafka_consumer_close(st.rk);
        rd_kafka_destroy(st.rk);
    }
    if (st.ends)
        rd_kafka_topic_partition_list_destroy(st.ends);
    PQfinish(c);
    return rc;
}

int main(int argc, char **argv)
{
    bool rebuild_mode = argc > 1 && strcmp(argv[1], "--rebuild") == 0;
    bool per_event = rebuild_mode && argc == 3 && strcmp(argv[2], "--per-event") == 0;
    if ((argc > 1 && !rebuild_mode) || argc > 3 || (argc == 3 && !per_event)) {
        fprintf(stderr, "usage: %s [--rebuild [--per-event]]\n", argv[0]);
        return 2;
    }
    static read_model rm;
    char err[512];
    if (ev_service_open(&rm.base, SERVICE, EVENTIFY_DEFAULT_MIGRATIONS_DIR, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    int rc = 1;
    ev_ws_limits ws_limits;
    long ws_clients = 0, ws_queue = 0;
    if (load_ws_config(&rm, &ws_limits, &ws_clients, &ws_queue, err, sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        ev_service_close(&rm.base);
        return 1;
    }
    err[0] = '\0';
    rm.live = hub_new((int)ws_clients, (size_t)ws_queue);
    if (rebuild_mode) {
        rc = rebuild(&rm.base, per_event) == 0 ? 0 : 1;
    } else if (!rm.live || api_open(&rm.api, &rm.base, err, sizeof err) != 0 ||
               ev_http_websocket(rm.base.http, "/ws", &ws_limits, ws_admit, ws_serve, &rm) ||
               !(rm.feed = live_feed_start(rm.base.config.pg_conninfo, rm.live, err, sizeof err))) {
        ev_error("cannot set up the HTTP routes: %s", err);
    } else {
        ev_worker worker = ev_service_worker(&rm.base, handle, &rm);
        worker.handle_batch = handle_batch;
        rc = ev_service_run(&rm.base, &worker, false) == 0 ? 0 : 1;
    }
    /* HTTP stops first (its WebSocket threads leave the hub), then the feed that fills the
     * hub, then the hub. */
    ev_http_free(rm.base.http);
    rm.base.http = NULL;
    api_close(&rm.api);
    live_feed_stop(rm.feed);
    hub_free(rm.live);
    ev_service_close(&rm.base);
    return rc;
}
