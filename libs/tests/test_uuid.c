/* ev_uuid_new: canonical version 7 UUIDs whose first 48 bits are the Unix milliseconds of
 * their making, so ids made later sort after ids made earlier. */
#include "ev/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The 48-bit millisecond prefix: the first 12 hexadecimal digits without the dash. */
static uint64_t prefix_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

static void an_id_is_a_canonical_version_7_uuid(void **state)
{
    (void)state;
    char id[EV_UUID_LEN];
    ev_uuid_new(id);
    assert_true(ev_uuid_valid(id));
    assert_int_equal(id[14], '7');
    assert_non_null(strchr("89ab", id[19])); /* the RFC 9562 variant */
    for (const char *p = id; *p; p++)
        assert_true(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
}

static void an_id_carries_the_time_it_was_made(void **state)
{
    (void)state;
    uint64_t before = now_ms();
    char id[EV_UUID_LEN];
    ev_uuid_new(id);
    uint64_t after = now_ms();
    assert_true(prefix_ms(id) >= before);
    assert_true(prefix_ms(id) <= after);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void ids_made_later_sort_after_and_never_repeat(void **state)
{
    (void)state;
    char first[EV_UUID_LEN], second[EV_UUID_LEN];
    ev_uuid_new(first);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 3 * 1000000};
    nanosleep(&pause, NULL); /* into a later millisecond: ids of one millisecond are unordered */
    ev_uuid_new(second);
    assert_true(strcmp(first, second) < 0);

    enum { N = 1000 };
    static char many[N][EV_UUID_LEN];
    for (int i = 0; i < N; i++)
        ev_uuid_new(many[i]);
    qsort(many, N, sizeof many[0], by_text);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(many[i - 1], many[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_id_is_a_canonical_version_7_uuid),
        cmocka_unit_test(an_id_carries_the_time_it_was_made),
        cmocka_unit_test(ids_made_later_sort_after_and_never_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
