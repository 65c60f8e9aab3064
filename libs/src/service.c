/* Service lifecycle; see ev/service.h. */
#include "ev/service.h"
#include "ev/log.h"
#include "ev/openapi.h"
#include "ev/outbox.h"
#include "ev/trace.h"
#include "ev/util.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define STARTUP_DB_WAIT_MS 30000
#define RELAY_BATCH 500
#define RELAY_IDLE_POLL_MS 1000
#define FREED_MEMORY_RETURN_MS 1000

/* Clients get a short reason code; the error text (hosts, roles, broker addresses) is for
 * the log only. */
static bool is_ready(void *user, char *why, size_t whylen)
{
    ev_service *s = user;
    char err[256];
    PGconn *c = ev_pg_pool_acquire(s->pool, err, sizeof err);
    bool db_ok = c && ev_pg_exec(c, "SELECT 1", 0, NULL, err, sizeof err) == 0;
    if (c)
        ev_pg_pool_release(s->pool, c);
    if (!db_ok) {
        ev_warn("not ready: PostgreSQL: %s", err);
        ev_strlcpy(why, "database_unavailable", whylen);
        return false;
    }
    if (!ev_producer_reachable(s->producer, 1000)) {
        ev_warn("not ready: Kafka unreachable at %s", s->config.kafka_brokers);
        ev_strlcpy(why, "kafka_unavailable", whylen);
        return false;
    }
    return true;
}

/* Every connection is a file descriptor: allow as many as the hard limit lets, so the HTTP
 * connection limit, not the descriptor limit, is what bounds them. */
static void raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
            ev_warn("cannot raise the open-file limit to %llu", (unsigned long long)lim.rlim_max);
    }
}

static int migrate(const ev_config *cfg, char *err, size_t errlen)
{
    PGconn *c = NULL;
    int64_t deadline = ev_monotonic_ms() + STARTUP_DB_WAIT_MS;
    while (!(c = ev_pg_connect(cfg->pg_conninfo, err, errlen))) {
        if (ev_monotonic_ms() > deadline)
            return -1;
        ev_warn("%s; waiting for PostgreSQL", err);
        poll(NULL, 0, 500);
    }
    int applied = ev_pg_migrate(c, ev_runtime_migrations, ev_runtime_migration_count,
                                cfg->migrations_dir, err, errlen);
    PQfinish(c);
    return applied < 0 ? -1 : 0;
}

/* The process's tracer (ev/trace.h): exports to EVENTIFY_OTLP_ENDPOINT when it is set. */
static int start_tracer(ev_service *s, char *err, size_t errlen)
{
    char endpoint[256];
    ev_tracer_config cfg = {0};
    if (ev_tracer_config_load(&cfg, endpoint, sizeof endpoint, ev_getenv, err, errlen) != 0)
        return -1;
    cfg.service = s->config.service;
    cfg.metrics = s->metrics;
    if (ev_tracer_start(&cfg, err, errlen) != 0)
        return -1;
    if (endpoint[0])
        ev_info("exporting traces to %s (sample ratio %g for new traces)", endpoint,
                cfg.sample_ratio);
    return 0;
}

int ev_service_open(ev_service *s, const char *name, const char *default_migrations_dir, char *err,
                    size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->relay_wake.fd = -1;
    atomic_init(&s->stop, false);
    if (!(s->topology = ev_topology_service_named(name)))
        return ev_fail(err, errlen, "%s is not a service of the topology table", name);
    /* glibc gives every thread its own malloc arena; two are plenty for a few threads and
     * keep the resident size of a service small (the target: under 20 MB under load). */
    mallopt(M_ARENA_MAX, 2);
    /* A batch's buffers (its SQL array literals, its JSON) are tens of kilobytes, taken and
     * freed at every batch. Fixed thresholds keep glibc from raising its mmap threshold after
     * the first such free, which left them on the heap, where freed space stays resident. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    if (ev_config_load(&s->config, name, s->topology->http_port, s->topology->database,
                       default_migrations_dir, ev_getenv, err, errlen) != 0 ||
        ev_admin_load(&s->admin, ev_getenv, err, errlen) != 0)
        return -1;
    /* Writing the log file directly keeps the supervisor's pipe (and its Python) out of the
     * per-event path. */
    if (s->config.log_file[0] && !(s->log = fopen(s->config.log_file, "a")))
        return ev_fail(err, errlen, "cannot open EVENTIFY_LOG_FILE=%s", s->config.log_file);
    ev_log_setup(name, s->config.log_level, s->log);
    if (migrate(&s->config, err, errlen) != 0)
        return -1;
    s->metrics = ev_metrics_new(name);
    if (start_tracer(s, err, errlen) != 0) {
        ev_metrics_free(s->metrics);
        return -1;
    }
    s->pool = ev_pg_pool_new(s->config.pg_conninfo, s->config.pg_pool_size);
    s->producer = ev_producer_new(s->config.kafka_brokers, name, err, errlen);
    raise_fd_limit();
    ev_http_limits limits = {.bind = s->config.http_bind,
                             .port = s->config.http_port,
                             .max_body = EV_MAX_BODY_BYTES,
                             .max_connections = (unsigned)s->config.http_max_connections,
                             .threads = (unsigned)s->config.http_threads,
                             .read_timeout_s = (unsigned)s->config.http_read_timeout_s,
                             .body_timeout_ms = (unsigned)s->config.http_body_timeout_ms};
    if (s->metrics && s->pool && s->producer)
        s->http = ev_http_new(&limits, s->metrics, is_ready, s);
    if (!s->http || ev_openapi_route(s->http, ev_openapi_document) != 0) {
        if (s->metrics && s->pool && s->producer)
            ev_fail(err, errlen, "cannot set up HTTP on port %d", s->config.http_port);
        else if (s->producer)
            ev_fail(err, errlen, "out of memory");
        ev_service_close(s);
        return -1;
    }
    if (ev_wake_open(&s->relay_wake) != 0) {
        ev_fail(err, errlen, "cannot create the relay's wake-up: %s", strerror(errno));
        ev_service_close(s);
        return -1;
    }
    s->relay_idle_poll_ms = RELAY_IDLE_POLL_MS;
    return 0;
}

ev_worker ev_service_worker(ev_service *s, ev_handler_fn handler, void *user)
{
    return (ev_worker){.config = &s->config,
                       .topics = s->topology->consumes,
                       .topic_count = ev_topology_count(s->topology->consumes),
                       .handler = handler,
                       .user = user,
                       .dlq_topic = s->topology->dlq,
                       .producer = s->producer,
                       .metrics = s->metrics,
                       .relay_wake = &s->relay_wake};
}

typedef struct {
    ev_service *s;
    const ev_worker *worker;
    ev_relay_config relay;
} threads_arg;

static void *worker_main(void *arg)
{
    threads_arg *t = arg;
    if (ev_worker_run(t->worker, &t->s->stop) != 0)
        ev_error("consumer stopped with an error");
    return NULL;
}

static void *relay_main(void *arg)
{
    threads_arg *t = arg;
    ev_relay_run(&t->relay, &t->s->stop);
    return NULL;
}

/* Waits for one of signals and returns it. Meanwhile, once every FREED_MEMORY_RETURN_MS,
 * hands the whole pages of freed heap back to the kernel. glibc keeps what a batch or a
 * request freed for reuse, and gives back only the free space at the top of a heap: freed
 * pages in between stayed resident, so a service's RSS kept its highest point of the last
 * burst (the read model 7.3 MB of its own memory after a run at 400 orders/s, 4.8 MB once
 * trimmed). malloc_trim takes each arena's lock in turn; the main thread's CPU time stayed
 * at 20-30 ms over two minutes at 400 orders/s, start-up included. */
static int wait_for_signal(const sigset_t *signals)
{
    const struct timespec every = {.tv_sec = FREED_MEMORY_RETURN_MS / 1000,
                                   .tv_nsec = (FREED_MEMORY_RETURN_MS % 1000) * 1000000L};
    for (;;) {
        int sig = sigtimedwait(signals, NULL, &every);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            malloc_trim(0);
    }
}

int ev_service_run(ev_service *s, const ev_worker *worker, bool relay)
{
    /* Signals are taken by this thread alone through sigtimedwait (wait_for_signal); every thread
     * started from here on inherits the mask. SIGPIPE is ignored: a closed socket is an error
     * return. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    threads_arg arg = {.s = s,
                       .worker = worker,
                       .relay = {.conninfo = s->config.pg_conninfo,
                                 .producer = s->producer,
                                 .metrics = s->metrics,
                                 .batch_size = RELAY_BATCH,
                                 .wake = &s->relay_wake,
                                 .idle_poll_ms = s->relay_idle_poll_ms}};
    pthread_t worker_thread, relay_thread;
    bool worker_started = false, relay_started = false;
    int rc = 0;
    if (ev_http_start(s->http) != 0) {
        ev_error("cannot listen on %s port %d", s->config.http_bind, s->config.http_port);
        return -1;
    }
    if (worker)
        worker_started = pthread_create(&worker_thread, NULL, worker_main, &arg) == 0;
    if (relay)
        relay_started = pthread_create(&relay_thread, NULL, relay_main, &arg) == 0;
    if ((worker && !worker_started) || (relay && !relay_started)) {
        ev_error("cannot start threads");
        rc = -1;
    } else {
        ev_info("%s listening on %s port %d", s->config.service, s->config.http_bind,
                s->config.http_port);
        int sig = wait_for_signal(&signals);
        ev_info("signal %d: stopping", sig);
    }
    atomic_store(&s->stop, true);
    if (worker_started)
        pthread_join(worker_thread, NULL);
    if (relay_started)
        pthread_join(relay_thread, NULL);
    return rc;
}

void ev_service_close(ev_service *s)
{
    ev_wake_close(&s->relay_wake);
    ev_http_free(s->http);
    ev_producer_free(s->producer);
    ev_pg_pool_free(s->pool);
    ev_tracer_stop(); /* its last export counts into the metrics */
    ev_metrics_free(s->metrics);
    if (s->log) {
        ev_log_setup(s->config.service, s->config.log_level, NULL);
        fclose(s->log);
    }
    memset(s, 0, sizeof *s);
}

void ev_service_reply_sql_json(PGconn *c, struct _u_response *resp, const char *sql, int nparams,
                               const char *const *params, const char *missing)
{
    char err[512];
    PGresult *r = ev_pg_query(c, sql, nparams, params, err, sizeof err);
    if (!r) {
        ev_error("query failed: %s", err);
        ev_http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    if (PQntuples(r) == 0 && missing) {
        ev_http_reply_error(resp, 404, "not_found", "no %s %s", missing,
                            nparams > 0 && params[0] ? params[0] : "");
    } else if (PQntuples(r) == 0) {
        ev_http_reply_error(resp, 500, "internal", "the query returned nothing");
    } else {
        u_map_put(resp->map_header, "Content-Type", "application/json");
        ulfius_set_string_body_response(resp, 200, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
}

typedef struct {
    const char *sql;
    const char *missing;
    const char *id;
} by_id;

static void reply_by_id(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                        void *user)
{
    (void)req;
    const by_id *q = user;
    const char *params[] = {q->id};
    ev_service_reply_sql_json(c, resp, q->sql, 1, params, q->missing);
}

void ev_service_reply_by_id(ev_service *s, const struct _u_request *req, struct _u_response *resp,
                            const char *param, const char *sql, const char *missing)
{
    by_id q = {sql, missing, u_map_get(req->map_url, param)};
    if (!ev_uuid_valid(q.id)) {
        ev_http_reply_error(resp, 404, "not_found", "no %s %s", missing, q.id ? q.id : "");
        return;
    }
    ev_service_with_conn(s, req, resp, reply_by_id, &q);
}

void ev_service_with_conn(ev_service *s, const struct _u_request *req, struct _u_response *resp,
                          ev_with_conn_fn fn, void *user)
{
    char err[256];
    PGconn *c = ev_pg_pool_acquire(s->pool, err, sizeof err);
    if (!c) {
        ev_error("%s", err);
        ev_http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    fn(c, req, resp, user);
    ev_pg_pool_release(s->pool, c);
    /* a request that may have written (POST /orders, the product and stock endpoints) wakes
     * the relay; one that wrote no outbox row costs it an empty pass */
    if (strcmp(req->http_verb, "GET") != 0)
        ev_wake_signal(&s->relay_wake);
}
