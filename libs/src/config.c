/* Environment configuration with strict parsing; see ev/config.h. */
#include "ev/config.h"
#include "ev/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ev_getenv(const char *name)
{
    return getenv(name);
}

int ev_env_long(const char *(*getenv_fn)(const char *), const char *name, long def, long min,
                long max, long *out, char *err, size_t errlen)
{
    const char *text = getenv_fn(name);
    if (!text || !*text) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0')
        return ev_fail(err, errlen, "%s=%s is not an integer", name, text);
    if (value < min || value > max)
        return ev_fail(err, errlen, "%s=%ld is out of range [%ld, %ld]", name, value, min, max);
    *out = value;
    return 0;
}

int ev_env_str(const char *(*getenv_fn)(const char *), const char *name, const char *def, char *out,
               size_t outlen, char *err, size_t errlen)
{
    const char *text = getenv_fn(name);
    if (!text || !*text)
        text = def;
    if (!ev_strlcpy(out, text, outlen))
        return ev_fail(err, errlen, "%s is longer than %zu characters", name, outlen - 1);
    return 0;
}

/* libpq conninfo values are quoted so spaces or quotes in a password cannot inject keys. */
static int append_conninfo(char *buf, size_t n, const char *key, const char *value)
{
    size_t used = strlen(buf);
    int w = snprintf(buf + used, n - used, "%s%s='", used ? " " : "", key);
    if (w < 0 || (size_t)w >= n - used)
        return -1;
    used += (size_t)w;
    for (const char *p = value; *p; p++) {
        if (used + 3 >= n)
            return -1;
        if (*p == '\'' || *p == '\\')
            buf[used++] = '\\';
        buf[used++] = *p;
    }
    if (used + 2 > n)
        return -1;
    buf[used++] = '\'';
    buf[used] = '\0';
    return 0;
}

int ev_config_load(ev_config *cfg, const char *service, int default_port, const char *default_db,
                   const char *default_migrations_dir, const char *(*getenv_fn)(const char *),
                   char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (!ev_strlcpy(cfg->service, service, sizeof cfg->service))
        return ev_fail(err, errlen, "service name too long");

    long port = 0, pg_port = 0, pool = 0, attempts = 0, backoff = 0, batch_wait = 0;
    long max_connections = 0, threads = 0, read_timeout = 0, body_timeout = 0;
    char host[128], db[64], user[64], password[128], level[16];
    if (ev_env_long(getenv_fn, "EVENTIFY_HTTP_PORT", default_port, 1, 65535, &port, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_PG_PORT", 5432, 1, 65535, &pg_port, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_PG_POOL_SIZE", 8, 1, 256, &pool, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_MAX_ATTEMPTS", 4, 1, 100, &attempts, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_RETRY_BACKOFF_MS", 100, 1, 60000, &backoff, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_BATCH_WAIT_MS", EV_BATCH_WAIT_MS_DEFAULT, 0, 1000,
                    &batch_wait, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_HTTP_MAX_CONNECTIONS", 4096, 16, 60000, &max_connections,
                    err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_HTTP_THREADS", 4, 1, 64, &threads, err, errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_HTTP_READ_TIMEOUT_S", 10, 1, 3600, &read_timeout, err,
                    errlen) ||
        ev_env_long(getenv_fn, "EVENTIFY_HTTP_BODY_TIMEOUT_MS", 10000, 100, 3600000, &body_timeout,
                    err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_HTTP_BIND", "127.0.0.1", cfg->http_bind,
                   sizeof cfg->http_bind, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_KAFKA_BROKERS", "localhost:9092", cfg->kafka_brokers,
                   sizeof cfg->kafka_brokers, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_PG_HOST", "localhost", host, sizeof host, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_PG_DATABASE", default_db, db, sizeof db, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_PG_USER", db, user, sizeof user, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_PG_PASSWORD", user, password, sizeof password, err,
                   errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_LOG_LEVEL", "info", level, sizeof level, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_MIGRATIONS_DIR", default_migrations_dir,
                   cfg->migrations_dir, sizeof cfg->migrations_dir, err, errlen) ||
        ev_env_str(getenv_fn, "EVENTIFY_LOG_FILE", "", cfg->log_file, sizeof cfg->log_file, err,
                   errlen))
        return -1;

    if (ev_log_level_parse(level, &cfg->log_level) != 0)
        return ev_fail(err, errlen, "EVENTIFY_LOG_LEVEL=%s is not one of debug, info, warn, error",
                       level);

    char port_text[16];
    snprintf(port_text, sizeof port_text, "%ld", pg_port);
    if (append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "host", host) ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "port", port_text) ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "dbname", db) ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "user", user) ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "password", password) ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "connect_timeout", "5") ||
        append_conninfo(cfg->pg_conninfo, sizeof cfg->pg_conninfo, "application_name", service))
        return ev_fail(err, errlen, "PostgreSQL settings too long");

    cfg->http_port = (int)port;
    cfg->http_max_connections = (int)max_connections;
    cfg->http_threads = (int)threads;
    cfg->http_read_timeout_s = (int)read_timeout;
    cfg->http_body_timeout_ms = (int)body_timeout;
    cfg->pg_pool_size = (int)pool;
    cfg->max_attempts = (int)attempts;
    cfg->retry_backoff_ms = (int)backoff;
    cfg->batch_wait_ms = (int)batch_wait;
    return 0;
}
