/* Unit tests of the all-or-nothing reservation arithmetic (reservation.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reservation.h"

#include <string.h>

static int set_from(const char *json, line_set *set)
{
    json_t *items = json_loads(json, 0, NULL);
    int rc = line_set_from_items(items, set);
    json_decref(items);
    return rc;
}

static void repeated_skus_are_summed_and_sorted(void **state)
{
    (void)state;
    line_set set;
    assert_int_equal(set_from("[{\"sku\":\"B\",\"quantity\":2},{\"sku\":\"A\",\"quantity\":1},"
                              "{\"sku\":\"B\",\"quantity\":3}]",
                              &set),
                     0);
    assert_int_equal(set.count, 2);
    assert_string_equal(set.lines[0].sku, "A");
    assert_int_equal(set.lines[0].quantity, 1);
    assert_string_equal(set.lines[1].sku, "B");
    assert_int_equal(set.lines[1].quantity, 5);
}

static void malformed_items_are_refused(void **state)
{
    (void)state;
    line_set set;
    assert_int_equal(set_from("{}", &set), -1);
    assert_int_equal(set_from("[{\"sku\":\"A\",\"quantity\":0}]", &set), -1);
    assert_int_equal(set_from("[{\"quantity\":1}]", &set), -1);
    assert_int_equal(
        set_from("[{\"sku\":\"A\",\"quantity\":999999},{\"sku\":\"A\",\"quantity\":2}]", &set), -1);
}

static void everything_fits(void **state)
{
    (void)state;
    line_set set;
    char reason[128] = "";
    assert_int_equal(
        set_from("[{\"sku\":\"A\",\"quantity\":2},{\"sku\":\"B\",\"quantity\":1}]", &set), 0);
    int available[] = {2, 10};
    assert_true(reservation_decide(&set, available, reason, sizeof reason));
    assert_string_equal(reason, "");
}

static void one_short_line_refuses_all(void **state)
{
    (void)state;
    line_set set;
    char reason[128];
    assert_int_equal(
        set_from("[{\"sku\":\"A\",\"quantity\":2},{\"sku\":\"B\",\"quantity\":3}]", &set), 0);
    int available[] = {5, 2};
    assert_false(reservation_decide(&set, available, reason, sizeof reason));
    assert_string_equal(reason, "insufficient stock for B: requested 3, available 2");
    int zero[] = {0, 5};
    assert_false(reservation_decide(&set, zero, reason, sizeof reason));
    assert_non_null(strstr(reason, "insufficient stock for A"));
}

static void unknown_sku_refuses(void **state)
{
    (void)state;
    line_set set;
    char reason[128];
    assert_int_equal(set_from("[{\"sku\":\"X\",\"quantity\":1}]", &set), 0);
    int available[] = {-1};
    assert_false(reservation_decide(&set, available, reason, sizeof reason));
    assert_string_equal(reason, "unknown SKU X");
}

static void json_round_trip(void **state)
{
    (void)state;
    line_set set, again;
    assert_int_equal(
        set_from("[{\"sku\":\"B\",\"quantity\":1},{\"sku\":\"A\",\"quantity\":4}]", &set), 0);
    json_t *j = line_set_json(&set);
    assert_int_equal(line_set_from_items(j, &again), 0);
    assert_memory_equal(&set, &again, sizeof set);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(repeated_skus_are_summed_and_sorted),
        cmocka_unit_test(malformed_items_are_refused),
        cmocka_unit_test(everything_fits),
        cmocka_unit_test(one_short_line_refuses_all),
        cmocka_unit_test(unknown_sku_refuses),
        cmocka_unit_test(json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
