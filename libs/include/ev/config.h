/* Configuration from the environment.
 *
 * Every setting has a documented default (docs/conventions.md); a value that is set but
 * malformed or out of range is an error with a message naming the variable, never silently
 * replaced. */
#ifndef EV_CONFIG_H
#define EV_CONFIG_H

#include "ev/log.h"

#include <stddef.h>

/* The default of EVENTIFY_BATCH_WAIT_MS: how long a consumer keeps taking messages after the
 * first one of a poll, so that several deliveries share one transaction at moderate rates
 * (docs/benchmarks.md weighs it). */
#define EV_BATCH_WAIT_MS_DEFAULT 5

typedef struct {
    char service[32];         /* e.g. "order"; names the consumer group and the DLQ */
    int http_port;            /* EVENTIFY_HTTP_PORT */
    char http_bind[64];       /* EVENTIFY_HTTP_BIND: numeric address to listen on (127.0.0.1) */
    int http_max_connections; /* EVENTIFY_HTTP_MAX_CONNECTIONS: open connections at most */
    int http_threads;         /* EVENTIFY_HTTP_THREADS: event-loop threads */
    int http_read_timeout_s;  /* EVENTIFY_HTTP_READ_TIMEOUT_S: silence that closes a connection */
    int http_body_timeout_ms; /* EVENTIFY_HTTP_BODY_TIMEOUT_MS: time for a whole request body */
    char kafka_brokers[256];  /* EVENTIFY_KAFKA_BROKERS */
    char pg_conninfo[512];    /* built from EVENTIFY_PG_* */
    int pg_pool_size;         /* EVENTIFY_PG_POOL_SIZE */
    ev_log_level log_level;   /* EVENTIFY_LOG_LEVEL */
    int max_attempts;         /* EVENTIFY_MAX_ATTEMPTS: tries of a transient failure */
    int retry_backoff_ms;     /* EVENTIFY_RETRY_BACKOFF_MS: first backoff, then doubled */
    int batch_wait_ms;        /* EVENTIFY_BATCH_WAIT_MS: a consumer batch's window; 0: none */
    char migrations_dir[512]; /* EVENTIFY_MIGRATIONS_DIR */
    char log_file[512];       /* EVENTIFY_LOG_FILE: append JSON lines here; empty: stderr */
} ev_config;

/* Fills cfg for a service from the environment. getenv_fn is getenv in production and a
 * fake in unit tests. Returns 0, or -1 with a message naming the bad variable in err. */
int ev_config_load(ev_config *cfg, const char *service, int default_port, const char *default_db,
                   const char *default_migrations_dir, const char *(*getenv_fn)(const char *),
                   char *err, size_t errlen);

/* Reads an integer variable in [min, max]; unset or empty gives def. Returns 0 or -1. */
int ev_env_long(const char *(*getenv_fn)(const char *), const char *name, long def, long min,
                long max, long *out, char *err, size_t errlen);

/* Reads a string variable; unset or empty gives def. Too long for out is an error. */
int ev_env_str(const char *(*getenv_fn)(const char *), const char *name, const char *def, char *out,
               size_t outlen, char *err, size_t errlen);

/* getenv with the signature the loaders take. */
const char *ev_getenv(const char *name);

#endif
