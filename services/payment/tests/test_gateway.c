/* Unit tests of the simulated payment gateway's decision (gateway.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway.h"

#include <string.h>

static gateway_result decide(const char *json, int64_t limit, char *reason)
{
    json_t *p = json_loads(json, 0, NULL);
    assert_non_null(p);
    gateway_result r = gateway_decide(p, limit, reason, 256);
    json_decref(p);
    return r;
}

static void approves_up_to_the_limit(void **state)
{
    (void)state;
    char reason[256];
    assert_int_equal(decide("{\"totalCents\":100000}", 100000, reason), GATEWAY_APPROVED);
    assert_int_equal(decide("{\"totalCents\":1999}", 100000, reason), GATEWAY_APPROVED);
}

static void declines_above_the_limit(void **state)
{
    (void)state;
    char reason[256];
    assert_int_equal(decide("{\"totalCents\":119940}", 100000, reason), GATEWAY_DECLINED);
    assert_string_equal(reason, "payment declined: total 1199.40 exceeds the limit 1000.00");
    assert_int_equal(decide("{\"totalCents\":100001}", 100000, reason), GATEWAY_DECLINED);
}

static void forced_failure_declines(void **state)
{
    (void)state;
    char reason[256];
    assert_int_equal(decide("{\"totalCents\":1,\"forcePaymentFailed\":true}", 100000, reason),
                     GATEWAY_DECLINED);
    assert_non_null(strstr(reason, "forced"));
    assert_int_equal(decide("{\"totalCents\":1,\"forcePaymentFailed\":false}", 100000, reason),
                     GATEWAY_APPROVED);
}

static void forced_exception_is_transient(void **state)
{
    (void)state;
    char reason[256];
    assert_int_equal(
        decide("{\"totalCents\":1,\"forceException\":true,\"forcePaymentFailed\":true}", 100000,
               reason),
        GATEWAY_TRANSIENT);
    assert_string_equal(reason, "simulated gateway exception");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approves_up_to_the_limit),
        cmocka_unit_test(declines_above_the_limit),
        cmocka_unit_test(forced_failure_declines),
        cmocka_unit_test(forced_exception_is_transient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
