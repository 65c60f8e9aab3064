/* ev_group_by_key: groups in ascending key order, case ignored, first index of each group;
 * ev_group_find: a key among sorted groups. */
#include "ev/group.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *key_at(const void *items, size_t i)
{
    return ((const char *const *)items)[i];
}

static void groups_follow_the_keys_and_keep_first_indexes(void **state)
{
    (void)state;
    const char *keys[] = {"b", "A", "a", "c", "B", "a"};
    size_t group_of[6], first_of[6];
    assert_int_equal(ev_group_by_key(keys, 6, key_at, group_of, first_of), 3);
    size_t want_group[] = {1, 0, 0, 2, 1, 0};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(group_of[i], want_group[i]);
    assert_int_equal(first_of[0], 1); /* "A" before "a": the smallest index of the key */
    assert_int_equal(first_of[1], 0);
    assert_int_equal(first_of[2], 3);
}

static void an_empty_batch_has_no_group(void **state)
{
    (void)state;
    size_t group_of[1], first_of[1];
    assert_int_equal(ev_group_by_key(NULL, 0, key_at, group_of, first_of), 0);
}

static void a_key_is_found_among_sorted_groups_whatever_its_case(void **state)
{
    (void)state;
    const char *groups[] = {"a", "B", "c", "d"};
    assert_int_equal(ev_group_find(groups, 4, key_at, "A"), 0);
    assert_int_equal(ev_group_find(groups, 4, key_at, "b"), 1);
    assert_int_equal(ev_group_find(groups, 4, key_at, "d"), 3);
    assert_int_equal(ev_group_find(groups, 4, key_at, "bb"), -1);
    assert_int_equal(ev_group_find(groups, 0, key_at, "a"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_follow_the_keys_and_keep_first_indexes),
        cmocka_unit_test(an_empty_batch_has_no_group),
        cmocka_unit_test(a_key_is_found_among_sorted_groups_whatever_its_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
