/* Unit tests of ev_http_query_long: what a query parameter must look like to be a number. */
#include "ev/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Parses ?n=<text> (text NULL: no parameter) within [1, 100], default 20. */
static int parse(const char *text, long *out)
{
    struct _u_request req;
    assert_int_equal(ulfius_init_request(&req), U_OK);
    if (text)
        u_map_put(req.map_url, "n", text);
    int rc = ev_http_query_long(&req, "n", 20, 1, 100, out);
    ulfius_clean_request(&req);
    return rc;
}

static void absent_gives_the_default(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(parse(NULL, &v), 0);
    assert_int_equal(v, 20);
}

static void digits_within_bounds_are_taken(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(parse("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(parse("100", &v), 0);
    assert_int_equal(v, 100);
}

/* An empty value is not "absent": a client that sends ?n= sent something malformed. */
static void anything_else_is_malformed(void **state)
{
    (void)state;
    long v = 0;
    const char *bad[] = {
        "", " 5", "+5", "5 ", "0x10", "five", "-", "0", "101", "-3", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(absent_gives_the_default),
        cmocka_unit_test(digits_within_bounds_are_taken),
        cmocka_unit_test(anything_else_is_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
