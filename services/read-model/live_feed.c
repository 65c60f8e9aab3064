/* The read model's cross-instance change feed over PostgreSQL LISTEN/NOTIFY; see live_feed.h. */
#include "live_feed.h"

#include "ev/log.h"
#include "ev/pg.h"
#include "ev/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#define CHANNEL "rm_live"
#define NOTIFY_MAX 7999 /* PostgreSQL's payload limit is 8000 bytes */
#define WAIT_MS 500     /* how often the thread looks at its stop flag */

struct live_feed {
    pthread_t thread;
    atomic_bool stopping;
    char *conninfo;
    hub *hub;
};

static void sleep_ms(int ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int announce_one(PGconn *tx, const char *text, char *err, size_t errlen)
{
    if (strlen(text) <= NOTIFY_MAX) {
        const char *p[] = {text};
        return ev_pg_exec(tx, "SELECT pg_notify('" CHANNEL "', $1)", 1, p, err, errlen);
    }
    const char *p[] = {text};
    return ev_pg_exec(tx,
                      "WITH gone AS (DELETE FROM rm_live_overflow"
                      "               WHERE created_at < now() - interval '1 hour'),"
                      " kept AS (INSERT INTO rm_live_overflow (body) VALUES ($1) RETURNING id)"
                      " SELECT pg_notify('" CHANNEL "', '#' || id) FROM kept",
                      1, p, err, errlen);
}

int live_feed_announce(PGconn *tx, const json_t *changes, char *err, size_t errlen)
{
    size_t i;
    json_t *change;
    json_array_foreach(changes, i, change)
    {
        char *text = json_dumps(change, JSON_COMPACT);
        if (!text)
            return ev_fail(err, errlen, "cannot encode a live update");
        int rc = announce_one(tx, text, err, errlen);
        free(text);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The body of one notification: the payload itself, or the overflow row it names. */
static void deliver(live_feed *f, PGconn *c, const char *payload)
{
    if (payload[0] != '#') {
        hub_publish(f->hub, payload);
        return;
    }
    char err[256];
    const char *p[] = {payload + 1};
    PGresult *r =
        ev_pg_query(c, "SELECT body FROM rm_live_overflow WHERE id = $1", 1, p, err, sizeof err);
    if (!r) {
        ev_warn("live feed: overflow %s: %s", payload, err);
        return;
    }
    if (PQntuples(r) == 1)
        hub_publish(f->hub, PQgetvalue(r, 0, 0));
    PQclear(r);
}

static PGconn *listen_connection(live_feed *f)
{
    char err[256];
    PGconn *c = ev_pg_connect(f->conninfo, err, sizeof err);
    if (c && ev_pg_exec(c, "LISTEN " CHANNEL, 0, NULL, err, sizeof err) != 0) {
        PQfinish(c);
        c = NULL;
    }
    if (!c)
        ev_warn("live feed: cannot listen yet: %s", err);
    return c;
}

/* Waits up to WAIT_MS for the connection's socket; false when the connection broke. */
static bool wait_readable(PGconn *c)
{
    int fd = PQsocket(c);
    if (fd < 0)
        return false;
    fd_set in;
    FD_ZERO(&in);
    FD_SET(fd, &in);
    struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)WAIT_MS * 1000};
    int n = select(fd + 1, &in, NULL, NULL, &tv);
    if (n < 0 && errno != EINTR)
        return false;
    return n <= 0 || PQconsumeInput(c) == 1;
}

static void *run(void *arg)
{
    live_feed *f = arg;
    PGconn *c = NULL;
    while (!atomic_load(&f->stopping)) {
        if (!c && !(c = listen_connection(f))) {
            for (int i = 0; i < 2 && !atomic_load(&f->stopping); i++)
                sleep_ms(WAIT_MS); /* PostgreSQL is away: try again in a second */
            continue;
        }
        if (!wait_readable(c) || ev_pg_broken(c)) {
            ev_warn("live feed: connection lost, reconnecting");
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            deliver(f, c, n->extra);
            PQfreemem(n);
        }
    }
    PQfinish(c);
    return NULL;
}

live_feed *live_feed_start(const char *conninfo, hub *h, char *err, size_t errlen)
{
    live_feed *f = calloc(1, sizeof *f);
    if (!f || !(f->conninfo = strdup(conninfo))) {
        free(f);
        ev_fail(err, errlen, "out of memory");
        return NULL;
    }
    f->hub = h;
    atomic_init(&f->stopping, false);
    int rc = pthread_create(&f->thread, NULL, run, f);
    if (rc != 0) {
        ev_fail(err, errlen, "cannot start the live feed thread: %s", strerror(rc));
        free(f->conninfo);
        free(f);
        return NULL;
    }
    return f;
}

void live_feed_stop(live_feed *f)
{
    if (!f)
        return;
    atomic_store(&f->stopping, true);
    pthread_join(f->thread, NULL);
    free(f->conninfo);
    free(f);
}
