/* Read model (CQRS): consumes every event topic, projects it into query tables (project.c)
 * and serves them (api.c) with live updates over a WebSocket (/ws, hub.c).
 *
 * `eventify-read-model --rebuild` replays every event topic from the beginning into emptied
 * projections and hands the consumer group the offsets it replayed to, then exits. Run it
 * with the live service stopped (supervisorctl stop services:read-model); started again,
 * the service goes on from exactly there, so nothing is projected twice or missed. */
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

static const char *const topics[] = {EV_TOPIC_ORDERS,    EV_TOPIC_INVENTORY, EV_TOPIC_PAYMENTS,
                                     EV_TOPIC_LIFECYCLE, EV_TOPIC_SHIPPING,  EV_TOPIC_CATALOG};
enum { TOPIC_COUNT = sizeof topics / sizeof topics[0] };

typedef struct {
    ev_service base;
    api api;         /* the /api routes and their DLQ reader */
    hub *live;       /* this instance's WebSocket clients */
    live_feed *feed; /* every instance's committed changes, into `live` */
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

static void ws_manager(const struct _u_request *req, struct _websocket_manager *manager, void *user)
{
    (void)req;
    hub_serve(user, manager);
}

static void ws_incoming(const struct _u_request *req, struct _websocket_manager *manager,
                        const struct _websocket_message *message, void *user)
{
    (void)req;
    (void)manager;
    (void)message;
    (void)user; /* clients only listen */
}

static void ws_route(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    read_model *rm = user;
    if (ulfius_set_websocket_response(resp, NULL, NULL, ws_manager, rm->live, ws_incoming, NULL,
                                      NULL, NULL) != U_OK)
        ev_http_reply_error(resp, 400, "websocket_required", "GET /ws upgrades to a WebSocket");
}

/* --- rebuild ----------------------------------------------------------------------------- */

typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *ends; /* high watermark per partition at the start */
    int64_t remaining;
} replay_state;

static int assign_from_start(replay_state *st, const char *brokers, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why);
    rd_kafka_conf_set(conf, "group.id", SERVICE, why, sizeof why);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why);
    if (!(st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        return ev_fail(err, errlen, "Kafka consumer: %s", why);
    }
    rd_kafka_topic_partition_list_t *from = rd_kafka_topic_partition_list_new(16);
    st->ends = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < TOPIC_COUNT; t++) {
        for (int p = 0; p < 64; p++) {
            int64_t low, high;
            if (rd_kafka_query_watermark_offsets(st->rk, topics[t], p, &low, &high, 10000))
                break;
            rd_kafka_topic_partition_list_add(from, topics[t], p)->offset = low;
            rd_kafka_topic_partition_list_add(st->ends, topics[t], p)->offset = high;
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

/* Projects one replayed message; undecodable ones were dead-lettered live and are skipped,
 * and so are DLQ replays meant for another consumer group, as the live consumer skips them. */
static int replay_one(PGconn *c, const char *group, const rd_kafka_message_t *m, char *err,
                      size_t errlen)
{
    ev_envelope e;
    char why[256];
    if (ev_worker_replay_action(m, group) == EV_REPLAY_SKIP ||
        ev_envelope_parse(m->payload, m->len, &e, why, sizeof why) != 0)
        return 0;
    int rc = 0;
    if (ev_upcast(&e, why, sizeof why) == EV_UPCAST_OK) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        int fresh = ev_inbox_claim(c, &e, topic, m->partition, m->offset, err, errlen);
        if (fresh < 0 ||
            (fresh == 1 && project_event(c, &e, topic, m->partition, m->offset, NULL, err, errlen)))
            rc = -1;
    }
    ev_envelope_clear(&e);
    return rc;
}

static int rebuild(const ev_config *cfg)
{
    char err[512];
    PGconn *c = ev_pg_connect(cfg->pg_conninfo, err, sizeof err);
    replay_state st = {0};
    int rc = -1, since_commit = 0;
    int64_t projected = 0, start = ev_monotonic_ms();
    if (!c || assign_from_start(&st, cfg->kafka_brokers, err, sizeof err) != 0 ||
        ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err) || project_reset(c, err, sizeof err))
        goto done;
    ev_info("rebuild: replaying %lld events", (long long)st.remaining);
    while (st.remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(st.rk, 1000);
        if (!m)
            continue;
        bool wanted = !m->err && before_end(&st, m);
        int failed = wanted ? replay_one(c, cfg->service, m, err, sizeof err) : 0;
        rd_kafka_message_destroy(m);
        if (failed)
            goto done;
        if (wanted) {
            st.remaining--;
            projected++;
        }
        if (wanted && ++since_commit == REBUILD_BATCH) {
            if (ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err) ||
                ev_pg_exec(c, "BEGIN", 0, NULL, err, sizeof err))
                goto done;
            since_commit = 0;
        }
    }
    if (ev_pg_exec(c, "COMMIT", 0, NULL, err, sizeof err))
        goto done;
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
    if (argc > 1 && !rebuild_mode) {
        fprintf(stderr, "usage: %s [--rebuild]\n", argv[0]);
        return 2;
    }
    static read_model rm;
    char err[512];
    if (ev_service_open(&rm.base, SERVICE, 8086, "readmodel", EVENTIFY_DEFAULT_MIGRATIONS_DIR, err,
                        sizeof err) != 0) {
        ev_error("cannot start: %s", err);
        return 1;
    }
    int rc = 1;
    err[0] = '\0';
    rm.live = hub_new();
    if (rebuild_mode) {
        rc = rebuild(&rm.base.config) == 0 ? 0 : 1;
    } else if (!rm.live || api_open(&rm.api, &rm.base, err, sizeof err) != 0 ||
               ev_http_route(rm.base.http, "GET", "/ws", ws_route, &rm) ||
               !(rm.feed = live_feed_start(rm.base.config.pg_conninfo, rm.live, err, sizeof err))) {
        ev_error("cannot set up the HTTP routes: %s", err);
    } else {
        ev_worker worker = {.config = &rm.base.config,
                            .topics = topics,
                            .topic_count = TOPIC_COUNT,
                            .handler = handle,
                            .user = &rm,
                            .producer = rm.base.producer,
                            .metrics = rm.base.metrics};
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
