/* Unit tests of ev_pg_array_literal, which carries a batch's columns to PostgreSQL as array
 * parameters (the worker's one-statement inbox claim): quoting, escaping, NULL elements, empty
 * arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/pg.h"

#include <stdlib.h>

static void check(const char *const *items, size_t n, const char *want)
{
    char *got = ev_pg_array_literal(items, n);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void elements_are_quoted(void **state)
{
    (void)state;
    const char *uuids[] = {"0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10", "1"};
    check(uuids, 2, "{\"0b7e5a9e-1f5e-4c55-9d9a-0f3c2a1b9e10\",\"1\"}");
}

static void quotes_and_backslashes_are_escaped(void **state)
{
    (void)state;
    const char *odd[] = {"a\"b", "c\\d", "{,}", ""};
    check(odd, 4, "{\"a\\\"b\",\"c\\\\d\",\"{,}\",\"\"}");
}

static void null_items_are_sql_nulls(void **state)
{
    (void)state;
    const char *some[] = {NULL, "x", NULL};
    check(some, 3, "{NULL,\"x\",NULL}");
}

static void no_items_is_an_empty_array(void **state)
{
    (void)state;
    check(NULL, 0, "{}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elements_are_quoted),
        cmocka_unit_test(quotes_and_backslashes_are_escaped),
        cmocka_unit_test(null_items_are_sql_nulls),
        cmocka_unit_test(no_items_is_an_empty_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
