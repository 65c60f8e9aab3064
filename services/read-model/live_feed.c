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

/* A change too long for a NOTIFY payload goes through rm_live_overflow; the NOTIFY names it. */
static int announce_long(PGconn *tx, const char *text, char *err, size_t errlen)
{
    const char *p[] = {text};
    return ev_pg_exec(tx,
                      "WITH gone AS (DELETE FROM rm_live_overflow"
                      "               WHERE created_at < now() - interval '1 hour'),"
                      " kept AS (INSERT INTO rm_live_overflow (body) VALUES ($1) RETURNING id)"
                      " SELECT pg_notify('" CHANNEL "', '#' || id) FROM kept",
                      1, p, err, errlen);
}

/* Announces n short changes, in order, with one statement. */
static int announce_short(PGconn *tx, char **texts, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    char *array = ev_pg_array_literal((const char *const *)texts, n);
    if (!array)
        return ev_fail(err, errlen, "cannot encode live updates: out of memory");
    const char *p[] = {array};
    int rc = ev_pg_exec(tx,
                        "SELECT pg_notify('" CHANNEL "', t)"
                        "  FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
                        1, p, err, errlen);
    free(array);
    return rc;
}

/* Announces changes in order: runs of short ones in one statement each (an event's changes
 * are usually one run), a long one on its own. */
static int announce_all(PGconn *tx, const json_t *changes, char **texts, char *err, size_t errlen)
{
    size_t i, run = 0;
    json_t *change;
    json_array_foreach(changes, i, change)
    {
        char *text = json_dumps(change, JSON_COMPACT);
        if (!text)
            return ev_fail(err, errlen, "cannot encode a live update");
        texts[i] = text;
        if (strlen(text) <= NOTIFY_MAX)
            continue;
        if (announce_short(tx, texts + run, i - run, err, errlen) != 0 ||
            announce_long(tx, text, err, errlen) != 0)
            return -1;
        run = i + 1;
    }
    return announce_short(tx, texts + run, json_array_size(changes) - run, err, errlen);
}

int live_feed_announce(PGconn *tx, const json_t *changes, char *err, size_t errlen)
{
    size_t n = json_array_size(changes);
    char **texts = calloc(n + 1, sizeof *texts);
    if (!texts)
        return ev_fail(err, errlen, "cannot encode live updates: out of memory");
    int rc = announce_all(tx, changes, texts, err, errlen);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    return rc;
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
