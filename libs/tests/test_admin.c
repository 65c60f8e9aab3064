/* Unit tests of the admin token: loading from the environment and the comparison. */
#include "ev/admin.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const char *env_token;
static const char *env_file;

static const char *fake_getenv(const char *name)
{
    if (strcmp(name, "EVENTIFY_ADMIN_TOKEN") == 0)
        return env_token;
    if (strcmp(name, "EVENTIFY_ADMIN_TOKEN_FILE") == 0)
        return env_file;
    return NULL;
}

static void no_token_refuses_everything(void **state)
{
    (void)state;
    ev_admin a;
    char err[256];
    env_token = env_file = NULL;
    assert_int_equal(ev_admin_load(&a, fake_getenv, err, sizeof err), 0);
    assert_false(ev_admin_token_matches(&a, "Bearer "));
    assert_false(ev_admin_token_matches(&a, NULL));
}

static void token_from_environment_matches_exactly(void **state)
{
    (void)state;
    ev_admin a;
    char err[256];
    env_file = NULL;
    env_token = "s3cret";
    assert_int_equal(ev_admin_load(&a, fake_getenv, err, sizeof err), 0);
    assert_true(ev_admin_token_matches(&a, "Bearer s3cret"));
    assert_true(ev_admin_token_matches(&a, "bearer s3cret"));
    assert_false(ev_admin_token_matches(&a, "Bearer s3cre"));
    assert_false(ev_admin_token_matches(&a, "Bearer s3crett"));
    assert_false(ev_admin_token_matches(&a, "Basic s3cret"));
    assert_false(ev_admin_token_matches(&a, "s3cret"));
    assert_false(ev_admin_token_matches(&a, NULL));
}

static void token_file_is_read_and_trimmed(void **state)
{
    (void)state;
    char path[] = "/tmp/ev-admin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc123\n", 7), 7);
    close(fd);
    ev_admin a;
    char err[256];
    env_token = "ignored-when-a-file-is-named";
    env_file = path;
    assert_int_equal(ev_admin_load(&a, fake_getenv, err, sizeof err), 0);
    assert_true(ev_admin_token_matches(&a, "Bearer abc123"));
    unlink(path);
    assert_int_equal(ev_admin_load(&a, fake_getenv, err, sizeof err), -1);
    assert_non_null(strstr(err, "EVENTIFY_ADMIN_TOKEN_FILE"));
}

static void overlong_token_is_an_error(void **state)
{
    (void)state;
    char big[EV_ADMIN_TOKEN_MAX + 8];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ev_admin a;
    char err[256];
    env_file = NULL;
    env_token = big;
    assert_int_equal(ev_admin_load(&a, fake_getenv, err, sizeof err), -1);
    assert_false(ev_admin_token_matches(&a, "Bearer "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_token_refuses_everything),
        cmocka_unit_test(token_from_environment_matches_exactly),
        cmocka_unit_test(token_file_is_read_and_trimmed),
        cmocka_unit_test(overlong_token_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
