/* Unit tests of the pure parts of the outbox relay and the consumer's retry policy: which
 * rows get deleted after a batch, how long the relay waits, and backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ev/outbox.h"
#include "ev/worker.h"

#include <string.h>

static void only_delivered_rows_are_marked(void **state)
{
    (void)state;
    int64_t ids[] = {7, 8, 9, 10};
    bool all[] = {true, true, true, true}, some[] = {true, false, true, false},
         none[] = {false, false, false, false};
    char out[64];
    assert_int_equal(ev_relay_ids_literal(ids, all, 4, out, sizeof out), 4);
    assert_string_equal(out, "{7,8,9,10}");
    assert_int_equal(ev_relay_ids_literal(ids, some, 4, out, sizeof out), 2);
    assert_string_equal(out, "{7,9}");
    assert_int_equal(ev_relay_ids_literal(ids, none, 4, out, sizeof out), 0);
    assert_string_equal(out, "{}");
}

static void literal_never_overflows(void **state)
{
    (void)state;
    int64_t ids[] = {INT64_MAX, INT64_MAX};
    bool all[] = {true, true};
    char small[10], fits[64];
    assert_int_equal(ev_relay_ids_literal(ids, all, 2, small, sizeof small), -1);
    assert_int_equal(ev_relay_ids_literal(ids, all, 2, fits, sizeof fits), 2);
    assert_string_equal(fits, "{9223372036854775807,9223372036854775807}");
    assert_int_equal(ev_relay_ids_literal(ids, all, 0, small, 2), -1);
}

static void relay_waits(void **state)
{
    (void)state;
    assert_int_equal(ev_relay_wait_ms(true, 0, 0, 1000), 0);     /* full window: more waiting */
    assert_int_equal(ev_relay_wait_ms(false, 0, 0, 1000), 1000); /* idle: wake-up or poll */
    assert_int_equal(ev_relay_wait_ms(false, 5, 1, 1000), 100);  /* Kafka failing: back off */
    assert_int_equal(ev_relay_wait_ms(true, 5, 2, 1000), 200);
    assert_int_equal(ev_relay_wait_ms(false, 5, 4, 1000), 800);
    assert_int_equal(ev_relay_wait_ms(false, 5, 50, 1000), 5000); /* capped */
    assert_int_equal(ev_relay_wait_ms(false, 0, 0, 20), 20);      /* a standby relay polls often */
}

static void relay_passes_coalesce(void **state)
{
    (void)state;
    assert_int_equal(ev_relay_gather_ms(0, 5), 5); /* right after a pass: hold back */
    assert_int_equal(ev_relay_gather_ms(3, 5), 2);
    assert_int_equal(ev_relay_gather_ms(5, 5), 0);    /* idle relay: no delay */
    assert_int_equal(ev_relay_gather_ms(1000, 5), 0); /* long since: no delay */
    assert_int_equal(ev_relay_gather_ms(-7, 5), 0);   /* clock went backwards */
}

static void consumer_backoff_doubles_and_caps(void **state)
{
    (void)state;
    assert_int_equal(ev_backoff_ms(1, 100, 5000), 100);
    assert_int_equal(ev_backoff_ms(2, 100, 5000), 200);
    assert_int_equal(ev_backoff_ms(3, 100, 5000), 400);
    assert_int_equal(ev_backoff_ms(7, 100, 5000), 5000);
    assert_int_equal(ev_backoff_ms(1000000, 100, 5000), 5000);
    assert_int_equal(ev_backoff_ms(3, 60000, 5000), 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_delivered_rows_are_marked),
        cmocka_unit_test(literal_never_overflows),
        cmocka_unit_test(relay_waits),
        cmocka_unit_test(relay_passes_coalesce),
        cmocka_unit_test(consumer_backoff_doubles_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
