/* Unit tests of the consumer's batch window arithmetic (ev_batch_wait_ms, ev/worker.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/worker.h"

static void waits_for_what_is_left_of_the_window(void **state)
{
    (void)state;
    assert_int_equal(ev_batch_wait_ms(1000, 1000, 5, 1, 128), 5);
    assert_int_equal(ev_batch_wait_ms(1000, 1003, 5, 2, 128), 2);
    assert_int_equal(ev_batch_wait_ms(1000, 1004, 5, 7, 128), 1);
}

static void over_when_the_window_has_passed(void **state)
{
    (void)state;
    assert_int_equal(ev_batch_wait_ms(1000, 1005, 5, 1, 128), 0);
    assert_int_equal(ev_batch_wait_ms(1000, 9000, 5, 1, 128), 0);
}

static void no_window_takes_only_what_is_fetched(void **state)
{
    (void)state;
    assert_int_equal(ev_batch_wait_ms(1000, 1000, 0, 1, 128), 0);
    assert_int_equal(ev_batch_wait_ms(1000, 1000, -3, 1, 128), 0);
}

static void a_full_batch_waits_no_more(void **state)
{
    (void)state;
    assert_int_equal(ev_batch_wait_ms(1000, 1000, 5, 128, 128), 0);
    assert_int_equal(ev_batch_wait_ms(1000, 1000, 5, 129, 128), 0);
    assert_int_equal(ev_batch_wait_ms(1000, 1000, 5, 127, 128), 5);
}

static void never_longer_than_the_window(void **state)
{
    (void)state;
    /* a clock read before the first message (cannot happen with a monotonic clock, but the
     * wait must stay bounded): the whole window, never more */
    assert_int_equal(ev_batch_wait_ms(1000, 900, 5, 1, 128), 5);
    /* large monotonic values do not overflow the arithmetic */
    assert_int_equal(ev_batch_wait_ms(INT64_MAX - 10, INT64_MAX - 8, 5, 1, 128), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(waits_for_what_is_left_of_the_window),
        cmocka_unit_test(over_when_the_window_has_passed),
        cmocka_unit_test(no_window_takes_only_what_is_fetched),
        cmocka_unit_test(a_full_batch_waits_no_more),
        cmocka_unit_test(never_longer_than_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
