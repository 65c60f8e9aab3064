/* Service lifecycle: everything a service main() needs between reading its configuration
 * and exiting cleanly on SIGTERM.
 *
 *   ev_service s;
 *   if (ev_service_open(&s, "inventory", MIGRATIONS, err, sizeof err)) ...
 *   ev_worker worker = ev_service_worker(&s, handle, &s);
 *   ev_http_route(s.http, "GET", "/inventory", list_stock, &s);
 *   ev_service_run(&s, &worker, true);   // blocks until SIGTERM or SIGINT
 *   ev_service_close(&s);
 *
 * open: finds the service in the topology table (ev/topology.h: its default port and
 * database, its consumer group, topics and DLQ), loads the configuration, sets up logging, waits
 * (bounded) for PostgreSQL, applies migrations, creates the connection pool, the Kafka producer and
 * the HTTP server. run: starts HTTP, the outbox relay thread and the consumer thread, waits for a
 * signal, then stops the consumer (finishing its transaction), the relay and HTTP, and flushes the
 * producer. */
#ifndef EV_SERVICE_H
#define EV_SERVICE_H

#include "ev/admin.h"
#include "ev/config.h"
#include "ev/http.h"
#include "ev/kafka.h"
#include "ev/metrics.h"
#include "ev/outbox.h"
#include "ev/pg.h"
#include "ev/topology.h"
#include "ev/worker.h"

#include <stdatomic.h>
#include <stdio.h>

#define EV_MAX_BODY_BYTES ((size_t)64 * 1024)

typedef struct {
    const ev_topology_service *topology; /* this service's row of the table */
    ev_config config;
    ev_admin admin; /* the admin token guarding state-changing admin endpoints */
    ev_metrics *metrics;
    ev_pg_pool *pool;      /* for HTTP handlers */
    ev_producer *producer; /* relay and DLQ */
    ev_http *http;
    FILE *log; /* EVENTIFY_LOG_FILE when set, else NULL (stderr) */
    /* Signal it (ev_wake_signal) after committing outbox rows outside the worker, which
     * signals it itself after each commit: the relay then publishes at once. */
    ev_wake relay_wake;
    /* The relay's backstop poll (1 s): rows other processes wrote wait at most this long
     * when nothing of this process wakes it. A process that only relays lowers it. */
    int relay_idle_poll_ms;
    atomic_bool stop;
} ev_service;

/* name is a service of the topology table. Returns 0, or -1 with err (nothing left open). */
int ev_service_open(ev_service *s, const char *name, const char *default_migrations_dir, char *err,
                    size_t errlen);

/* A worker for the service's consumer group as the topology table describes it: the topics
 * it consumes and its DLQ, with the service's configuration, producer and metrics. The
 * caller adds what is optional (tick, on_commit). */
ev_worker ev_service_worker(ev_service *s, ev_handler_fn handler, void *user);

/* Blocks until SIGTERM/SIGINT, handing freed heap pages back to the kernel once a second
 * meanwhile (malloc_trim). worker may be NULL (no consumer); relay false runs no outbox
 * relay. Returns 0 on a clean stop, -1 when a part failed to start. */
int ev_service_run(ev_service *s, const ev_worker *worker, bool relay);

void ev_service_close(ev_service *s);

/* Answers with the first column of the first row of sql, which builds JSON text: 200 with
 * it; when there is no row and `missing` (what was looked for, e.g. "payment for order")
 * is not NULL, 404 "no <missing> <first parameter>"; 503 when the database fails. */
void ev_service_reply_sql_json(PGconn *c, struct _u_response *resp, const char *sql, int nparams,
                               const char *const *params, const char *missing);

/* GET-by-id routes: checks that the path parameter `param` is a UUID (else 404 as above),
 * then answers ev_service_reply_sql_json(sql with the id as $1) on a pooled
 * connection. */
void ev_service_reply_by_id(ev_service *s, const struct _u_request *req, struct _u_response *resp,
                            const char *param, const char *sql, const char *missing);

/* Runs fn with a pooled connection; answers 503 itself when none can be had. After any
 * request but a GET it wakes the relay, which publishes what fn committed to the outbox. */
typedef void (*ev_with_conn_fn)(PGconn *c, const struct _u_request *req, struct _u_response *resp,
                                void *user);
void ev_service_with_conn(ev_service *s, const struct _u_request *req, struct _u_response *resp,
                          ev_with_conn_fn fn, void *user);

#endif
