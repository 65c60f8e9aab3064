/* Unit tests of the admission decision: when POST /orders refuses and what Retry-After says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admission.h"

static const admission_policy on = {.max_delay_ms = 15000, .stale_after_ms = 5000};

static admission_signal measured(int64_t at_ms, int64_t age_ms)
{
    return (admission_signal){.measured = true, .measured_at_ms = at_ms, .backlog_age_ms = age_ms};
}

static void admits_while_the_backlog_is_young(void **state)
{
    (void)state;
    admission_signal s = measured(1000, 0);
    assert_true(admission_decide(&on, &s, 1500).admit);
    s.backlog_age_ms = 15000; /* at the threshold: still admitted */
    assert_true(admission_decide(&on, &s, 1500).admit);
}

static void refuses_past_the_threshold_with_the_excess_as_retry_after(void **state)
{
    (void)state;
    admission_signal s = measured(1000, 15001);
    admission_verdict v = admission_decide(&on, &s, 1200);
    assert_false(v.admit);
    assert_int_equal(v.retry_after_s, 1); /* 1 ms over: at least a second */
    s.backlog_age_ms = 19000;
    v = admission_decide(&on, &s, 1200);
    assert_false(v.admit);
    assert_int_equal(v.retry_after_s, 4);
    s.backlog_age_ms = 19001; /* rounded up, never down */
    assert_int_equal(admission_decide(&on, &s, 1200).retry_after_s, 5);
}

static void retry_after_is_capped(void **state)
{
    (void)state;
    admission_signal s = measured(1000, 600000); /* consumers stopped for ten minutes */
    admission_verdict v = admission_decide(&on, &s, 1000);
    assert_false(v.admit);
    assert_int_equal(v.retry_after_s, ADMISSION_RETRY_AFTER_MAX_S);
}

static void disabled_policy_always_admits(void **state)
{
    (void)state;
    admission_policy off = {.max_delay_ms = 0, .stale_after_ms = 5000};
    admission_signal s = measured(1000, 600000);
    assert_true(admission_decide(&off, &s, 1000).admit);
}

static void no_or_stale_measurement_admits(void **state)
{
    (void)state;
    admission_signal none = {.measured = false, .backlog_age_ms = 600000};
    assert_true(admission_decide(&on, &none, 1000).admit);
    admission_signal old = measured(1000, 600000);
    assert_false(admission_decide(&on, &old, 6000).admit); /* exactly stale_after: still fresh */
    assert_true(admission_decide(&on, &old, 6001).admit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admits_while_the_backlog_is_young),
        cmocka_unit_test(refuses_past_the_threshold_with_the_excess_as_retry_after),
        cmocka_unit_test(retry_after_is_capped),
        cmocka_unit_test(disabled_policy_always_admits),
        cmocka_unit_test(no_or_stale_measurement_admits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
