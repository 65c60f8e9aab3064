/* Unit tests of configuration from the environment (a fake getenv, no process state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/config.h"

#include <string.h>

static const char *const *fake_env; /* NULL-terminated name, value pairs */

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

static int load(const char *const *env, ev_config *cfg, char *err)
{
    fake_env = env;
    return ev_config_load(cfg, "order", 8081, "orders", "/m", fake_getenv, err, 256);
}

static void defaults_follow_the_spec(void **state)
{
    (void)state;
    ev_config cfg;
    char err[256];
    const char *const env[] = {NULL};
    assert_int_equal(load(env, &cfg, err), 0);
    assert_int_equal(cfg.http_port, 8081);
    assert_string_equal(cfg.http_bind, "127.0.0.1"); /* loopback unless configured */
    assert_int_equal(cfg.http_max_connections, 4096);
    assert_int_equal(cfg.http_threads, 4);
    assert_int_equal(cfg.http_read_timeout_s, 10);
    assert_int_equal(cfg.http_body_timeout_ms, 10000);
    assert_string_equal(cfg.kafka_brokers, "localhost:9092");
    assert_int_equal(cfg.pg_pool_size, 8);
    assert_int_equal(cfg.max_attempts, 4);
    assert_int_equal(cfg.retry_backoff_ms, 100);
    assert_int_equal(cfg.batch_wait_ms, EV_BATCH_WAIT_MS_DEFAULT);
    assert_int_equal(cfg.log_level, EV_LOG_INFO);
    assert_string_equal(cfg.migrations_dir, "/m");
    assert_non_null(strstr(cfg.pg_conninfo, "host='localhost'"));
    assert_non_null(strstr(cfg.pg_conninfo, "port='5432'"));
    assert_non_null(strstr(cfg.pg_conninfo, "dbname='orders'"));
    assert_non_null(strstr(cfg.pg_conninfo, "user='orders'"));
    assert_non_null(strstr(cfg.pg_conninfo, "password='orders'"));
}

static void overrides_apply_and_empty_means_default(void **state)
{
    (void)state;
    ev_config cfg;
    char err[256];
    const char *const env[] = {"EVENTIFY_HTTP_PORT",
                               "9000",
                               "EVENTIFY_KAFKA_BROKERS",
                               "k:1",
                               "EVENTIFY_LOG_LEVEL",
                               "debug",
                               "EVENTIFY_MAX_ATTEMPTS",
                               "",
                               "EVENTIFY_PG_USER",
                               "u",
                               NULL};
    assert_int_equal(load(env, &cfg, err), 0);
    assert_int_equal(cfg.http_port, 9000);
    assert_string_equal(cfg.kafka_brokers, "k:1");
    assert_int_equal(cfg.log_level, EV_LOG_DEBUG);
    assert_int_equal(cfg.max_attempts, 4);
    assert_non_null(strstr(cfg.pg_conninfo, "user='u' password='u'"));
}

static void expect_error(const char *name, const char *value)
{
    ev_config cfg;
    char err[256] = "";
    const char *const env[] = {name, value, NULL};
    assert_int_equal(load(env, &cfg, err), -1);
    if (!strstr(err, name))
        fail_msg("error \"%s\" does not name %s", err, name);
}

static void bad_values_are_errors_naming_the_variable(void **state)
{
    (void)state;
    expect_error("EVENTIFY_HTTP_PORT", "abc");
    expect_error("EVENTIFY_HTTP_PORT", "0");
    expect_error("EVENTIFY_HTTP_PORT", "70000");
    expect_error("EVENTIFY_HTTP_PORT", "80x");
    expect_error("EVENTIFY_MAX_ATTEMPTS", "-1");
    expect_error("EVENTIFY_PG_POOL_SIZE", "1000");
    expect_error("EVENTIFY_RETRY_BACKOFF_MS", "99999999999999999999");
    expect_error("EVENTIFY_LOG_LEVEL", "loud");
    expect_error("EVENTIFY_BATCH_WAIT_MS", "-1");
    expect_error("EVENTIFY_BATCH_WAIT_MS", "1001");
    expect_error("EVENTIFY_HTTP_MAX_CONNECTIONS", "0");
    expect_error("EVENTIFY_HTTP_THREADS", "1000");
    expect_error("EVENTIFY_HTTP_READ_TIMEOUT_S", "0");
    expect_error("EVENTIFY_HTTP_BODY_TIMEOUT_MS", "ten");
    expect_error("EVENTIFY_HTTP_BIND",
                 "0000000000000000000000000000000000000000000000000000000000000000");
}

static void password_cannot_inject_connection_keys(void **state)
{
    (void)state;
    ev_config cfg;
    char err[256];
    const char *const env[] = {"EVENTIFY_PG_PASSWORD", "x' host='evil", NULL};
    assert_int_equal(load(env, &cfg, err), 0);
    assert_non_null(strstr(cfg.pg_conninfo, "password='x\\' host=\\'evil'"));
    assert_non_null(strstr(cfg.pg_conninfo, "host='localhost'"));
}

static void env_long_checks_range(void **state)
{
    (void)state;
    long v = 0;
    char err[256];
    const char *const env[] = {"N", "42", NULL};
    fake_env = env;
    assert_int_equal(ev_env_long(fake_getenv, "N", 7, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ev_env_long(fake_getenv, "MISSING", 7, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ev_env_long(fake_getenv, "N", 7, 0, 10, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_the_spec),
        cmocka_unit_test(overrides_apply_and_empty_means_default),
        cmocka_unit_test(bad_values_are_errors_naming_the_variable),
        cmocka_unit_test(password_cannot_inject_connection_keys),
        cmocka_unit_test(env_long_checks_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
