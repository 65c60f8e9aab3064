/* PostgreSQL helpers, pool and migrations; see ev/pg.h. */
#include "ev/pg.h"
#include "ev/log.h"
#include "ev/util.h"

#include <dirent.h>
#include <libpq-events.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any constant works; it only has to be the same in every instance of a service. */
#define MIGRATION_LOCK_KEY "7274629101"

/* --- prepared statements ------------------------------------------------------------------
 * Parameterized statements are prepared once per connection and then executed by name, so
 * PostgreSQL parses and plans them once instead of on every event. The cache hangs off the
 * connection through libpq's event instance data and dies with it. */

#define PREPARED_MAX 64

typedef struct {
    size_t count;
    uint64_t hashes[PREPARED_MAX];
    char *texts[PREPARED_MAX];
} prepared_cache;

static int pg_event(PGEventId id, void *event_info, void *pass_through)
{
    (void)pass_through;
    if (id != PGEVT_CONNDESTROY && id != PGEVT_CONNRESET)
        return 1;
    PGconn *c = id == PGEVT_CONNDESTROY ? ((PGEventConnDestroy *)event_info)->conn
                                        : ((PGEventConnReset *)event_info)->conn;
    prepared_cache *cache = PQinstanceData(c, pg_event);
    if (cache) {
        for (size_t i = 0; i < cache->count; i++)
            free(cache->texts[i]);
        cache->count = 0; /* a reset connection has lost its prepared statements */
        if (id == PGEVT_CONNDESTROY)
            free(cache);
    }
    return 1;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The name of sql's prepared statement on c when it is prepared already, else NULL. */
static const char *prepared_already(PGconn *c, const char *sql, char name[24])
{
    prepared_cache *cache = PQinstanceData(c, pg_event);
    if (!cache)
        return NULL;
    uint64_t h = fnv1a(sql);
    snprintf(name, 24, "ev_%016llx", (unsigned long long)h);
    for (size_t i = 0; i < cache->count; i++)
        if (cache->hashes[i] == h && strcmp(cache->texts[i], sql) == 0)
            return name;
    return NULL;
}

/* The name of sql's prepared statement on c, preparing it first if needed; NULL when the
 * cache is full or missing (then the caller runs the statement unprepared). */
static const char *prepared_name(PGconn *c, const char *sql, int nparams, char name[24],
                                 PGresult **failure)
{
    prepared_cache *cache = PQinstanceData(c, pg_event);
    if (!cache)
        return NULL;
    if (prepared_already(c, sql, name))
        return name;
    uint64_t h = fnv1a(sql);
    if (cache->count == PREPARED_MAX)
        return NULL;
    PGresult *r = PQprepare(c, name, sql, nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        *failure = r;
        return NULL;
    }
    PQclear(r);
    cache->hashes[cache->count] = h;
    cache->texts[cache->count++] = strdup(sql);
    if (!cache->texts[cache->count - 1])
        cache->count--;
    return name;
}

PGconn *ev_pg_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        ev_fail(err, errlen, "PostgreSQL connection failed: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    prepared_cache *cache = calloc(1, sizeof *cache);
    if (cache && PQregisterEventProc(c, pg_event, "eventify", NULL) &&
        PQsetInstanceData(c, pg_event, cache))
        return c;
    free(cache); /* no cache: statements simply run unprepared */
    return c;
}

PGresult *ev_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                      size_t errlen)
{
    char name[24];
    PGresult *r = NULL;
    const char *prepared = nparams > 0 ? prepared_name(c, sql, nparams, name, &r) : NULL;
    if (prepared)
        r = PQexecPrepared(c, prepared, nparams, params, NULL, NULL, 0);
    else if (!r)
        r = nparams > 0 ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                        : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    ev_fail(err, errlen, "%s", (msg && *msg) ? msg : "query failed");
    size_t n = strlen(err ? err : "");
    if (err && n > 0 && err[n - 1] == '\n')
        err[n - 1] = '\0';
    PQclear(r);
    return NULL;
}

/* err from a failed result (or the connection's message), without its trailing newline. */
static void result_error(PGconn *c, const PGresult *r, char *err, size_t errlen)
{
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    ev_fail(err, errlen, "%s", (msg && *msg) ? msg : "query failed");
    size_t n = strlen(err ? err : "");
    if (err && n > 0 && err[n - 1] == '\n')
        err[n - 1] = '\0';
}

/* The results of a pipeline of two queries and a sync, in that order: each query's result is
 * followed by a NULL, the sync by its own result. Keeps query number `keep`'s (0 or 1) result
 * in *stmt and returns false, with err, if either query failed or the connection did; reads at
 * most a bounded number of results, so a broken connection cannot hold it. */
static bool read_pipeline(PGconn *c, int keep, PGresult **stmt, char *err, size_t errlen)
{
    bool ok = true;
    int query = 0; /* 0 and 1: the queries, 2: the sync */
    for (int reads = 0; reads < 16 && query < 3; reads++) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (PQstatus(c) != CONNECTION_OK) {
                if (ok)
                    result_error(c, NULL, err, errlen);
                return false;
            }
            query++; /* the end of one query's results */
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return ok;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && ok) {
            /* the first error says why; later queries only report PGRES_PIPELINE_ABORTED */
            result_error(c, r, err, errlen);
            ok = false;
        }
        if (query == keep && !*stmt)
            *stmt = r;
        else
            PQclear(r);
    }
    if (ok)
        ev_fail(err, errlen, "pipeline: no sync result");
    return false;
}

/* Leaves pipeline mode after read_pipeline; returns stmt when ok, else frees it and returns
 * NULL. */
static PGresult *leave_pipeline(PGconn *c, bool ok, PGresult *stmt, char *err, size_t errlen)
{
    if (!PQexitPipelineMode(c)) {
        /* results left unread: only a reset gives back a connection in a known state (the
         * transaction, if it began, is gone with it) */
        ev_warn("PostgreSQL pipeline left unfinished (%s); resetting the connection",
                PQerrorMessage(c));
        PQreset(c);
        if (ok)
            ev_fail(err, errlen, "pipeline left unfinished; connection reset");
        ok = false;
    }
    if (!ok) {
        PQclear(stmt);
        return NULL;
    }
    return stmt;
}

PGresult *ev_pg_begin_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                            char *err, size_t errlen)
{
    char name[24];
    const char *prepared = nparams > 0 ? prepared_already(c, sql, name) : NULL;
    if (!prepared || PQpipelineStatus(c) != PQ_PIPELINE_OFF || !PQenterPipelineMode(c)) {
        if (ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen) != 0)
            return NULL;
        return ev_pg_query(c, sql, nparams, params, err, errlen);
    }
    PGresult *stmt = NULL;
    bool ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
              PQsendQueryPrepared(c, prepared, nparams, params, NULL, NULL, 0) && PQpipelineSync(c);
    if (!ok)
        result_error(c, NULL, err, errlen);
    else
        ok = read_pipeline(c, 1, &stmt, err, errlen);
    return leave_pipeline(c, ok, stmt, err, errlen);
}

int ev_pg_exec_commit(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                      size_t errlen)
{
    char name[24];
    const char *prepared = nparams > 0 ? prepared_already(c, sql, name) : NULL;
    if (!prepared || PQpipelineStatus(c) != PQ_PIPELINE_OFF || !PQenterPipelineMode(c)) {
        if (ev_pg_exec(c, sql, nparams, params, err, errlen) != 0)
            return -1;
        return ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen);
    }
    PGresult *stmt = NULL;
    bool ok = PQsendQueryPrepared(c, prepared, nparams, params, NULL, NULL, 0) &&
              PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
    if (!ok)
        result_error(c, NULL, err, errlen);
    else
        ok = read_pipeline(c, 0, &stmt, err, errlen);
    stmt = leave_pipeline(c, ok, stmt, err, errlen);
    if (!stmt)
        return -1;
    PQclear(stmt);
    return 0;
}

PGresult *ev_pg_query_arrays(PGconn *c, const char *sql, const char *const *const *columns,
                             const size_t *rows, size_t column_count, const char *extra, char *err,
                             size_t errlen)
{
    if (column_count > EV_PG_ARRAY_COLUMNS_MAX) {
        ev_fail(err, errlen, "too many array parameters (%zu)", column_count);
        return NULL;
    }
    char *literal[EV_PG_ARRAY_COLUMNS_MAX] = {0};
    const char *params[EV_PG_ARRAY_COLUMNS_MAX + 1] = {0};
    size_t n = 0;
    while (n < column_count && (literal[n] = ev_pg_array_literal(columns[n], rows[n])))
        params[n] = literal[n], n++;
    PGresult *r = NULL;
    if (n < column_count) {
        ev_fail(err, errlen, "out of memory");
    } else {
        if (extra)
            params[n++] = extra;
        r = ev_pg_query(c, sql, (int)n, params, err, errlen);
    }
    for (size_t k = 0; k < column_count; k++)
        free(literal[k]);
    return r;
}

int ev_pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
               size_t errlen)
{
    PGresult *r = ev_pg_query(c, sql, nparams, params, err, errlen);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

long ev_pg_affected(PGresult *r)
{
    return strtol(PQcmdTuples(r), NULL, 10);
}

char *ev_pg_array_literal(const char *const *items, size_t n)
{
    size_t size = 3; /* braces and the terminating NUL */
    for (size_t i = 0; i < n; i++) {
        size += 5; /* quotes and a comma, or NULL and a comma */
        for (const char *p = items[i]; p && *p; p++)
            size += (*p == '"' || *p == '\\') ? 2 : 1;
    }
    char *out = malloc(size);
    if (!out)
        return NULL;
    char *w = out;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        if (!items[i]) {
            memcpy(w, "NULL", 4);
            w += 4;
            continue;
        }
        *w++ = '"';
        for (const char *p = items[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

bool ev_pg_broken(PGconn *c)
{
    return !c || PQstatus(c) != CONNECTION_OK;
}

/* --- migrations ------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Lists *.sql in dir, sorted. The caller frees with free_names(). */
static char **list_sql_files(const char *dir, size_t *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        ev_fail(err, errlen, "cannot open migrations directory %s", dir);
        return NULL;
    }
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    bool failed = names == NULL;
    struct dirent *ent;
    while (!failed && (ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len < 5 || strcmp(ent->d_name + len - 4, ".sql") != 0)
            continue;
        if (n == cap) {
            char **bigger = realloc(names, (cap *= 2) * sizeof *names);
            if (!bigger) {
                failed = true;
                break;
            }
            names = bigger;
        }
        if (!(names[n] = strdup(ent->d_name)))
            failed = true;
        else
            n++;
    }
    closedir(d);
    if (failed) {
        if (names)
            free_names(names, n);
        ev_fail(err, errlen, "out of memory");
        return NULL;
    }
    qsort(names, n, sizeof *names, by_name);
    *count = n;
    return names;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1))) {
            size_t got = fread(buf, 1, (size_t)size, f);
            buf[got] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int apply_sql(PGconn *c, const char *name, const char *sql, char *err, size_t errlen)
{
    const char *params[] = {name};
    int rc = -1;
    if (ev_pg_exec(c, "BEGIN", 0, NULL, err, errlen) == 0) {
        PGresult *r = PQexec(c, sql); /* a file may hold several statements */
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            ev_fail(err, errlen, "migration %s failed: %s", name, PQresultErrorMessage(r));
        else if (ev_pg_exec(c, "INSERT INTO schema_migrations(name) VALUES ($1)", 1, params, err,
                            errlen) == 0 &&
                 ev_pg_exec(c, "COMMIT", 0, NULL, err, errlen) == 0)
            rc = 0;
        PQclear(r);
        if (rc != 0)
            PQclear(PQexec(c, "ROLLBACK"));
    }
    return rc;
}

static int apply_file(PGconn *c, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *sql = read_file(path);
    if (!sql)
        return ev_fail(err, errlen, "cannot read %s", path);
    int rc = apply_sql(c, name, sql, err, errlen);
    free(sql);
    return rc;
}

static bool already_applied(PGconn *c, const char *name, int *failed, char *err, size_t errlen)
{
    const char *params[] = {name};
    PGresult *r =
        ev_pg_query(c, "SELECT 1 FROM schema_migrations WHERE name = $1", 1, params, err, errlen);
    if (!r) {
        *failed = 1;
        return false;
    }
    bool found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}

int ev_pg_migrate(PGconn *c, const ev_migration *builtins, size_t builtin_count, const char *dir,
                  char *err, size_t errlen)
{
    size_t count = 0;
    char **names = list_sql_files(dir, &count, err, errlen);
    if (!names)
        return -1;
    int applied = 0;
    if (ev_pg_exec(c, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, err, errlen) ||
        ev_pg_exec(c,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                   0, NULL, err, errlen)) {
        applied = -1;
    }
    for (size_t i = 0; i < builtin_count && applied >= 0; i++) {
        int failed = 0;
        if (already_applied(c, builtins[i].name, &failed, err, errlen))
            continue;
        if (failed || apply_sql(c, builtins[i].name, builtins[i].sql, err, errlen) != 0)
            applied = -1;
        else
            applied++;
    }
    for (size_t i = 0; i < count && applied >= 0; i++) {
        int failed = 0;
        if (already_applied(c, names[i], &failed, err, errlen))
            continue;
        if (failed || apply_file(c, dir, names[i], err, errlen) != 0) {
            applied = -1;
            break;
        }
        ev_info("applied migration %s", names[i]);
        applied++;
    }
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
    free_names(names, count);
    return applied;
}

/* --- pool ------------------------------------------------------------------------------ */

struct ev_pg_pool {
    char *conninfo;
    int size;
    int free_count;
    PGconn **free_conns; /* idle connections, NULL slots mean "not opened yet" */
    pthread_mutex_t lock;
    pthread_cond_t available;
};

ev_pg_pool *ev_pg_pool_new(const char *conninfo, int size)
{
    ev_pg_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->conninfo = strdup(conninfo);
    pool->free_conns = calloc((size_t)size, sizeof(PGconn *));
    if (!pool->conninfo || !pool->free_conns) {
        free(pool->conninfo);
        free(pool->free_conns);
        free(pool);
        return NULL;
    }
    pool->size = size;
    pool->free_count = size;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    return pool;
}

void ev_pg_pool_free(ev_pg_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->free_count; i++)
        PQfinish(pool->free_conns[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->available);
    free(pool->free_conns);
    free(pool->conninfo);
    free(pool);
}

PGconn *ev_pg_pool_acquire(ev_pg_pool *pool, char *err, size_t errlen)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->free_count == 0)
        pthread_cond_wait(&pool->available, &pool->lock);
    PGconn *c = pool->free_conns[--pool->free_count];
    pool->free_conns[pool->free_count] = NULL;
    pthread_mutex_unlock(&pool->lock);

    if (c && ev_pg_broken(c)) {
        PQfinish(c);
        c = NULL;
    }
    if (!c) {
        c = ev_pg_connect(pool->conninfo, err, errlen);
        if (!c) /* give the slot back so a later caller can retry */
            ev_pg_pool_release(pool, NULL);
    }
    return c;
}

void ev_pg_pool_release(ev_pg_pool *pool, PGconn *c)
{
    if (c && (ev_pg_broken(c) || PQtransactionStatus(c) != PQTRANS_IDLE)) {
        PQfinish(c);
        c = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    pool->free_conns[pool->free_count++] = c;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}
