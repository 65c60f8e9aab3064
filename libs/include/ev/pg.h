/* PostgreSQL helpers: connecting, one-call statements with error text, transactions, a
 * small connection pool for HTTP handlers, and ordered SQL migrations. */
#ifndef EV_PG_H
#define EV_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Connects; NULL with err filled on failure. The caller owns the connection (PQfinish). */
PGconn *ev_pg_connect(const char *conninfo, char *err, size_t errlen);

/* Runs a statement with text parameters. Returns the result when its status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK (caller PQclear()s it); otherwise NULL, err filled. */
PGresult *ev_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                      size_t errlen);

/* BEGIN, then a statement as ev_pg_query runs it, sent together in one round trip (libpq
 * pipeline mode) once the statement is prepared on c (its first run, which prepares it, takes
 * two). The statement runs inside the new transaction either way. Returns its result (caller
 * PQclear()s it), or NULL with err: then the caller rolls back as after any failed statement
 * of a transaction (a connection the pipeline left unusable is reset first). */
PGresult *ev_pg_begin_query(PGconn *c, const char *sql, int nparams, const char *const *params,
                            char *err, size_t errlen);

/* A statement of the open transaction as ev_pg_exec runs it, then COMMIT, sent together in
 * one round trip (libpq pipeline mode) once the statement is prepared on c (its first run,
 * which prepares it, takes two). Returns 0 when both succeeded (committed), or -1 with err:
 * then the caller rolls back as after any failed statement (a connection the pipeline left
 * unusable is reset first, which ends the transaction). */
int ev_pg_exec_commit(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                      size_t errlen);

/* Like ev_pg_query for statements whose rows do not matter. Returns 0 or -1. */
int ev_pg_exec(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
               size_t errlen);

/* Rows a command affected (PQcmdTuples as a number; 0 when not a row count). */
long ev_pg_affected(PGresult *r);

/* The n strings as a PostgreSQL array literal, each element double-quoted with " and \
 * escaped, a NULL item as NULL: {"a","b\"c",NULL}; a parameter for ANY($1) or unnest($1) of any
 * element type. Returns a string the caller frees, or NULL when out of memory. Pure. */
char *ev_pg_array_literal(const char *const *items, size_t n);

/* Runs sql with the column_count arrays columns[c] (rows[c] strings each) as array-literal
 * parameters $1.., as ev_pg_array_literal writes them, then extra, when not NULL, as the next
 * one: a set-based statement over `unnest` or `= ANY`. At most EV_PG_ARRAY_COLUMNS_MAX arrays.
 * Returns the result (the caller PQclear()s it) or NULL with err. */
#define EV_PG_ARRAY_COLUMNS_MAX 16
PGresult *ev_pg_query_arrays(PGconn *c, const char *sql, const char *const *const *columns,
                             const size_t *rows, size_t column_count, const char *extra, char *err,
                             size_t errlen);

/* True when the connection is unusable and should be reset. */
bool ev_pg_broken(PGconn *c);

/* A migration compiled into the binary (the runtime's own tables). */
typedef struct {
    const char *name;
    const char *sql;
} ev_migration;

/* Applies the builtin migrations, then every *.sql file of dir, in name order, skipping
 * those recorded in schema_migrations; each in its own transaction, all under an advisory
 * lock so two starting instances never race. Returns the number applied, or -1 with err. */
int ev_pg_migrate(PGconn *c, const ev_migration *builtins, size_t builtin_count, const char *dir,
                  char *err, size_t errlen);

/* A fixed-size pool. Connections are opened lazily and reset when found broken. */
typedef struct ev_pg_pool ev_pg_pool;

ev_pg_pool *ev_pg_pool_new(const char *conninfo, int size);
void ev_pg_pool_free(ev_pg_pool *pool);

/* Blocks until a connection is free; NULL with err when connecting fails. */
PGconn *ev_pg_pool_acquire(ev_pg_pool *pool, char *err, size_t errlen);

/* Returns a connection; a broken one or one left inside a transaction is closed. */
void ev_pg_pool_release(ev_pg_pool *pool, PGconn *c);

#endif
